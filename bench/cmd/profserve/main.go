// Command profserve runs the Latchkey server the way `latchkey serve
// --config` does for a plain-http config (server.tls.mode: off), and also
// serves net/http/pprof on a second loopback listener, so that
// `PROFILE=1 bench/run.sh` can take a CPU profile of each scenario under load
// (bench/README.md). The measured runs without PROFILE use the real binary;
// this one exists only so that the shipped binary carries no profiling
// endpoint.
//
// Usage:
//
//	profserve -config bench/bench.yaml -pprof 127.0.0.1:18081
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/server"
	"github.com/latchkey/latchkey/storage/bboltstore"
)

func main() {
	cfgPath := flag.String("config", "", "config file (server.tls.mode must be off)")
	pprofAddr := flag.String("pprof", "127.0.0.1:18081", "listen address of the pprof endpoints")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *cfgPath, *pprofAddr); err != nil {
		log.Fatalf("profserve: %v", err)
	}
}

func run(ctx context.Context, cfgPath, pprofAddr string) error {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	if cfg.Server.TLS.Mode != config.TLSOff {
		return fmt.Errorf("server.tls.mode is %q; profserve serves plain http only", cfg.Server.TLS.Mode)
	}
	logger := newLogger(cfg.Log, slog.LevelDebug)
	slog.SetDefault(newLogger(cfg.Log, slog.LevelWarn)) // library logs, as `latchkey serve` does

	store, err := bboltstore.Open(cfg.Storage.Path, bboltstore.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	srv, err := server.New(ctx, cfg, store, server.Options{Logger: logger})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("server.listen: %w", err)
	}
	pl, err := net.Listen("tcp", pprofAddr)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("pprof listen: %w", err)
	}
	ps := &http.Server{Handler: pprofMux(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = ps.Serve(pl) }()
	defer ps.Close()

	workers, cancel := context.WithCancel(context.Background())
	srv.Start(workers)
	logger.Info("profserve started", "listen", ln.Addr().String(), "pprof", pl.Addr().String())
	err = srv.Serve(ctx, ln, nil, 5*time.Second)
	cancel()
	srv.Wait()
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// pprofMux serves the standard /debug/pprof/ endpoints.
func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// newLogger logs to stderr at the config's level, but not below floor.
func newLogger(c config.Log, floor slog.Level) *slog.Logger {
	level := slog.LevelInfo
	switch strings.ToLower(c.Level) {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: max(level, floor)}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
