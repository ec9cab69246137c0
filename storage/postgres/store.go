package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/latchkey/latchkey/storage"
)

var _ storage.Store = (*Store)(nil)

// Defaults for Options and the connection.
const (
	// defaultConnectTimeout bounds a connection attempt when the DSN sets no
	// connect_timeout: while the database is unreachable, calls must fail
	// with ErrUnavailable rather than hang (SPEC §8).
	defaultConnectTimeout = 5 * time.Second
	// healthCheckPeriod is how often the pool checks its idle connections,
	// so that those broken by a database restart are replaced before a
	// request picks them up.
	healthCheckPeriod = 5 * time.Second
	// defaultTimeout bounds a call whose context has no deadline: below the
	// 10 s in which /health/ready must answer while the database is gone.
	defaultTimeout = 5 * time.Second
	// cancelGrace is how long a cancelled call waits for the server to
	// acknowledge the cancel request before dropping the connection.
	cancelGrace = 500 * time.Millisecond
	// rollbackTimeout bounds the rollback after a failed transaction.
	rollbackTimeout = 5 * time.Second
	// maxAttempts bounds the runs of a transaction that keeps failing with a
	// serialization failure or deadlock.
	maxAttempts = 8
)

// errInvalidID is returned for writes whose identifiers are empty or contain
// a NUL byte or invalid UTF-8, which PostgreSQL text cannot hold.
var errInvalidID = errors.New("identifier is empty, contains a NUL byte or is not valid UTF-8")

// errInvalidValue is returned when the server refuses a text value (NUL byte
// or invalid UTF-8) of a field that is not an identifier.
var errInvalidValue = errors.New("value contains a NUL byte or is not valid UTF-8")

// errRetry asks run or withTx to run fn again: a concurrent change made
// its reading of the state stale (a row it expected was deleted, a refusal
// it was explaining no longer holds).
var errRetry = errors.New("concurrent change, retry")

// Options configure Open.
type Options struct {
	// DSN is the connection string (postgres://user:pass@host:5432/db?... or
	// key=value form). A connect_timeout in it overrides the default of 5s.
	DSN string
	// MaxConns caps the pool's connections; 0 keeps the DSN's pool_max_conns
	// or pgx's default (the larger of 4 and the number of CPUs).
	MaxConns int
	// Now is the clock for expiry checks that take no caller-supplied time
	// (GetAuthRequest, UpdateAuthRequest), for methods given a zero time and
	// for generated outbox IDs; nil means time.Now. The database's clock is
	// never used, so that replicas and tests agree with their own clocks.
	Now func() time.Time
	// Timeout bounds each call whose context has no deadline of its own
	// (all the statements and retries of one method call); a database that
	// stops answering then fails the call with ErrUnavailable instead of
	// hanging it. 0 means 5s; negative means no bound.
	Timeout time.Duration
	// Logger receives migrations and retried transactions; nil means
	// slog.Default().
	Logger *slog.Logger
}

// Store is the PostgreSQL implementation of storage.Store. It is safe for
// concurrent use, and any number of Stores (in any number of processes) may
// share one database.
type Store struct {
	pool    *pgxpool.Pool
	now     func() time.Time
	log     *slog.Logger
	timeout time.Duration
	closed  atomic.Bool
	// outboxIDs generates the IDs of entries enqueued without one.
	outboxIDs storage.OutboxIDs
}

// Open connects to the database, applies missing schema migrations (see
// Migrate) and returns the store. It fails with ErrUnavailable (wrapped) when
// the database cannot be reached, and refuses a database whose schema is
// newer than this binary.
func Open(ctx context.Context, opts Options) (*Store, error) {
	cfg, err := poolConfig(opts)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	err = pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error { return migrate(ctx, c.Conn(), log) })
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres store: %w", classify(ctx, err))
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = defaultTimeout
	}
	return &Store{pool: pool, now: now, log: log, timeout: timeout}, nil
}

// poolConfig parses the DSN and applies the options and defaults.
func poolConfig(opts Options) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(opts.DSN)
	if err != nil {
		return nil, fmt.Errorf("parse dsn: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = int32(min(opts.MaxConns, math.MaxInt32))
	}
	if cfg.ConnConfig.ConnectTimeout == 0 { // the DSN set no connect_timeout
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	cfg.HealthCheckPeriod = healthCheckPeriod
	// On cancellation ask the server to stop the statement (releasing its
	// locks at once) rather than only drop the socket, which the server
	// notices only when it next talks to the client. The socket deadline
	// ends the call anyway if the server does not answer the cancel soon
	// (it is unreachable or hung); that connection is then discarded.
	cfg.ConnConfig.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: cancelGrace}
	}
	return cfg, nil
}

