package postgres_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/postgres"
	"github.com/latchkey/latchkey/storage/postgres/pgtest"
)

// dbName returns the database a DSN names.
func dbName(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

func testUser(id string) storage.User {
	now := time.Now().UTC().Truncate(time.Microsecond)
	return storage.User{Realm: "a", ID: id, Email: id + "@example.com", Username: id, Enabled: true,
		Roles: []string{"user"}, CreatedAt: now, UpdatedAt: now}
}

// holdRowLock locks the user's row from a connection of its own until the
// returned release is called, so that a store's update of it blocks at the
// server.
func holdRowLock(t *testing.T, dsn, realm, id string) (release func()) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT 1 FROM users WHERE realm = $1 AND id = $2 FOR UPDATE", realm, id); err != nil {
		t.Fatal(err)
	}
	return func() {
		_ = tx.Rollback(ctx)
		_ = conn.Close(ctx)
	}
}

// A call blocked at the server (on a row lock) returns promptly with the
// context's error when the context ends, writes nothing, and leaves the
// store usable; so does a call whose context ends while its updater runs.
func TestContextCancellation(t *testing.T) {
	dsn := pgtest.Shared(t).NewDatabase(t)
	s := openStore(t, dsn)
	defer s.Close()
	ctx := context.Background()
	u := testUser("u1")
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	rename := func(u storage.User) (storage.User, error) {
		u.Username = "renamed"
		return u, nil
	}

	t.Run("blocked at the server", func(t *testing.T) {
		release := holdRowLock(t, dsn, "a", "u1")
		defer release()
		cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := s.UpdateUser(cctx, "a", "u1", rename)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("UpdateUser blocked on a lock past its deadline: got %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("UpdateUser returned %v after its 200ms deadline", d)
		}
		release()
		// The cancel request stopped the statement at the server: nothing
		// stays queued behind the lock to apply the change later.
		time.Sleep(100 * time.Millisecond)
		got, err := s.GetUser(ctx, "a", "u1")
		if err != nil || got.Username != "u1" {
			t.Errorf("user after the cancelled update = %+v, %v; want unchanged", got, err)
		}
	})

	t.Run("during the updater", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		_, err := s.UpdateUser(cctx, "a", "u1", func(u storage.User) (storage.User, error) {
			cancel()
			return rename(u)
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("UpdateUser cancelled in its updater: got %v, want context.Canceled", err)
		}
		got, err := s.GetUser(ctx, "a", "u1")
		if err != nil || got.Username != "u1" {
			t.Errorf("user after the cancelled update = %+v, %v; want unchanged", got, err)
		}
	})

	t.Run("in InTx", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		err := s.InTx(cctx, func(tx storage.Tx) error {
			if err := tx.CreateUser(testUser("u2")); err != nil {
				return err
			}
			cancel()
			return tx.CreateUser(testUser("u3"))
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("InTx cancelled half way: got %v, want context.Canceled", err)
		}
		if n, err := s.CountUsers(ctx, "a"); err != nil || n != 1 {
			t.Errorf("users after the cancelled transaction = %d, %v; want 1", n, err)
		}
	})

	t.Run("already done", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.GetUser(cctx, "a", "u1"); !errors.Is(err, context.Canceled) {
			t.Errorf("GetUser with a cancelled context: got %v, want context.Canceled", err)
		}
	})

	if _, err := s.UpdateUser(ctx, "a", "u1", rename); err != nil {
		t.Errorf("UpdateUser after the cancellations: %v", err)
	}
}

