package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey/latchkey/storage"
)

const oneTimeTokenColumns = `realm, kind, hash, group_name, subject, payload, created_at, expires_at, consumed_at, superseded`

func scanOneTimeToken(row pgx.Row) (storage.OneTimeToken, error) {
	var (
		t                         storage.OneTimeToken
		created, expiry, consumed *time.Time
	)
	err := row.Scan(&t.Realm, &t.Kind, &t.Hash, &t.Group, &t.Subject, &t.Payload, &created, &expiry, &consumed, &t.Superseded)
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.OneTimeToken{}, storage.ErrNotFound
	}
	if err != nil {
		return storage.OneTimeToken{}, err
	}
	t.CreatedAt, t.ExpiresAt, t.ConsumedAt = fromTS(created), fromTS(expiry), fromTS(consumed)
	return t, nil
}

// IssueOneTimeToken stores t and, when t.Group is set, marks the group's live
// tokens superseded, in one transaction. ErrAlreadyExists when the hash is
// already stored for the realm and kind.
func (s *Store) IssueOneTimeToken(ctx context.Context, t storage.OneTimeToken) error {
	var err error
	if t.Group == "" {
		// No group: a single insert, no transaction to pay for.
		err = s.run(ctx, func(ctx context.Context, q querier) error { return insertOneTimeToken(ctx, q, t) })
	} else {
		err = s.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error { return issueOneTimeToken(ctx, tx, t) })
	}
	if err != nil {
		return fmt.Errorf("issue %s token in realm %q: %w", t.Kind, t.Realm, err)
	}
	return nil
}

// issueOneTimeToken inserts t and supersedes the other live tokens of its
// group. Issues into one group are serialised by an advisory lock: the
// supersede of a concurrent issue could not see (nor lock) this token before
// it commits, and both would stay live. The insert comes before the
// supersede so that a refused insert has changed nothing.
func issueOneTimeToken(ctx context.Context, tx pgx.Tx, t storage.OneTimeToken) error {
	if t.Group != "" && validIDs(t.Realm, t.Kind, t.Hash) && storable(t.Group) {
		if err := advisoryXactLock(ctx, tx, "one_time_tokens", t.Realm, t.Kind, t.Group); err != nil {
			return err
		}
	}
	if err := insertOneTimeToken(ctx, tx, t); err != nil || t.Group == "" {
		return err
	}
	_, err := tx.Exec(ctx, `UPDATE one_time_tokens SET superseded = true
		WHERE realm = $1 AND kind = $2 AND group_name = $3 AND hash <> $4
			AND consumed_at IS NULL AND NOT superseded`, t.Realm, t.Kind, t.Group, t.Hash)
	return err
}

// insertOneTimeToken inserts t; ErrAlreadyExists (without aborting an
// enclosing transaction) when the hash is taken.
func insertOneTimeToken(ctx context.Context, q querier, t storage.OneTimeToken) error {
	if !validIDs(t.Realm, t.Kind, t.Hash) || !storable(t.Group, t.Subject) {
		return errInvalidID
	}
	tag, err := q.Exec(ctx, `INSERT INTO one_time_tokens (`+oneTimeTokenColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
		t.Realm, t.Kind, t.Hash, t.Group, t.Subject, t.Payload, ts(t.CreatedAt), ts(t.ExpiresAt), ts(t.ConsumedAt), t.Superseded)
	if err == nil && tag.RowsAffected() == 0 {
		return storage.ErrAlreadyExists
	}
	return err
}

// PeekOneTimeToken returns the record whatever its state; ErrNotFound if unknown.
func (s *Store) PeekOneTimeToken(ctx context.Context, realm, kind, hash string) (storage.OneTimeToken, error) {
	var t storage.OneTimeToken
	err := s.run(ctx, func(ctx context.Context, q querier) (err error) {
		t, err = getOneTimeToken(ctx, q, realm, kind, hash)
		return err
	})
	if err != nil {
		return storage.OneTimeToken{}, fmt.Errorf("peek %s token in realm %q: %w", kind, realm, err)
	}
	return t, nil
}

func getOneTimeToken(ctx context.Context, q querier, realm, kind, hash string) (storage.OneTimeToken, error) {
	if !storable(realm, kind, hash) {
		return storage.OneTimeToken{}, storage.ErrNotFound
	}
	return scanOneTimeToken(q.QueryRow(ctx, `SELECT `+oneTimeTokenColumns+` FROM one_time_tokens
		WHERE realm = $1 AND kind = $2 AND hash = $3`, realm, kind, hash))
}

// ConsumeOneTimeToken marks the token consumed at now (the store's clock if
// zero) and returns it. The check and the mark are one conditional UPDATE:
// concurrent consumers (in any replica) queue on the row lock and re-check
// the condition against the winner's version, so exactly one succeeds. When
// nothing matched, the record is read to tell why, in the contract's order:
// ErrNotFound, ErrConsumed (consumed or superseded), ErrExpired.
func (s *Store) ConsumeOneTimeToken(ctx context.Context, realm, kind, hash string, now time.Time) (storage.OneTimeToken, error) {
	at := ts(s.orNow(now))
	var out storage.OneTimeToken
	err := s.run(ctx, func(ctx context.Context, q querier) error {
		if !storable(realm, kind, hash) {
			return storage.ErrNotFound
		}
		t, err := scanOneTimeToken(q.QueryRow(ctx, `UPDATE one_time_tokens SET consumed_at = $4
			WHERE realm = $1 AND kind = $2 AND hash = $3
				AND consumed_at IS NULL AND NOT superseded AND expires_at > $4
			RETURNING `+oneTimeTokenColumns, realm, kind, hash, at))
		if !errors.Is(err, storage.ErrNotFound) {
			out = t
			return err
		}
		t, err = getOneTimeToken(ctx, q, realm, kind, hash)
		switch {
		case err != nil:
			return err
		case !t.ConsumedAt.IsZero() || t.Superseded:
			return storage.ErrConsumed
		case expired(t.ExpiresAt, *at):
			return storage.ErrExpired
		}
		// Issued between the UPDATE and the read: live now, try again.
		return errRetry
	})
	if err != nil {
		return storage.OneTimeToken{}, fmt.Errorf("consume %s token in realm %q: %w", kind, realm, err)
	}
	return out, nil
}

// DeleteOneTimeToken removes the record; absent is not an error.
func (s *Store) DeleteOneTimeToken(ctx context.Context, realm, kind, hash string) error {
	err := s.run(ctx, func(ctx context.Context, q querier) error {
		if !storable(realm, kind, hash) {
			return nil
		}
		_, err := q.Exec(ctx, `DELETE FROM one_time_tokens WHERE realm = $1 AND kind = $2 AND hash = $3`, realm, kind, hash)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete %s token in realm %q: %w", kind, realm, err)
	}
	return nil
}

// RevokeSubjectTokens marks every live (unconsumed, unsuperseded) token of the
// subject consumed at now (the store's clock if zero), in one statement.
func (s *Store) RevokeSubjectTokens(ctx context.Context, realm, subject string, now time.Time) error {
	at := ts(s.orNow(now))
	err := s.run(ctx, func(ctx context.Context, q querier) error {
		if subject == "" || !storable(realm, subject) {
			return nil
		}
		_, err := q.Exec(ctx, `UPDATE one_time_tokens SET consumed_at = $3
			WHERE realm = $1 AND subject = $2 AND consumed_at IS NULL AND NOT superseded`, realm, subject, at)
		return err
	})
	if err != nil {
		return fmt.Errorf("revoke tokens of subject %q in realm %q: %w", subject, realm, err)
	}
	return nil
}