// Close closes the pool after the connections in use are released. Later
// calls fail with storage.ErrUnavailable; closing twice is a no-op.
func (s *Store) Close() error {
	if s.closed.CompareAndSwap(false, true) {
		s.pool.Close()
	}
	return nil
}

// Ping runs an empty statement on a pooled connection; ErrUnavailable if the
// database cannot be reached or the store is closed.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.check(ctx); err != nil {
		return fmt.Errorf("ping postgres store: %w", err)
	}
	cctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.pool.Ping(cctx); err != nil {
		return fmt.Errorf("ping postgres store: %w", s.classify(ctx, cctx, err))
	}
	return nil
}

// check refuses calls on a closed store or with a done context before any
// connection is taken.
func (s *Store) check(ctx context.Context) error {
	if s.closed.Load() {
		return fmt.Errorf("%w: store closed", storage.ErrUnavailable)
	}
	return ctx.Err()
}

// querier is what both the pool and a transaction offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// run runs fn on the pool (each statement in its own implicit transaction)
// and classifies its error. fn runs again, as withTx runs a transaction
// again, when it failed without an effect: nothing could be sent (a broken
// idle connection), or its statement was rolled back as a deadlock victim
// or a serialization failure. fn's statements must allow that: reads, and
// one write as the last statement or writes that are idempotent. fn gets the
// call's context, bounded by Options.Timeout.
func (s *Store) run(ctx context.Context, fn func(ctx context.Context, q querier) error) error {
	return s.retry(ctx, func(ctx context.Context) error { return fn(ctx, s.pool) })
}

// withTx runs fn in a READ COMMITTED transaction and commits it, running it
// again after a serialization failure, a deadlock, an errRetry or a failure
// to send anything. fn's error (as fnError) rolls back and is returned as
// is, for the method to unwrap; fn may be called more than once. fn gets the
// call's context, bounded by Options.Timeout.
func (s *Store) withTx(ctx context.Context, fn func(ctx context.Context, tx pgx.Tx) error) error {
	return s.retry(ctx, func(ctx context.Context) error { return s.txOnce(ctx, fn) })
}

// retry runs attempt up to maxAttempts times while it fails with a
// retryable error, then classifies the outcome.
func (s *Store) retry(ctx context.Context, attempt func(ctx context.Context) error) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	cctx, cancel := s.bound(ctx)
	defer cancel()
	var err error
	for n := 1; ; n++ {
		err = attempt(cctx)
		if err == nil || !retryable(err) || cctx.Err() != nil || s.closed.Load() {
			break
		}
		if n == maxAttempts {
			// Persistent contention: the caller may try again later.
			err = fmt.Errorf("%w: gave up after %d attempts: %w", storage.ErrUnavailable, maxAttempts, err)
			break
		}
		s.log.Debug("postgres store: retrying", "attempt", n, "err", err)
		// A little jitter keeps the contenders of a deadlock from meeting again.
		backoff := time.Duration(n) * time.Duration(1+rand.IntN(5)) * time.Millisecond
		select {
		case <-cctx.Done():
		case <-time.After(backoff):
		}
	}
	var fe fnError
	if errors.As(err, &fe) {
		return fe
	}
	return s.classify(ctx, cctx, err)
}

// bound gives a call whose context has no deadline the store's timeout, so
// that a database that stops answering (a network partition rather than a
// refused connection) fails the call instead of hanging it.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok || s.timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.timeout)
}

// classify is the package's classify for a call made with ctx and run with
// cctx (ctx bounded by the store's timeout), plus: running out of the
// store's own timeout, or failing while the store was being closed (the pool
// reports its closing in errors of its own), is ErrUnavailable.
func (s *Store) classify(ctx, cctx context.Context, err error) error {
	if err == nil || isRefusal(err) || ctx.Err() != nil {
		return classify(ctx, err)
	}
	if cctx.Err() != nil {
		return fmt.Errorf("%w: no answer from the database within %v: %w", storage.ErrUnavailable, s.timeout, err)
	}
	if s.closed.Load() {
		return fmt.Errorf("%w: store closed: %w", storage.ErrUnavailable, err)
	}
	return classify(ctx, err)
}

// fnError marks the error of a caller's function (an updater, InTx's fn) on
// its way out of withTx, which returns it unclassified so that the method
// can return it unchanged, as the contract asks.
type fnError struct{ err error }

