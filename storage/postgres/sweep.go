package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// sweepChunk bounds the deletions per statement, so that a sweep of a large
// backlog never holds many row locks (or a long transaction) at once.
const sweepChunk = 1000

// loginFailureRetention is how long a login failure record outlives its last
// failure once any lockout is over.
const loginFailureRetention = 12 * time.Hour

// sweepTarget is one table of records with a lifetime. Its statement
// deletes at most $2 records due at $1 (and, for login failures, whose last
// failure is before $3) and returns two counts: the records themselves, and
// all rows removed (the same, except for sessions, whose bound refresh
// tokens go too: see sweepSessions).
//
// Each statement picks its chunk with FOR UPDATE SKIP LOCKED: replicas
// sweeping at once take disjoint chunks instead of queueing on each other,
// and a record being updated right now (a session being extended) is left
// for the next sweep rather than waited for. The locked rows are re-checked
// against their latest version before they are deleted.
type sweepTarget struct {
	name string
	sql  string
	// cutoff: the statement takes the login failure cut-off as $3.
	cutoff bool
	// sessions: the target is sweepSessions, not a statement.
	sessions bool
}

// expiredAt is the SQL form of expired(): a NULL (zero) end counts as expired.
func expiredAt(column string) string {
	return "(" + column + " IS NULL OR " + column + " <= $1)"
}

// chunk builds the statement deleting a chunk of table's rows matching due;
// key lists the primary key columns.
func chunk(table, key, due string) string {
	return `WITH gone AS (
		DELETE FROM ` + table + ` WHERE (` + key + `) IN (
			SELECT ` + key + ` FROM ` + table + ` WHERE ` + due + ` LIMIT $2 FOR UPDATE SKIP LOCKED
		) RETURNING 1
	) SELECT count(*) AS records, count(*) AS removed FROM gone`
}

var sweepTargets = []sweepTarget{
	{name: "auth requests", sql: chunk("auth_requests", "realm, id", expiredAt("expires_at"))},
	// Sessions go before refresh tokens so that tokens bound to a swept
	// session are counted once, as the session's dependents.
	{name: "sessions", sessions: true},
	{name: "one-time tokens", sql: chunk("one_time_tokens", "realm, kind, hash", expiredAt("expires_at"))},
	{name: "refresh tokens", sql: chunk("refresh_tokens", "realm, hash", expiredAt("expires_at"))},
	{name: "revocations", sql: chunk("revocations", "realm, jti", expiredAt("expires_at"))},
	{
		name: "login failures", cutoff: true,
		sql: chunk("login_failures", "realm, key",
			"(locked_until IS NULL OR locked_until < $1) AND (last_failure IS NULL OR last_failure < $3)"),
	},
	{name: "rate-limit windows", sql: chunk("rate_limit_windows", "key, window_start", expiredAt("until"))},
	{name: "rate-limit slots", sql: chunk("rate_limit_slots", "key", expiredAt("until"))},
}

// Sweep deletes the records whose lifetime is over at now: auth requests,
// one-time tokens, refresh tokens and revocations whose expiry is not after
// now; sessions past ExpiresAt or (when set) IdleUntil, with their bound
// refresh tokens; login failures whose lockout is over and whose last
// failure is more than 12 hours old; rate-limit windows that have ended and
// slots that have freed. It returns how many records it
// removed, cascaded refresh tokens included.
//
// Each table is cleaned in statements of at most sweepChunk records, each
// its own transaction, until a chunk comes back short. A sweep that fails
// part way keeps what it removed and reports the count so far.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int, error) {
	at := ts(s.orNow(now))
	cutoff := ts(at.Add(-loginFailureRetention))
	total := 0
	for _, target := range sweepTargets {
		for {
			var (
				records, rows int64
				err           error
			)
			if target.sessions {
				records, rows, err = s.sweepSessions(ctx, at)
			} else {
				err = s.run(ctx, func(ctx context.Context, q querier) error {
					args := []any{at, sweepChunk}
					if target.cutoff {
						args = append(args, cutoff)
					}
					return q.QueryRow(ctx, target.sql, args...).Scan(&records, &rows)
				})
			}
			total += int(rows)
			if err != nil {
				return total, fmt.Errorf("sweep %s: %w", target.name, err)
			}
			if records < sweepChunk {
				break
			}
		}
	}
	return total, nil
}

// sweepSessions deletes a chunk of expired sessions and then, in a second
// statement of the same transaction, their bound refresh tokens: the order
// and the reason are DeleteSession's (a rotation in flight holds its
// session's row, which SKIP LOCKED then leaves for the next sweep). It
// returns the sessions deleted and all rows deleted.
func (s *Store) sweepSessions(ctx context.Context, at *time.Time) (records, removed int64, err error) {
	err = s.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		records, removed = 0, 0
		rows, err := tx.Query(ctx, `DELETE FROM sessions WHERE (realm, id) IN (
				SELECT realm, id FROM sessions
				WHERE `+expiredAt("expires_at")+` OR idle_until <= $1
				LIMIT $2 FOR UPDATE SKIP LOCKED
			) RETURNING realm, id`, at, sweepChunk)
		if err != nil {
			return err
		}
		var realms, ids []string
		var realm, id string
		_, err = pgx.ForEachRow(rows, []any{&realm, &id}, func() error {
			realms, ids = append(realms, realm), append(ids, id)
			return nil
		})
		if err != nil || len(ids) == 0 {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM refresh_tokens r USING unnest($1::text[], $2::text[]) AS gone (realm, id)
			WHERE r.realm = gone.realm AND r.session_id = gone.id`, realms, ids)
		if err != nil {
			return err
		}
		records = int64(len(ids))
		removed = records + tag.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, 0, err // rolled back: nothing was removed
	}
	return records, removed, nil
}
