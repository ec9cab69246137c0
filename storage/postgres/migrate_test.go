package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey/latchkey/storage/postgres"
	"github.com/latchkey/latchkey/storage/postgres/pgtest"
)

// appliedVersions lists schema_migrations' versions in order.
func appliedVersions(t *testing.T, dsn string) []int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	return versions
}

// execSQL runs statements on dsn outside any store.
func execSQL(t *testing.T, dsn string, sql ...string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range sql {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func wantVersions(t *testing.T, dsn string) {
	t.Helper()
	got := appliedVersions(t, dsn)
	if len(got) != postgres.SchemaVersion() {
		t.Fatalf("applied versions %v, want 1..%d", got, postgres.SchemaVersion())
	}
	for i, v := range got {
		if v != i+1 {
			t.Fatalf("applied versions %v, want 1..%d", got, postgres.SchemaVersion())
		}
	}
}

// Migrate brings a fresh database to SchemaVersion, running again changes
// nothing, and a store opens on the result without migrating again.
func TestMigrateIdempotent(t *testing.T) {
	dsn := pgtest.Shared(t).NewDatabase(t)
	ctx := context.Background()
	if postgres.SchemaVersion() < 1 {
		t.Fatalf("SchemaVersion() = %d, want at least 1", postgres.SchemaVersion())
	}
	for i := range 3 {
		if err := postgres.Migrate(ctx, dsn); err != nil {
			t.Fatalf("Migrate #%d: %v", i+1, err)
		}
	}
	wantVersions(t, dsn)
	s := openStore(t, dsn)
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping after Migrate: %v", err)
	}
	s.Close()
	wantVersions(t, dsn)
}

// Replicas starting together on a fresh database migrate it once: the
// advisory lock makes the others wait and then find it current.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	dsn := pgtest.Shared(t).NewDatabase(t)
	const replicas = 8
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	for i := range replicas {
		wg.Go(func() {
			s, err := postgres.Open(context.Background(), postgres.Options{DSN: dsn, MaxConns: 2, Logger: quietLog})
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open #%d: %v", i, err)
		}
	}
	wantVersions(t, dsn)
}

// A database migrated part way (a run interrupted after version 1) is
// completed by the next Open.
func TestMigrateResumes(t *testing.T) {
	if postgres.SchemaVersion() < 2 {
		t.Skip("needs two migrations")
	}
	dsn := pgtest.Shared(t).NewDatabase(t)
	if err := postgres.Migrate(context.Background(), dsn); err != nil {
		t.Fatal(err)
	}
	// Undo migration 2 by hand: what an older binary would have left.
	execSQL(t, dsn, "DROP TABLE rate_limit_windows", "DROP TABLE rate_limit_slots",
		"DELETE FROM schema_migrations WHERE version >= 2")
	s := openStore(t, dsn)
	defer s.Close()
	wantVersions(t, dsn)
	if _, _, err := s.CountEvent(context.Background(), "k", time.Minute, time.Now()); err != nil {
		t.Errorf("CountEvent after the resumed migration: %v", err)
	}
}

// A database migrated by a newer Latchkey is refused by Open and Migrate,
// with a message that says what to do, and left as it is.
func TestNewerSchemaRefused(t *testing.T) {
	dsn := pgtest.Shared(t).NewDatabase(t)
	ctx := context.Background()
	if err := postgres.Migrate(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	newer := postgres.SchemaVersion() + 1
	execSQL(t, dsn, fmt.Sprintf("INSERT INTO schema_migrations (version, name) VALUES (%d, 'from_the_future')", newer))
	want := fmt.Sprintf("database schema version %d is newer than this binary (%d); upgrade Latchkey", newer, postgres.SchemaVersion())

	s, err := postgres.Open(ctx, postgres.Options{DSN: dsn, Logger: quietLog})
	if s != nil {
		s.Close()
	}
	if !errors.Is(err, postgres.ErrSchemaTooNew) || !strings.Contains(fmt.Sprint(err), want) {
		t.Errorf("Open of a newer schema: got %v, want ErrSchemaTooNew saying %q", err, want)
	}
	err = postgres.Migrate(ctx, dsn)
	if !errors.Is(err, postgres.ErrSchemaTooNew) || !strings.Contains(fmt.Sprint(err), want) {
		t.Errorf("Migrate of a newer schema: got %v, want ErrSchemaTooNew saying %q", err, want)
	}
	if got := appliedVersions(t, dsn); got[len(got)-1] != newer {
		t.Errorf("versions after the refusals = %v, want the newer one kept", got)
	}
}
