package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// migrationFiles are the schema migrations, named NNNN_description.sql and
// numbered from 1 without gaps. A released migration is never edited: a
// change to the schema is a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLockKey is the pg_advisory_lock key that serialises migrations of
// replicas starting at once ("latchkey" in ASCII).
const migrationLockKey int64 = 0x6c617463686b6579

// ErrSchemaTooNew is returned (wrapped) by Open and Migrate when the database
// was migrated by a newer Latchkey than this binary.
var ErrSchemaTooNew = errors.New("database schema is newer than this binary")

// migration is one embedded schema step.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations are the embedded steps in version order.
var migrations = mustLoadMigrations(migrationFiles)

// mustLoadMigrations reads and checks the embedded migrations; a badly named
// or numbered file is a build mistake, caught by any test.
func mustLoadMigrations(fsys fs.FS) []migration {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		panic(err)
	}
	slices.Sort(names)
	var out []migration
	for i, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || len(num) != 4 || err != nil || v != i+1 {
			panic(fmt.Sprintf("postgres: migration %s: want the name %04d_<description>.sql", name, i+1))
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			panic(err)
		}
		out = append(out, migration{version: v, name: strings.TrimSuffix(base, ".sql"), sql: string(b)})
	}
	return out
}

// SchemaVersion returns the newest schema version this binary knows.
func SchemaVersion() int { return len(migrations) }

// Migrate connects to the database at dsn and applies the schema migrations
// it lacks, as Open does (for `latchkey migrate`). It is idempotent and safe
// to run from several processes at once. It refuses (ErrSchemaTooNew) a
// database whose schema is newer than this binary, and reports an
// unreachable database as storage.ErrUnavailable.
func Migrate(ctx context.Context, dsn string) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("migrate: parse dsn: %w", err)
	}
	if cfg.ConnectTimeout == 0 { // the DSN set no connect_timeout
		cfg.ConnectTimeout = defaultConnectTimeout
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("migrate: %w", classify(ctx, err))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := migrate(ctx, conn, slog.Default()); err != nil {
		return fmt.Errorf("migrate: %w", classify(ctx, err))
	}
	return nil
}

// migrate brings the schema on conn up to SchemaVersion. A database that is
// already current costs one query and takes no lock; otherwise the work runs
// under a session advisory lock (released at the end, or by the server if
// the connection dies), re-reading the version once the lock is held since
// another replica may have migrated meanwhile. Each migration commits with
// its version row, so an interrupted run resumes where it stopped.
func migrate(ctx context.Context, conn *pgx.Conn, log *slog.Logger) error {
	v, err := schemaVersion(ctx, conn)
	if err != nil {
		return err
	}
	if err := checkNotNewer(v); err != nil || v == SchemaVersion() {
		return err
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
		return fmt.Errorf("take migration lock: %w", err)
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLockKey)
	}()
	_, err = conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`)
	if err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	if v, err = schemaVersion(ctx, conn); err != nil {
		return err
	}
	if err := checkNotNewer(v); err != nil {
		return err
	}
	for _, m := range migrations[v:] {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name)
			return err
		})
		if err != nil {
			return fmt.Errorf("apply migration %s: %w", m.name, err)
		}
		log.Info("postgres store: applied schema migration", "version", m.version, "name", m.name)
	}
	return nil
}

// schemaVersion returns the highest applied migration, 0 for a database
// never migrated.
func schemaVersion(ctx context.Context, conn *pgx.Conn) (int, error) {
	// Two statements: a query naming a missing table fails at parse time,
	// whatever guards it.
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass('schema_migrations') IS NOT NULL").Scan(&exists); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// checkNotNewer refuses a schema this binary does not know.
func checkNotNewer(v int) error {
	if v > SchemaVersion() {
		return fmt.Errorf("%w: database schema version %d is newer than this binary (%d); upgrade Latchkey",
			ErrSchemaTooNew, v, SchemaVersion())
	}
	return nil
}
