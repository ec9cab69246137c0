package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey/latchkey/storage"
)

// RevokeTokenID records jti as revoked until expiresAt. Revoking it again
// keeps the later expiry.
func (s *Store) RevokeTokenID(ctx context.Context, realm, jti string, expiresAt time.Time) error {
	err := s.run(ctx, func(ctx context.Context, q querier) error {
		if !validIDs(realm, jti) {
			return errInvalidID
		}
		// GREATEST ignores NULL, the stored zero time, which is the earliest.
		_, err := q.Exec(ctx, `INSERT INTO revocations (realm, jti, expires_at) VALUES ($1, $2, $3)
			ON CONFLICT (realm, jti) DO UPDATE SET expires_at = GREATEST(revocations.expires_at, EXCLUDED.expires_at)`,
			realm, jti, ts(expiresAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("revoke token id %q in realm %q: %w", jti, realm, err)
	}
	return nil
}

// IsTokenIDRevoked reports whether jti was revoked and not yet swept.
func (s *Store) IsTokenIDRevoked(ctx context.Context, realm, jti string) (bool, error) {
	var revoked bool
	err := s.run(ctx, func(ctx context.Context, q querier) error {
		if !storable(realm, jti) {
			revoked = false
			return nil
		}
		return q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM revocations WHERE realm = $1 AND jti = $2)`,
			realm, jti).Scan(&revoked)
	})
	if err != nil {
		return false, fmt.Errorf("check revocation of token id %q in realm %q: %w", jti, realm, err)
	}
	return revoked, nil
}

const loginFailureColumns = `realm, key, num_failures, last_failure, locked_until, last_ip_failed`

func scanLoginFailures(row pgx.Row) (storage.LoginFailures, error) {
	var (
		f                   storage.LoginFailures
		n                   int64
		lastFailure, locked *time.Time
	)
	err := row.Scan(&f.Realm, &f.Key, &n, &lastFailure, &locked, &f.LastIPFailed)
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.LoginFailures{}, storage.ErrNotFound
	}
	if err != nil {
		return storage.LoginFailures{}, err
	}
	f.NumFailures = int(n)
	f.LastFailure, f.LockedUntil = fromTS(lastFailure), fromTS(locked)
	return f, nil
}

// UpdateLoginFailures applies fn to the stored record (the zero record with
// Realm and Key set when absent) and writes the result in one transaction,
// deleting the record when fn resets it (NumFailures 0, LockedUntil zero).
// fn may be called more than once; its error is returned unchanged. fn must
// not change Realm or Key.
//
// Concurrent updates of one account (N wrong guesses spread over replicas)
// must all count, so the record's row is locked before fn reads it. An
// absent record has no row to lock: the transaction first inserts an empty
// one (ON CONFLICT DO NOTHING, which waits for a concurrent inserter), so
// there always is one; it is never committed empty, being overwritten or
// deleted before the commit.
func (s *Store) UpdateLoginFailures(ctx context.Context, realm, account string, fn func(storage.LoginFailures) (storage.LoginFailures, error)) (storage.LoginFailures, error) {
	var out storage.LoginFailures
	err := s.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if !validIDs(realm, account) {
			return errInvalidID
		}
		_, err := tx.Exec(ctx, `INSERT INTO login_failures (realm, key) VALUES ($1, $2) ON CONFLICT DO NOTHING`, realm, account)
		if err != nil {
			return err
		}
		cur, err := scanLoginFailures(tx.QueryRow(ctx, `SELECT `+loginFailureColumns+` FROM login_failures
			WHERE realm = $1 AND key = $2 FOR UPDATE`, realm, account))
		if errors.Is(err, storage.ErrNotFound) {
			return errRetry // deleted by a concurrent reset between the two statements
		}
		if err != nil {
			return err
		}
		next, err := fn(cur)
		if err != nil {
			return fnError{err}
		}
		if next.Realm != realm || next.Key != account {
			return fmt.Errorf("updater changed realm or key to %q/%q: %w", next.Realm, next.Key, errInvalidID)
		}
		if next.NumFailures == 0 && next.LockedUntil.IsZero() {
			_, err = tx.Exec(ctx, `DELETE FROM login_failures WHERE realm = $1 AND key = $2`, realm, account)
		} else {
			_, err = tx.Exec(ctx, `UPDATE login_failures SET num_failures = $3, last_failure = $4, locked_until = $5,
					last_ip_failed = $6
				WHERE realm = $1 AND key = $2`,
				realm, account, int64(next.NumFailures), ts(next.LastFailure), ts(next.LockedUntil), next.LastIPFailed)
		}
		if err != nil {
			return err
		}
		out = next
		return nil
	})
	var fe fnError
	switch {
	case err == nil:
		return out, nil
	case errors.As(err, &fe):
		return storage.LoginFailures{}, fe.err
	default:
		return storage.LoginFailures{}, fmt.Errorf("update login failures of %q in realm %q: %w", account, realm, err)
	}
}

// GetLoginFailures returns the record or ErrNotFound.
func (s *Store) GetLoginFailures(ctx context.Context, realm, account string) (storage.LoginFailures, error) {
	var f storage.LoginFailures
	err := s.run(ctx, func(ctx context.Context, q querier) (err error) {
		if !storable(realm, account) {
			return storage.ErrNotFound
		}
		f, err = scanLoginFailures(q.QueryRow(ctx, `SELECT `+loginFailureColumns+` FROM login_failures
			WHERE realm = $1 AND key = $2`, realm, account))
		return err
	})
	if err != nil {
		return storage.LoginFailures{}, fmt.Errorf("get login failures of %q in realm %q: %w", account, realm, err)
	}
	return f, nil
}
