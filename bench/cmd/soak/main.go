// Command soak runs Latchkey's load soak: it builds and starts the real
// binary on loopback (plain http, limits off), drives it with concurrent
// clients mixing /user/login, client_credentials, magic-link issuance (into an
// in-process SMTP sink) and userinfo, and checks that no request got a 5xx,
// that RSS stayed flat after the warm-up and that no goroutine leaked. It
// prints a summary and exits 1 when a check failed (2 when the soak could
// not run). The harness and the checks are bench/crashtest's Soak, which
// its TestSoakShort also runs.
//
//	go run ./bench/cmd/soak [-duration 60s] [-clients 64] [-warmup 10s] [-binary path]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/latchkey/latchkey/bench/crashtest"
)

func main() {
	var o crashtest.SoakOptions
	flag.DurationVar(&o.Duration, "duration", 60*time.Second, "how long the load runs")
	flag.IntVar(&o.Clients, "clients", 64, "concurrent clients")
	flag.DurationVar(&o.Warmup, "warmup", 10*time.Second, "when the first RSS sample is taken")
	flag.DurationVar(&o.Settle, "settle", 3*time.Second, "pause before counting goroutines")
	flag.StringVar(&o.Binary, "binary", "", "a built latchkey binary (default: build ./cmd/latchkey)")
	flag.Parse()
	o.Logf = func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "soak: "+format+"\n", args...)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := crashtest.Soak(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	_, _ = rep.WriteTo(os.Stdout)
	if len(rep.Violations) > 0 {
		os.Exit(1)
	}
}
