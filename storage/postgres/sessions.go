package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey/latchkey/storage"
)

const sessionColumns = `realm, id, token_hash, user_id, auth_time, amr, last_seen, idle_until, expires_at, created_at, clients, alt_issuer_clients`

func scanSession(row pgx.Row) (storage.Session, error) {
	var (
		sess                                 storage.Session
		authTime, lastSeen, idle, exp, creat *time.Time
	)
	err := row.Scan(&sess.Realm, &sess.ID, &sess.TokenHash, &sess.UserID, &authTime, &sess.AMR,
		&lastSeen, &idle, &exp, &creat, &sess.Clients, &sess.AltIssuerClients)
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.Session{}, storage.ErrNotFound
	}
	if err != nil {
		return storage.Session{}, err
	}
	sess.AuthTime, sess.LastSeen, sess.IdleUntil = fromTS(authTime), fromTS(lastSeen), fromTS(idle)
	sess.ExpiresAt, sess.CreatedAt = fromTS(exp), fromTS(creat)
	return sess, nil
}

// CreateSession stores sess; ErrAlreadyExists on a duplicate ID or token hash.
func (s *Store) CreateSession(ctx context.Context, sess storage.Session) error {
	err := s.run(ctx, func(ctx context.Context, q querier) error {
		if !validIDs(sess.Realm, sess.ID) || !storable(sess.TokenHash, sess.UserID) {
			return errInvalidID
		}
		_, err := q.Exec(ctx, `INSERT INTO sessions (`+sessionColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			sess.Realm, sess.ID, sess.TokenHash, sess.UserID, ts(sess.AuthTime), sess.AMR,
			ts(sess.LastSeen), ts(sess.IdleUntil), ts(sess.ExpiresAt), ts(sess.CreatedAt), sess.Clients, sess.AltIssuerClients)
		return sessionConflict(err)
	})
	if err != nil {
		return fmt.Errorf("create session %q in realm %q: %w", sess.ID, sess.Realm, err)
	}
	return nil
}

// sessionConflict turns a unique violation into ErrAlreadyExists naming the
// taken value.
func sessionConflict(err error) error {
	c, ok := uniqueViolation(err)
	switch {
	case !ok:
		return err
	case c == "sessions_token_hash_key":
		return fmt.Errorf("token hash: %w", storage.ErrAlreadyExists)
	}
	return fmt.Errorf("id: %w", storage.ErrAlreadyExists)
}

// GetSession returns the session by ID, even when it has expired (callers
// check ExpiresAt and IdleUntil); ErrNotFound if absent.
func (s *Store) GetSession(ctx context.Context, realm, id string) (storage.Session, error) {
	var sess storage.Session
	err := s.run(ctx, func(ctx context.Context, q querier) (err error) {
		if !storable(realm, id) {
			return storage.ErrNotFound
		}
		sess, err = scanSession(q.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE realm = $1 AND id = $2`, realm, id))
		return err
	})
	if err != nil {
		return storage.Session{}, fmt.Errorf("get session %q in realm %q: %w", id, realm, err)
	}
	return sess, nil
}

// GetSessionByTokenHash returns the session of a cookie, even when expired;
// ErrNotFound if unknown.
func (s *Store) GetSessionByTokenHash(ctx context.Context, realm, tokenHash string) (storage.Session, error) {
	var sess storage.Session
	err := s.run(ctx, func(ctx context.Context, q querier) (err error) {
		if tokenHash == "" || !storable(realm, tokenHash) {
			return storage.ErrNotFound
		}
		sess, err = scanSession(q.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions
			WHERE realm = $1 AND token_hash = $2`, realm, tokenHash))
		return err
	})
	if err != nil {
		return storage.Session{}, fmt.Errorf("get session by token hash in realm %q: %w", realm, err)
	}
	return sess, nil
}

