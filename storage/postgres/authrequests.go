package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey/latchkey/storage"
)

const authRequestColumns = `realm, id, client_id, redirect_uri, scopes, response_type, response_mode, state,
	nonce, code_challenge, code_challenge_method, prompt, max_age, login_hint, user_id, session_id,
	auth_time, amr, done, created_at, expires_at, device, denied, poll_interval_ns, last_polled_at`

func scanAuthRequest(row pgx.Row) (storage.AuthRequest, error) {
	var (
		a                         storage.AuthRequest
		maxAge                    *int64
		authTime, created, expiry *time.Time
		lastPolled                *time.Time
		pollInterval              int64
	)
	err := row.Scan(&a.Realm, &a.ID, &a.ClientID, &a.RedirectURI, &a.Scopes, &a.ResponseType, &a.ResponseMode,
		&a.State, &a.Nonce, &a.CodeChallenge, &a.CodeChallengeMethod, &a.Prompt, &maxAge, &a.LoginHint,
		&a.UserID, &a.SessionID, &authTime, &a.AMR, &a.Done, &created, &expiry,
		&a.Device, &a.Denied, &pollInterval, &lastPolled)
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.AuthRequest{}, storage.ErrNotFound
	}
	if err != nil {
		return storage.AuthRequest{}, err
	}
	if maxAge != nil {
		v := uint(*maxAge)
		a.MaxAge = &v
	}
	a.AuthTime, a.CreatedAt, a.ExpiresAt = fromTS(authTime), fromTS(created), fromTS(expiry)
	a.PollInterval, a.LastPolledAt = time.Duration(pollInterval), fromTS(lastPolled)
	return a, nil
}

// authRequestArgs are the values of authRequestColumns for a.
func authRequestArgs(a storage.AuthRequest) []any {
	var maxAge *int64
	if a.MaxAge != nil {
		v := int64(*a.MaxAge)
		maxAge = &v
	}
	return []any{a.Realm, a.ID, a.ClientID, a.RedirectURI, a.Scopes, a.ResponseType, a.ResponseMode, a.State,
		a.Nonce, a.CodeChallenge, a.CodeChallengeMethod, a.Prompt, maxAge, a.LoginHint, a.UserID, a.SessionID,
		ts(a.AuthTime), a.AMR, a.Done, ts(a.CreatedAt), ts(a.ExpiresAt),
		a.Device, a.Denied, int64(a.PollInterval), ts(a.LastPolledAt)}
}

// CreateAuthRequest stores a new request; ErrAlreadyExists on a duplicate ID.
func (s *Store) CreateAuthRequest(ctx context.Context, a storage.AuthRequest) error {
	err := s.run(ctx, func(ctx context.Context, q querier) error {
		if !validIDs(a.Realm, a.ID) {
			return errInvalidID
		}
		_, err := q.Exec(ctx, `INSERT INTO auth_requests (`+authRequestColumns+`) VALUES
			($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
			$22, $23, $24, $25)`,
			authRequestArgs(a)...)
		if _, ok := uniqueViolation(err); ok {
			return storage.ErrAlreadyExists
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create auth request %q in realm %q: %w", a.ID, a.Realm, err)
	}
	return nil
}

// GetAuthRequest returns the request; ErrNotFound if absent, ErrExpired when
// the store's clock is not before its ExpiresAt (the record stays until Sweep).
func (s *Store) GetAuthRequest(ctx context.Context, realm, id string) (storage.AuthRequest, error) {
	var a storage.AuthRequest
	err := s.run(ctx, func(ctx context.Context, q querier) (err error) {
		if !storable(realm, id) {
			return storage.ErrNotFound
		}
		a, err = scanAuthRequest(q.QueryRow(ctx, `SELECT `+authRequestColumns+` FROM auth_requests
			WHERE realm = $1 AND id = $2`, realm, id))
		return err
	})
	if err == nil && expired(a.ExpiresAt, s.now()) {
		err = storage.ErrExpired
	}
	if err != nil {
		return storage.AuthRequest{}, fmt.Errorf("get auth request %q in realm %q: %w", id, realm, err)
	}
	return a, nil
}

// UpdateAuthRequest applies fn to the request, locked for the transaction,
// and writes the result. fn may run more than once; its error is returned
// unchanged. fn must not change Realm or ID. ErrNotFound if absent,
// ErrExpired once expired (by the store's clock); fn is not called then.
func (s *Store) UpdateAuthRequest(ctx context.Context, realm, id string, fn func(storage.AuthRequest) (storage.AuthRequest, error)) (storage.AuthRequest, error) {
	var out storage.AuthRequest
	now := s.now()
	err := s.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if !storable(realm, id) {
			return storage.ErrNotFound
		}
		old, err := scanAuthRequest(tx.QueryRow(ctx, `SELECT `+authRequestColumns+` FROM auth_requests
			WHERE realm = $1 AND id = $2 FOR UPDATE`, realm, id))
		if err != nil {
			return err
		}
		if expired(old.ExpiresAt, now) {
			return storage.ErrExpired
		}
		a, err := fn(old)
		if err != nil {
			return fnError{err}
		}
		if a.Realm != realm || a.ID != id {
			return fmt.Errorf("updater changed realm or id to %q/%q: %w", a.Realm, a.ID, errInvalidID)
		}
		_, err = tx.Exec(ctx, `UPDATE auth_requests SET client_id = $3, redirect_uri = $4, scopes = $5,
				response_type = $6, response_mode = $7, state = $8, nonce = $9, code_challenge = $10,
				code_challenge_method = $11, prompt = $12, max_age = $13, login_hint = $14, user_id = $15,
				session_id = $16, auth_time = $17, amr = $18, done = $19, created_at = $20, expires_at = $21,
				device = $22, denied = $23, poll_interval_ns = $24, last_polled_at = $25
			WHERE realm = $1 AND id = $2`, authRequestArgs(a)...)
		if err != nil {
			return err
		}
		out = a
		return nil
	})
	var fe fnError
	switch {
	case err == nil:
		return out, nil
	case errors.As(err, &fe):
		return storage.AuthRequest{}, fe.err
	default:
		return storage.AuthRequest{}, fmt.Errorf("update auth request %q in realm %q: %w", id, realm, err)
	}
}

// DeleteAuthRequest removes the request; absent is not an error.
func (s *Store) DeleteAuthRequest(ctx context.Context, realm, id string) error {
	err := s.run(ctx, func(ctx context.Context, q querier) error {
		if !storable(realm, id) {
			return nil
		}
		_, err := q.Exec(ctx, `DELETE FROM auth_requests WHERE realm = $1 AND id = $2`, realm, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete auth request %q in realm %q: %w", id, realm, err)
	}
	return nil
}
