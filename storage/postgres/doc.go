// Package postgres is the storage.Store backend on PostgreSQL (12 or later),
// for more than one Latchkey replica on one database (SPEC §8). It passes the
// same conformance suite (storage/storagetest) as the bbolt backend.
//
// # Schema
//
// The schema is a set of versioned SQL migrations embedded in the binary
// (migrations/NNNN_name.sql) and recorded in the schema_migrations table.
// Open applies the missing ones under a PostgreSQL advisory lock, so replicas
// starting together migrate once; Migrate does the same alone (for `latchkey
// migrate`). A database whose schema is newer than the binary is refused.
//
// Every aggregate has one table whose primary key starts with the realm, so
// no lookup crosses realms. Identifiers use the "C" collation: ORDER BY is
// byte order, as in bbolt. Emails and usernames are indexed in a folded
// column computed with strings.ToLower (the same folding as bboltstore), not
// with SQL lower(), whose result depends on the database's locale.
//
// # Values
//
// Times are timestamptz, which holds microseconds: they are truncated to the
// microsecond before they are written (so a stored time never rounds up past
// the caller's) and read back in UTC. A zero time is stored as NULL. Slices
// are text[] and byte slices bytea, with NULL for nil, so a record reads back
// deeply equal to what was written. Text cannot hold NUL bytes or invalid
// UTF-8: identifiers that do are refused on write (and match nothing on
// lookup) as in bboltstore, other such text is refused by the server and
// reported as an invalid value.
//
// # Concurrency
//
// Transactions run at READ COMMITTED. Read-modify-write updaters
// (UpdateUser, UpdateSession, UpdateAuthRequest, UpdateLoginFailures,
// UpdateOutbox) lock the row (SELECT … FOR UPDATE, or FOR NO KEY UPDATE for
// sessions) before fn sees it, so concurrent updates of one record queue up
// rather than lose each other's changes; an absent login-failure record is
// first inserted empty so that there is a row to lock. Consumption is a
// single conditional UPDATE … RETURNING, so of concurrent consumers exactly
// one matches the row; refresh rotation locks the token's row. Writes that
// have no row to lock yet (issuing into a one-time-token group, rotating a
// realm's signing keys) take a transaction-scoped advisory lock on their key
// instead. A session and its refresh tokens are always locked session first
// (see RotateRefreshToken and DeleteSession), so a logout racing a refresh
// leaves no token behind and cannot deadlock. ClaimOutbox and Sweep pick
// rows FOR UPDATE SKIP LOCKED, so replicas doing the same work take
// disjoint rows instead of queueing.
//
// A transaction (or single statement) that fails with a serialization
// failure or deadlock (SQLSTATE 40001, 40P01), or that could not be sent at
// all, runs again, a bounded number of times: that is why updater functions
// may run more than once. Running out of attempts is ErrUnavailable.
//
// # Failures
//
// A lost or refused connection, a closed store, the server's shutdown
// errors and a database that does not answer within Options.Timeout (for
// calls whose context has no deadline) are reported as
// storage.ErrUnavailable (wrapped); a cancelled or expired caller's context
// as the context's error, after a cancel request has stopped the statement
// at the server. A connection lost in the middle of a transaction leaves
// nothing written: the server rolls back what it never saw committed.
package postgres