// UpdateSession applies fn to the session, locked for the transaction, and
// writes the result. fn may run more than once; its error is returned
// unchanged. fn must not change Realm or ID. ErrNotFound if absent;
// ErrAlreadyExists if the new token hash belongs to another session.
//
// The lock is FOR NO KEY UPDATE (the key never changes), which lets a
// concurrent refresh-token rotation hold its KEY SHARE lock on the session
// (see RotateRefreshToken) instead of queueing behind the update.
func (s *Store) UpdateSession(ctx context.Context, realm, id string, fn func(storage.Session) (storage.Session, error)) (storage.Session, error) {
	var out storage.Session
	err := s.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if !storable(realm, id) {
			return storage.ErrNotFound
		}
		old, err := scanSession(tx.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions
			WHERE realm = $1 AND id = $2 FOR NO KEY UPDATE`, realm, id))
		if err != nil {
			return err
		}
		sess, err := fn(old)
		if err != nil {
			return fnError{err}
		}
		if sess.Realm != realm || sess.ID != id || !storable(sess.TokenHash, sess.UserID) {
			return fmt.Errorf("updater changed realm or id to %q/%q: %w", sess.Realm, sess.ID, errInvalidID)
		}
		_, err = tx.Exec(ctx, `UPDATE sessions SET token_hash = $3, user_id = $4, auth_time = $5, amr = $6,
				last_seen = $7, idle_until = $8, expires_at = $9, created_at = $10, clients = $11, alt_issuer_clients = $12
			WHERE realm = $1 AND id = $2`,
			realm, id, sess.TokenHash, sess.UserID, ts(sess.AuthTime), sess.AMR,
			ts(sess.LastSeen), ts(sess.IdleUntil), ts(sess.ExpiresAt), ts(sess.CreatedAt), sess.Clients, sess.AltIssuerClients)
		if err != nil {
			return sessionConflict(err)
		}
		out = sess
		return nil
	})
	var fe fnError
	switch {
	case err == nil:
		return out, nil
	case errors.As(err, &fe):
		return storage.Session{}, fe.err
	default:
		return storage.Session{}, fmt.Errorf("update session %q in realm %q: %w", id, realm, err)
	}
}

// DeleteSession removes the session and every refresh token bound to it.
// Deleting an absent session is not an error.
//
// Two statements in one transaction, session first: deleting the session
// row waits for a rotation of one of its tokens (which holds a KEY SHARE
// lock on it, see RotateRefreshToken) to commit, and the second statement,
// with a snapshot taken after that, sees and deletes the rotated-in token
// too. One statement would see the tokens as they were when it began and
// leave the new one behind.
func (s *Store) DeleteSession(ctx context.Context, realm, id string) error {
	err := s.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if !storable(realm, id) {
			return nil
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE realm = $1 AND id = $2`, realm, id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM refresh_tokens WHERE realm = $1 AND session_id = $2`, realm, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete session %q in realm %q: %w", id, realm, err)
	}
	return nil
}

// DeleteUserSessions removes every session of the user with their refresh
// tokens, in one transaction ordered as DeleteSession's.
func (s *Store) DeleteUserSessions(ctx context.Context, realm, userID string) error {
	err := s.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if userID == "" || !storable(realm, userID) {
			return nil
		}
		rows, err := tx.Query(ctx, `DELETE FROM sessions WHERE realm = $1 AND user_id = $2 RETURNING id`, realm, userID)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil || len(ids) == 0 {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM refresh_tokens WHERE realm = $1 AND session_id = ANY($2)`, realm, ids)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete sessions of user %q in realm %q: %w", userID, realm, err)
	}
	return nil
}

// ListUserSessions returns the user's sessions, expired ones included until
// swept, ordered by CreatedAt (a zero CreatedAt, stored as NULL, first) and
// then by ID; an empty slice when there are none or userID is empty.
func (s *Store) ListUserSessions(ctx context.Context, realm, userID string) ([]storage.Session, error) {
	var out []storage.Session
	err := s.run(ctx, func(ctx context.Context, q querier) error {
		out = []storage.Session{}
		if userID == "" || !storable(realm, userID) {
			return nil
		}
		// "user_id <> ''" lets the partial sessions_user_idx serve a
		// generic plan as well.
		rows, err := q.Query(ctx, `SELECT `+sessionColumns+` FROM sessions
			WHERE realm = $1 AND user_id = $2 AND user_id <> ''
			ORDER BY created_at ASC NULLS FIRST, id`, realm, userID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			sess, err := scanSession(rows)
			if err != nil {
				return err
			}
			out = append(out, sess)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list sessions of user %q in realm %q: %w", userID, realm, err)
	}
	return out, nil
}
