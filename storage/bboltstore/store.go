package bboltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/latchkey/latchkey/storage"
)

var _ storage.Store = (*Store)(nil)

// Bucket names. See doc.go for what each holds.
var (
	bucketMeta           = []byte("meta")
	bucketUsers          = []byte("users")
	bucketUsersByEmail   = []byte("users_by_email")
	bucketUsersByName    = []byte("users_by_username")
	bucketSigningKeys    = []byte("signing_keys")
	bucketSecrets        = []byte("realm_secrets")
	bucketSessions       = []byte("sessions")
	bucketSessionsByHash = []byte("sessions_by_token")
	bucketSessionsByUser = []byte("sessions_by_user")
	bucketAuthRequests   = []byte("auth_requests")
	bucketOTT            = []byte("one_time_tokens")
	bucketOTTByGroup     = []byte("one_time_tokens_by_group")
	bucketOTTBySubject   = []byte("one_time_tokens_by_subject")
	bucketRefresh        = []byte("refresh_tokens")
	bucketRefreshByID    = []byte("refresh_tokens_by_id")
	bucketRefreshByUser  = []byte("refresh_tokens_by_user")
	bucketRefreshBySess  = []byte("refresh_tokens_by_session")
	bucketRevocations    = []byte("revocations")
	bucketLoginFailures  = []byte("login_failures")
	bucketOutbox         = []byte("outbox")

	allBuckets = [][]byte{
		bucketMeta, bucketUsers, bucketUsersByEmail, bucketUsersByName,
		bucketSigningKeys, bucketSecrets, bucketSessions, bucketSessionsByHash,
		bucketSessionsByUser, bucketAuthRequests, bucketOTT, bucketOTTByGroup,
		bucketOTTBySubject, bucketRefresh, bucketRefreshByID, bucketRefreshByUser,
		bucketRefreshBySess, bucketRevocations, bucketLoginFailures, bucketOutbox,
		bucketLimits,
	}
)

// schemaKey in the meta bucket holds the layout version of the whole file.
var schemaKey = []byte("schema")

// schemaVersion is bumped when the bucket layout or key format changes
// incompatibly; Open refuses files of another version.
const schemaVersion byte = 1

// Defaults for Options.
const (
	defaultTimeout       = time.Second
	defaultMaxBatchDelay = time.Millisecond
)

// errInvalidID is returned for writes whose identifiers are empty or contain
// the NUL byte that the key encoding reserves as a separator.
var errInvalidID = errors.New("identifier is empty or contains a NUL byte")

// Options configure Open. The zero value is ready for production use.
type Options struct {
	// Timeout bounds the wait for the file lock when another process holds
	// the database open; 0 means one second.
	Timeout time.Duration
	// NoSync skips fsync on commit. For benchmarks and throwaway tests only:
	// a crash can lose acknowledged writes or corrupt the file.
	NoSync bool
	// Now is the clock for expiry checks that take no caller-supplied time
	// (GetAuthRequest, UpdateAuthRequest), for methods given a zero time and
	// for generated outbox IDs; nil means time.Now.
	Now func() time.Time
	// MaxBatchDelay is how long a write on a hot path (token issue and
	// consume, refresh rotation, login failures, outbox, InTx) that arrives
	// while another is in flight waits for more company before the shared
	// transaction commits; 0 means 1ms. (bbolt's own default, 10ms, mostly
	// adds idle time: with a few dozen concurrent requests the batch is
	// complete long before.) A lone write never waits.
	MaxBatchDelay time.Duration
}

// Store is the bbolt implementation of storage.Store. It is safe for
// concurrent use. Only one Store (in one process) can hold a file open: a
// second Open of the same path waits Options.Timeout for the lock.
type Store struct {
	db   *bolt.DB
	path string
	now  func() time.Time
	// batchWriters counts the calls inside batch, to spot a lone writer.
	batchWriters atomic.Int32
	// outboxIDs generates the IDs of entries enqueued without one.
	outboxIDs storage.OutboxIDs
}