// Error is the caller's error's message.
func (e fnError) Error() string { return e.err.Error() }

// txOnce runs fn in one transaction. A Rollback error is ignored: after a
// lost connection the server has rolled back on its own. The rollback gets
// a context of its own, since fn may have failed because ctx ended.
func (s *Store) txOnce(ctx context.Context, fn func(ctx context.Context, tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	if err := fn(ctx, tx); err != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
		_ = tx.Rollback(rctx)
		cancel()
		return err
	}
	return tx.Commit(ctx)
}

// retryable reports whether a failed transaction may simply be run again.
func retryable(err error) bool {
	if errors.Is(err, errRetry) || pgconn.SafeToRetry(err) {
		return true
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// classify maps a driver error to the contract's errors: the context's error
// once it is done, ErrUnavailable for lost or refused connections, a closed
// pool and server shutdown, errInvalidValue for text the server cannot
// store. Sentinels and callers' errors pass through unchanged.
func classify(ctx context.Context, err error) error {
	if err == nil || isRefusal(err) {
		return err
	}
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code != "57014" { // 57014: our cancel request
			return err
		}
		return ctxErr
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "22021" || pe.Code == "22P05":
			return fmt.Errorf("%w: %w", errInvalidValue, err)
		case unavailableState(pe.Code):
			return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
		}
		return err
	}
	return classifyUnavailable(ctx, err)
}

// classifyUnavailable reports a failure to reach or talk to the server as
// ErrUnavailable; other errors (decoding bugs, callers' errors) pass through.
func classifyUnavailable(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	var (
		connectErr *pgconn.ConnectError
		netErr     net.Error
		pe         *pgconn.PgError
	)
	switch {
	case errors.As(err, &pe) && !unavailableState(pe.Code):
		return err
	case errors.As(err, &connectErr), errors.As(err, &netErr), errors.As(err, &pe),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, pgconn.ErrConnClosed),
		pgconn.SafeToRetry(err), pgconn.Timeout(err):
		return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
	}
	return err
}

// unavailableState reports SQLSTATEs that mean the server cannot serve us
// now: connection exceptions (08), insufficient resources (53: out of
// connections, disk full), shutdown and restart (57P01-57P04), system errors
// (58: I/O).
func unavailableState(code string) bool {
	return strings.HasPrefix(code, "08") || strings.HasPrefix(code, "53") ||
		strings.HasPrefix(code, "58") || (strings.HasPrefix(code, "57P") && code != "57P05")
}

// isRefusal reports whether err is one of the contract's sentinels or an
// invalid identifier: outcomes decided by this package, not failures.
func isRefusal(err error) bool {
	return errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrAlreadyExists) ||
		errors.Is(err, storage.ErrExpired) || errors.Is(err, storage.ErrConsumed) ||
		errors.Is(err, errInvalidID) || errors.Is(err, errInvalidValue)
}

// uniqueViolation returns the constraint name when err is a unique violation.
func uniqueViolation(err error) (constraint string, ok bool) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return pe.ConstraintName, true
	}
	return "", false
}

// validIDs reports whether every identifier is non-empty and storable.
func validIDs(ids ...string) bool {
	for _, id := range ids {
		if id == "" || !storable(id) {
			return false
		}
	}
	return true
}

// storable reports whether every string can be stored in a text column (no
// NUL, valid UTF-8); empty strings are storable. Lookups of unstorable keys
// match nothing without asking the server.
func storable(ss ...string) bool {
	for _, s := range ss {
		if strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) {
			return false
		}
	}
	return true
}

// fold is the case-insensitive form under which emails and usernames are
// indexed: the same as bboltstore's, so both backends agree on collisions.
func fold(s string) string { return strings.ToLower(s) }

// expired reports whether a lifetime ending at end is over at now. A zero end
// counts as expired so that a record created without a lifetime fails closed.
func expired(end, now time.Time) bool { return !now.Before(end) }

// orNow returns t, or the store's clock when the caller passed a zero time.
func (s *Store) orNow(t time.Time) time.Time {
	if t.IsZero() {
		return s.now()
	}
	return t
}

// ts is the stored form of a time: NULL for zero, else UTC truncated to the
// microsecond timestamptz holds (truncated, not rounded by the server, so a
// stored lifetime never ends later than the caller's).
func ts(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC().Truncate(time.Microsecond)
	return &u
}

// fromTS reads a stored time back: zero for NULL, else UTC.
func fromTS(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
