package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/postgres/pgtest"
)

// Serialization failures and deadlocks run the transaction again, a bounded
// number of times; running out of attempts is ErrUnavailable.
func TestWithTxRetries(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Options{DSN: pgtest.Shared(t).NewDatabase(t), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	for _, code := range []string{"40001", "40P01"} {
		calls := 0
		err := s.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
			if calls++; calls < 3 {
				return &pgconn.PgError{Code: code}
			}
			_, err := tx.Exec(ctx, "SELECT 1")
			return err
		})
		if err != nil || calls != 3 {
			t.Errorf("transaction failing twice with %s: err %v after %d calls; want success on the 3rd", code, err, calls)
		}
	}

	calls := 0
	err = s.withTx(ctx, func(context.Context, pgx.Tx) error {
		calls++
		return &pgconn.PgError{Code: "40001"}
	})
	var pe *pgconn.PgError
	if !errors.Is(err, storage.ErrUnavailable) || !errors.As(err, &pe) || calls != maxAttempts {
		t.Errorf("transaction always failing: err %v after %d calls; want ErrUnavailable wrapping the failure after %d", err, calls, maxAttempts)
	}

	// A caller's error is never retried nor classified, whatever it wraps.
	calls = 0
	errCaller := fmt.Errorf("caller: %w", io.EOF)
	err = s.withTx(ctx, func(context.Context, pgx.Tx) error {
		calls++
		return fnError{errCaller}
	})
	var fe fnError
	if !errors.As(err, &fe) || fe.err != errCaller || calls != 1 {
		t.Errorf("caller's error: got %v after %d calls, want it unchanged after 1", err, calls)
	}
}

func TestClassify(t *testing.T) {
	ctx := context.Background()
	done, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want error // nil: passed through unchanged
	}{
		{"admin shutdown", ctx, &pgconn.PgError{Code: "57P01"}, storage.ErrUnavailable},
		{"starting up", ctx, &pgconn.PgError{Code: "57P03"}, storage.ErrUnavailable},
		{"too many connections", ctx, &pgconn.PgError{Code: "53300"}, storage.ErrUnavailable},
		{"connection failure", ctx, &pgconn.PgError{Code: "08006"}, storage.ErrUnavailable},
		{"disk full", ctx, &pgconn.PgError{Code: "53100"}, storage.ErrUnavailable},
		{"I/O error", ctx, &pgconn.PgError{Code: "58030"}, storage.ErrUnavailable},
		{"NUL in text", ctx, &pgconn.PgError{Code: "22021"}, errInvalidValue},
		{"unexpected EOF", ctx, fmt.Errorf("receive: %w", io.ErrUnexpectedEOF), storage.ErrUnavailable},
		{"conn closed", ctx, fmt.Errorf("x: %w", pgconn.ErrConnClosed), storage.ErrUnavailable},
		{"net error", ctx, &net.OpError{Op: "dial", Err: errors.New("refused")}, storage.ErrUnavailable},
		{"cancelled", done, &pgconn.PgError{Code: "57014"}, context.Canceled},
		{"cancelled mid-read", done, fmt.Errorf("x: %w", io.ErrUnexpectedEOF), context.Canceled},
		{"syntax error", ctx, &pgconn.PgError{Code: "42601"}, nil},
		{"unique violation", ctx, &pgconn.PgError{Code: "23505"}, nil},
		{"not found", done, storage.ErrNotFound, nil},
		{"decoding bug", ctx, errors.New("cannot scan"), nil},
	}
	for _, tt := range tests {
		got := classify(tt.ctx, tt.err)
		if tt.want == nil {
			if got != tt.err {
				t.Errorf("%s: classify = %v, want the error unchanged", tt.name, got)
			}
			continue
		}
		if !errors.Is(got, tt.want) {
			t.Errorf("%s: classify = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// Misnamed or misnumbered migration files are a build mistake caught here.
func TestMigrationNaming(t *testing.T) {
	if len(migrations) != SchemaVersion() || migrations[0].version != 1 {
		t.Fatalf("embedded migrations %v", migrations)
	}
	bad := []fstest.MapFS{
		{"migrations/0001_a.sql": {}, "migrations/0003_c.sql": {}},
		{"migrations/1_a.sql": {}},
		{"migrations/0001_a.sql": {}, "migrations/x.sql": {}},
	}
	for _, fsys := range bad {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("mustLoadMigrations(%v) did not panic", names(fsys))
				}
			}()
			mustLoadMigrations(fsys)
		}()
	}
}

func names(fsys fs.FS) []string {
	n, _ := fs.Glob(fsys, "migrations/*")
	return n
}