// Open opens (creating if needed) the database at path, creating its parent
// directory with mode 0700 and the file with mode 0600. It fails with a
// bolt.ErrTimeout-wrapping error when another process holds the file longer
// than opts.Timeout, and refuses files written with another schema version.
func Open(path string, opts Options) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open bbolt store: create directory: %w", err)
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      timeout,
		NoSync:       opts.NoSync,
		FreelistType: bolt.FreelistMapType,
	})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("open bbolt store %s: locked by another process: %w", path, err)
		}
		return nil, fmt.Errorf("open bbolt store %s: %w", path, err)
	}
	db.MaxBatchDelay = defaultMaxBatchDelay
	if opts.MaxBatchDelay > 0 {
		db.MaxBatchDelay = opts.MaxBatchDelay
	}
	if err := db.Update(initSchema); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open bbolt store %s: %w", path, err)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, path: path, now: now}, nil
}

// initSchema creates missing buckets and checks the schema version.
func initSchema(tx *bolt.Tx) error {
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	meta := tx.Bucket(bucketMeta)
	switch v := meta.Get(schemaKey); {
	case v == nil:
		return meta.Put(schemaKey, []byte{schemaVersion})
	case len(v) != 1 || v[0] != schemaVersion:
		return fmt.Errorf("unsupported schema version %x (want %d)", v, schemaVersion)
	}
	return nil
}

// Path returns the file the store was opened on.
func (s *Store) Path() string { return s.path }

// Close releases the file after in-flight transactions finish. Later calls
// on the store fail with storage.ErrUnavailable; closing twice is a no-op.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close bbolt store: %w", err)
	}
	return nil
}

// Ping runs an empty read transaction; storage.ErrUnavailable once closed.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.view(ctx, func(*bolt.Tx) error { return nil }); err != nil {
		return fmt.Errorf("ping bbolt store: %w", err)
	}
	return nil
}

// Check verifies the file's page structure (bbolt's tx.Check) and that every
// secondary index entry points at a record that points back at it. It returns
// all problems found, joined; storage.ErrUnavailable once closed. It reads the
// whole file, so it is meant for tests and admin tooling, not request paths.
func (s *Store) Check() error {
	return s.view(context.Background(), func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		errs = append(errs, checkIndexes(tx)...)
		return errors.Join(errs...)
	})
}

// view runs fn in a read transaction.
func (s *Store) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var fnErr error
	err := s.db.View(func(tx *bolt.Tx) error {
		fnErr = fn(tx)
		return fnErr
	})
	return txErr(err, fnErr)
}

// update runs fn once in its own write transaction; fn's error rolls it back.
// Used where fn is expensive to repeat or the write is rare.
func (s *Store) update(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var fnErr error
	err := s.db.Update(func(tx *bolt.Tx) error {
		fnErr = fn(tx)
		return fnErr
	})
	return txErr(err, fnErr)
}

