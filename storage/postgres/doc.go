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
// UpdateOutbox) lock the row with SELECT … FOR UPDATE before fn sees it, so
// concurrent updates of one record queue up rather than lose each other's
// changes; consumption is a single conditional UPDATE … RETURNING, so of
// concurrent consumers exactly one matches the row. Writes that have no row
// to lock yet (issuing into a one-time-token group, rotating a realm's
// signing keys) take a transaction-scoped advisory lock on their key instead.
// Serialization failures and deadlocks (SQLSTATE 40001, 40P01) retry the
// whole transaction a bounded number of times, which is why updater
// functions may run more than once.
//
// # Failures
//
// A lost or refused connection, a closed store and the server's shutdown
// errors are reported as storage.ErrUnavailable (wrapped); a cancelled or
// expired context as the context's error. A connection lost in the middle
// of a transaction leaves nothing written: the server rolls back what it
// never saw committed.
package postgres
