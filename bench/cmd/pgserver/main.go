// Command pgserver runs a throwaway, durable PostgreSQL server for the
// benchmark's STORAGE=postgres round: it prints the DSN of a fresh database
// on stdout, then serves until SIGTERM or SIGINT and removes everything.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/latchkey/latchkey/storage/postgres/pgtest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "pgserver:", err)
		os.Exit(1)
	}
}

func run() error {
	// Durable: fsync and synchronous commit on, as in production, so that
	// the comparison with bbolt (which fsyncs every commit) is fair.
	c, err := pgtest.New(pgtest.Options{Durable: true})
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	dsn, err := c.CreateDatabase(ctx, "bench")
	if err != nil {
		return err
	}
	fmt.Println(dsn)
	<-ctx.Done()
	return nil
}