// batch runs fn in a write transaction that bbolt may share with concurrent
// callers (db.Batch), so that they share one commit and fsync. A caller that
// finds no other batched write in flight runs at once in its own transaction
// instead: db.Batch would make it wait MaxBatchDelay for company that is not
// coming. fn may run more than once and must only write through tx; closures
// must reset captured results on every run.
//
// fn reports a refusal decided before it wrote anything (ErrConsumed, a
// caller's updater error) as its first result: the shared transaction still
// commits the other callers' work and the refusal is returned. A non-nil
// second result rolls the transaction back (bbolt then re-runs the other
// callers without this one, and this one alone).
func (s *Store) batch(ctx context.Context, fn func(tx *bolt.Tx) (refusal, err error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var refusal, fnErr error
	run := func(tx *bolt.Tx) error {
		refusal, fnErr = fn(tx)
		return fnErr
	}
	err := s.runBatched(run)
	if err != nil {
		return txErr(err, fnErr)
	}
	return refusal
}

// insert stores a new record (or several) in one batched transaction: check
// refuses it before anything is written, so that the shared transaction
// still commits the other callers' work, and write stores it.
func insert[T any](s *Store, ctx context.Context, rec T, check, write func(*bolt.Tx, T) error) error {
	return s.batch(ctx, func(tx *bolt.Tx) (error, error) {
		if err := check(tx, rec); err != nil {
			return err, nil
		}
		return nil, write(tx, rec)
	})
}

// updateResult is what an Update method returns once its transaction is
// over: out on success, the updater's own error (fnErr) unchanged, and any
// other error with the context that format and args describe.
func updateResult[T any](out T, err, fnErr error, format string, args ...any) (T, error) {
	var zero T
	switch {
	case err == nil:
		return out, nil
	case fnErr != nil && err == fnErr:
		return zero, err
	default:
		return zero, fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), err)
	}
}

// runBatched runs fn at once when no other batched write is in flight, else
// through db.Batch.
func (s *Store) runBatched(fn func(tx *bolt.Tx) error) error {
	defer s.batchWriters.Add(-1)
	if s.batchWriters.Add(1) == 1 {
		return s.db.Update(fn)
	}
	return s.db.Batch(fn)
}

// txErr tells the error of a transaction's function (returned as is) from a
// failure of bbolt itself to begin or commit (closed database, I/O), which is
// reported as storage.ErrUnavailable.
func txErr(err, fnErr error) error {
	if err == nil || (fnErr != nil && err == fnErr) {
		return err
	}
	return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
}

// key joins identifiers into a bucket key. Writes check (validIDs, noNUL)
// that no stored key part contains NUL, so stored keys parse uniquely and a
// lookup built from NUL-containing input matches nothing.
func key(parts ...string) []byte {
	n := len(parts) - 1
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	for i, p := range parts {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, p...)
	}
	return b
}

// prefix returns the range of keys that begin with the given whole parts, or
// nil (which eachInPrefix treats as matching nothing) when a part contains NUL:
// "a\x00b" must not select the records of owner "a" whose next part is "b".
func prefix(parts ...string) []byte {
	if !noNUL(parts...) {
		return nil
	}
	return append(key(parts...), 0)
}

// eachInPrefix calls fn for the keys of b that start with p, in key order,
// starting after the key `after` when it is non-nil. k and v are only valid
// during the call and the bucket must not be modified until eachInPrefix
// returns: callers copy what they need and write afterwards. fn returns
// false to stop early. A nil p matches nothing.
func eachInPrefix(b *bolt.Bucket, p, after []byte, fn func(k, v []byte) (bool, error)) error {
	if p == nil {
		return nil
	}
	c := b.Cursor()
	k, v := c.Seek(p)
	if after != nil && bytes.Compare(after, p) > 0 {
		if k, v = c.Seek(after); bytes.Equal(k, after) {
			k, v = c.Next()
		}
	}
	for ; k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		more, err := fn(k, v)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// validIDs reports whether every identifier is non-empty and NUL-free.
func validIDs(ids ...string) bool {
	for _, id := range ids {
		if id == "" || strings.IndexByte(id, 0) >= 0 {
			return false
		}
	}
	return true
}

// noNUL reports whether no string contains NUL (empty strings allowed).
func noNUL(ss ...string) bool {
	for _, s := range ss {
		if strings.IndexByte(s, 0) >= 0 {
			return false
		}
	}
	return true
}

// fold is the case-insensitive form under which emails and usernames are indexed.
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

// isRefusal reports whether err is one of the contract's sentinels (or an
// invalid identifier), which this package only returns before writing.
func isRefusal(err error) bool {
	return errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrAlreadyExists) ||
		errors.Is(err, storage.ErrExpired) || errors.Is(err, storage.ErrConsumed) ||
		errors.Is(err, errInvalidID)
}
