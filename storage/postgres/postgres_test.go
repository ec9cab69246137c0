package postgres_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/postgres"
	"github.com/latchkey/latchkey/storage/postgres/pgtest"
	"github.com/latchkey/latchkey/storage/storagetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// quietLog keeps the migrations' info lines out of the test output.
var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// openStore opens a store on dsn, failing t on error. The caller closes it
// (the conformance suite does so itself).
func openStore(t testing.TB, dsn string) *postgres.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := postgres.Open(ctx, postgres.Options{DSN: dsn, MaxConns: 8, Logger: quietLog})
	if err != nil {
		t.Fatalf("Open(%s): %v", dsn, err)
	}
	return s
}

// TestConformance runs the storage contract against a real server: each
// subtest gets a fresh database; reopening closes the pool and opens a new
// one on the same database.
func TestConformance(t *testing.T) {
	pgtest.Shared(t) // skip (or fail under CI) once, not in every subtest
	dsns := map[storage.Store]string{}
	storagetest.RunTests(t,
		func(t *testing.T) storage.Store {
			dsn := pgtest.Shared(t).NewDatabase(t)
			s := openStore(t, dsn)
			dsns[s] = dsn
			return s
		},
		func(t *testing.T, s storage.Store) storage.Store {
			dsn := dsns[s]
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			reopened := openStore(t, dsn)
			dsns[reopened] = dsn
			return reopened
		})
}
