package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey/latchkey/storage"
)

const refreshTokenColumns = `realm, hash, id, client_id, user_id, session_id, grant_id, scopes, audience,
	auth_time, amr, created_at, expires_at, rotated_at, offline`

func scanRefreshToken(row pgx.Row) (storage.RefreshToken, error) {
	var (
		t                                  storage.RefreshToken
		authTime, created, expiry, rotated *time.Time
	)
	err := row.Scan(&t.Realm, &t.Hash, &t.ID, &t.ClientID, &t.UserID, &t.SessionID, &t.GrantID, &t.Scopes,
		&t.Audience, &authTime, &t.AMR, &created, &expiry, &rotated, &t.Offline)
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.RefreshToken{}, storage.ErrNotFound
	}
	if err != nil {
		return storage.RefreshToken{}, err
	}
	t.AuthTime, t.CreatedAt, t.ExpiresAt, t.RotatedAt = fromTS(authTime), fromTS(created), fromTS(expiry), fromTS(rotated)
	return t, nil
}

// insertRefreshToken inserts t; ErrAlreadyExists naming the taken hash or ID.
// Callers run it last in their transaction, where the unique violation's
// abort of the transaction costs nothing.
func insertRefreshToken(ctx context.Context, q querier, t storage.RefreshToken) error {
	if !validIDs(t.Realm, t.ID, t.Hash) || !storable(t.UserID, t.SessionID, t.ClientID) {
		return errInvalidID
	}
	_, err := q.Exec(ctx, `INSERT INTO refresh_tokens (`+refreshTokenColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		t.Realm, t.Hash, t.ID, t.ClientID, t.UserID, t.SessionID, t.GrantID, t.Scopes, t.Audience,
		ts(t.AuthTime), t.AMR, ts(t.CreatedAt), ts(t.ExpiresAt), ts(t.RotatedAt), t.Offline)
	if c, ok := uniqueViolation(err); ok {
		if c == "refresh_tokens_id_key" {
			return fmt.Errorf("id: %w", storage.ErrAlreadyExists)
		}
		return fmt.Errorf("hash: %w", storage.ErrAlreadyExists)
	}
	return err
}

// CreateRefreshToken stores a new token; ErrAlreadyExists on a duplicate hash or ID.
func (s *Store) CreateRefreshToken(ctx context.Context, t storage.RefreshToken) error {
	err := s.run(ctx, func(ctx context.Context, q querier) error { return insertRefreshToken(ctx, q, t) })
	if err != nil {
		return fmt.Errorf("create refresh token %q in realm %q: %w", t.ID, t.Realm, err)
	}
	return nil
}

// GetRefreshTokenByHash returns the token whatever its state; ErrNotFound if unknown.
func (s *Store) GetRefreshTokenByHash(ctx context.Context, realm, hash string) (storage.RefreshToken, error) {
	var t storage.RefreshToken
	err := s.run(ctx, func(ctx context.Context, q querier) (err error) {
		if !storable(realm, hash) {
			return storage.ErrNotFound
		}
		t, err = scanRefreshToken(q.QueryRow(ctx, `SELECT `+refreshTokenColumns+` FROM refresh_tokens
			WHERE realm = $1 AND hash = $2`, realm, hash))
		return err
	})
	if err != nil {
		return storage.RefreshToken{}, fmt.Errorf("get refresh token in realm %q: %w", realm, err)
	}
	return t, nil
}