// A connection killed in the middle of a transaction (here: while the
// updater runs) rolls back; the call reports ErrUnavailable and the next call
// works on another connection.
func TestConnectionKilledMidTransaction(t *testing.T) {
	c := pgtest.Shared(t)
	dsn := c.NewDatabase(t)
	s := openStore(t, dsn)
	defer s.Close()
	ctx := context.Background()
	if err := s.CreateUser(ctx, testUser("u1")); err != nil {
		t.Fatal(err)
	}
	_, err := s.UpdateUser(ctx, "a", "u1", func(u storage.User) (storage.User, error) {
		// The transaction holds the row lock and waits for us: kill it.
		err := c.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = $1 AND state = 'idle in transaction'`, dbName(t, dsn))
		if err != nil {
			t.Errorf("terminate backend: %v", err)
		}
		u.Username = "renamed"
		return u, nil
	})
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("UpdateUser on a killed connection: got %v, want ErrUnavailable", err)
	}
	t.Logf("UpdateUser on a killed connection: %v", err)
	got, err := s.GetUser(ctx, "a", "u1")
	if err != nil || got.Username != "u1" {
		t.Errorf("user after the killed transaction = %+v, %v; want unchanged", got, err)
	}
	if _, err := s.UpdateUser(ctx, "a", "u1", func(u storage.User) (storage.User, error) {
		u.Username = "renamed"
		return u, nil
	}); err != nil {
		t.Errorf("UpdateUser after the kill: %v", err)
	}
}

// While the database is down every call fails fast with ErrUnavailable; once
// it is back the same store serves again, without being reopened.
func TestDatabaseOutage(t *testing.T) {
	c := pgtest.Start(t) // private: this test stops it
	dsn := c.NewDatabase(t)
	s := openStore(t, dsn)
	defer s.Close()
	ctx := context.Background()
	if err := s.CreateUser(ctx, testUser("u1")); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}

	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Ping", s.Ping},
		{"GetUser", func(ctx context.Context) error { _, err := s.GetUser(ctx, "a", "u1"); return err }},
		{"CreateUser", func(ctx context.Context) error { return s.CreateUser(ctx, testUser("u2")) }},
		{"UpdateLoginFailures", func(ctx context.Context) error {
			_, err := s.UpdateLoginFailures(ctx, "a", "u1", func(f storage.LoginFailures) (storage.LoginFailures, error) {
				f.NumFailures++
				return f, nil
			})
			return err
		}},
		{"ConsumeOneTimeToken", func(ctx context.Context) error {
			_, err := s.ConsumeOneTimeToken(ctx, "a", "code", "h", time.Now())
			return err
		}},
		{"InTx", func(ctx context.Context) error {
			return s.InTx(ctx, func(tx storage.Tx) error { return tx.CreateUser(testUser("u3")) })
		}},
		{"Sweep", func(ctx context.Context) error { _, err := s.Sweep(ctx, time.Now()); return err }},
	}
	for _, tt := range calls {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		start := time.Now()
		err := tt.call(cctx)
		cancel()
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("%s while the database is down: got %v, want ErrUnavailable", tt.name, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s while the database is down took %v, want a quick failure", tt.name, d)
		}
		t.Logf("%s while down, after %v: %v", tt.name, time.Since(start).Round(time.Millisecond), err)
	}

	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var err error
	for time.Since(start) < 20*time.Second {
		if _, err = s.GetUser(ctx, "a", "u1"); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("GetUser 20s after the database returned: %v", err)
	}
	t.Logf("serving again %v after the database returned", time.Since(start))
	for _, tt := range calls {
		if tt.name == "Ping" || tt.name == "GetUser" {
			continue
		}
		if err := tt.call(ctx); err != nil && !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("%s after the database returned: %v", tt.name, err)
		}
	}
	if n, err := s.CountUsers(ctx, "a"); err != nil || n != 3 {
		t.Errorf("users after the outage = %d, %v; want 3 (none written while down)", n, err)
	}
}

// Open and Migrate report an unreachable database as ErrUnavailable, within
// the connect timeout.
func TestOpenUnreachable(t *testing.T) {
	c := pgtest.Start(t)
	dsn := c.DSN("postgres")
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if s, err := postgres.Open(ctx, postgres.Options{DSN: dsn}); !errors.Is(err, storage.ErrUnavailable) {
		if s != nil {
			s.Close()
		}
		t.Errorf("Open of a stopped database: got %v, want ErrUnavailable", err)
	}
	if err := postgres.Migrate(ctx, dsn); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Migrate of a stopped database: got %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("failing Open and Migrate took %v", d)
	}
}

// A database that stops answering (frozen: connections open, nothing
// replies, as behind a network partition) fails calls with ErrUnavailable
// within the store's timeout, or with the caller's deadline error when the
// caller set one; once it answers again the store serves again.
func TestDatabaseUnresponsive(t *testing.T) {
	c := pgtest.Start(t)
	dsn := c.NewDatabase(t)
	ctx := context.Background()
	s, err := postgres.Open(ctx, postgres.Options{DSN: dsn, Timeout: 500 * time.Millisecond, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateUser(ctx, testUser("u1")); err != nil {
		t.Fatal(err)
	}
	if err := c.Freeze(); err != nil {
		t.Fatal(err)
	}
	thawed := false
	defer func() {
		if !thawed {
			_ = c.Thaw()
		}
	}()

	start := time.Now()
	_, err = s.GetUser(ctx, "a", "u1")
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("GetUser of a frozen database: got %v, want ErrUnavailable", err)
	}
	t.Logf("GetUser of a frozen database, after %v: %v", time.Since(start).Round(time.Millisecond), err)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("GetUser of a frozen database took %v with a 500ms store timeout", d)
	}

	start = time.Now()
	err = s.Ping(ctx)
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Ping of a frozen database: got %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Ping of a frozen database took %v", d)
	}

	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	start = time.Now()
	err = s.CreateUser(cctx, testUser("u2"))
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("CreateUser with a caller deadline on a frozen database: got %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("CreateUser with a 200ms deadline took %v", d)
	}

	if err := c.Thaw(); err != nil {
		t.Fatal(err)
	}
	thawed = true
	start = time.Now()
	for time.Since(start) < 20*time.Second {
		if _, err = s.GetUser(ctx, "a", "u1"); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("GetUser 20s after the database answers again: %v", err)
	}
	if n, err := s.CountUsers(ctx, "a"); err != nil || n != 1 {
		t.Errorf("users after the freeze = %d, %v; want 1 (the timed-out create wrote nothing)", n, err)
	}
}