// RotateRefreshToken marks the token with oldHash rotated at now (the store's
// clock if zero) and stores next, in one transaction. The old token's row is
// locked, so concurrent rotations (in any replica) queue and all but the
// first find it rotated: exactly one succeeds. Checks in order:
// ErrNotFound, ErrConsumed (already rotated), ErrExpired, then next's own: it
// must belong to realm, and ErrAlreadyExists if its hash or ID is taken
// (nothing is written then).
//
// Before the token, the session it is bound to (if any) is locked FOR KEY
// SHARE: a concurrent DeleteSession (or sweep) of that session then either
// waits for the rotation and deletes the new token as well, or has already
// deleted the old one, which the rotation finds gone. Without it, a token
// rotated in while its session is being deleted would outlive the session.
// Session first, token second, is the order DeleteSession locks them in, so
// the two cannot deadlock.
func (s *Store) RotateRefreshToken(ctx context.Context, realm, oldHash string, next storage.RefreshToken, now time.Time) error {
	at := ts(s.orNow(now))
	err := s.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if !storable(realm, oldHash) {
			return storage.ErrNotFound
		}
		_, err := tx.Exec(ctx, `SELECT 1 FROM sessions WHERE realm = $1 AND id =
			(SELECT session_id FROM refresh_tokens WHERE realm = $1 AND hash = $2) FOR KEY SHARE`, realm, oldHash)
		if err != nil {
			return err
		}
		old, err := scanRefreshToken(tx.QueryRow(ctx, `SELECT `+refreshTokenColumns+` FROM refresh_tokens
			WHERE realm = $1 AND hash = $2 FOR UPDATE`, realm, oldHash))
		switch {
		case err != nil:
			return err
		case !old.RotatedAt.IsZero():
			return storage.ErrConsumed
		case expired(old.ExpiresAt, *at):
			return storage.ErrExpired
		case next.Realm != realm:
			return fmt.Errorf("next token is in realm %q: %w", next.Realm, errInvalidID)
		}
		_, err = tx.Exec(ctx, `UPDATE refresh_tokens SET rotated_at = $3 WHERE realm = $1 AND hash = $2`, realm, oldHash, at)
		if err != nil {
			return err
		}
		if err := insertRefreshToken(ctx, tx, next); err != nil {
			return fmt.Errorf("next token: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("rotate refresh token in realm %q: %w", realm, err)
	}
	return nil
}

// DeleteRefreshToken removes a token by its public ID; absent is not an error.
func (s *Store) DeleteRefreshToken(ctx context.Context, realm, id string) error {
	err := s.run(ctx, func(ctx context.Context, q querier) error {
		if !storable(realm, id) {
			return nil
		}
		_, err := q.Exec(ctx, `DELETE FROM refresh_tokens WHERE realm = $1 AND id = $2`, realm, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete refresh token %q in realm %q: %w", id, realm, err)
	}
	return nil
}

// DeleteRefreshTokensOf removes every token of the user issued to clientID
// (all clients when clientID is empty), rotated ones included, in one
// statement.
func (s *Store) DeleteRefreshTokensOf(ctx context.Context, realm, userID, clientID string) error {
	err := s.run(ctx, func(ctx context.Context, q querier) error {
		if userID == "" || !storable(realm, userID, clientID) {
			return nil
		}
		_, err := q.Exec(ctx, `DELETE FROM refresh_tokens
			WHERE realm = $1 AND user_id = $2 AND ($3 = '' OR client_id = $3)`, realm, userID, clientID)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete refresh tokens of user %q in realm %q: %w", userID, realm, err)
	}
	return nil
}

// ListUserRefreshTokens returns the user's unrotated refresh tokens, oldest first.
func (s *Store) ListUserRefreshTokens(ctx context.Context, realm, userID string) ([]storage.RefreshToken, error) {
	out := []storage.RefreshToken{}
	err := s.run(ctx, func(ctx context.Context, q querier) error {
		out = out[:0]
		if userID == "" || !storable(realm, userID) {
			return nil
		}
		rows, err := q.Query(ctx, `SELECT `+refreshTokenColumns+` FROM refresh_tokens
			WHERE realm = $1 AND user_id = $2 AND rotated_at IS NULL ORDER BY created_at, id`, realm, userID)
		if err != nil {
			return err
		}
		out, err = pgx.AppendRows(out, rows, func(r pgx.CollectableRow) (storage.RefreshToken, error) { return scanRefreshToken(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list refresh tokens of user %q in realm %q: %w", userID, realm, err)
	}
	return out, nil
}
