package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey/latchkey/storage"
)

const signingKeyColumns = `realm, id, algorithm, private_der, state, created_at, verify_until`

func scanSigningKey(row pgx.Row) (storage.SigningKey, error) {
	var (
		k                    storage.SigningKey
		state                string
		created, verifyUntil *time.Time
	)
	if err := row.Scan(&k.Realm, &k.ID, &k.Algorithm, &k.PrivateDER, &state, &created, &verifyUntil); err != nil {
		return storage.SigningKey{}, err
	}
	k.State = storage.KeyState(state)
	k.CreatedAt, k.VerifyUntil = fromTS(created), fromTS(verifyUntil)
	return k, nil
}

// realmSigningKeys returns the realm's keys in no particular order, locked
// for the transaction when lock is set.
func realmSigningKeys(ctx context.Context, q querier, realm string, lock bool) ([]storage.SigningKey, error) {
	sql := `SELECT ` + signingKeyColumns + ` FROM signing_keys WHERE realm = $1`
	if lock {
		sql += ` FOR UPDATE`
	}
	rows, err := q.Query(ctx, sql, realm)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.SigningKey, error) { return scanSigningKey(r) })
}

// ListSigningKeys returns the realm's keys, active first, then by creation
// time descending (ties by ID, for a stable order), as bboltstore orders them.
func (s *Store) ListSigningKeys(ctx context.Context, realm string) ([]storage.SigningKey, error) {
	var keys []storage.SigningKey
	err := s.run(ctx, func(ctx context.Context, q querier) (err error) {
		keys = nil
		if !storable(realm) {
			return nil
		}
		keys, err = realmSigningKeys(ctx, q, realm, false)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list signing keys of realm %q: %w", realm, err)
	}
	slices.SortFunc(keys, func(a, b storage.SigningKey) int {
		if (a.State == storage.KeyActive) != (b.State == storage.KeyActive) {
			if a.State == storage.KeyActive {
				return -1
			}
			return 1
		}
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return keys, nil
}

// RotateSigningKey stores next as the realm's active key (whatever its State
// and VerifyUntil said), retires every previously active key with VerifyUntil
// = retireAt, and deletes retired keys whose VerifyUntil is before
// next.CreatedAt, in one transaction. ErrAlreadyExists if next.ID is taken.
//
// Rotations of one realm are serialised by an advisory lock on the realm:
// row locks alone would let two rotations each miss the key the other
// inserts, leaving two active keys.
func (s *Store) RotateSigningKey(ctx context.Context, next storage.SigningKey, retireAt time.Time) error {
	next.State, next.VerifyUntil = storage.KeyActive, time.Time{}
	err := s.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if !validIDs(next.Realm, next.ID) {
			return errInvalidID
		}
		if err := advisoryXactLock(ctx, tx, "signing_keys", next.Realm); err != nil {
			return err
		}
		keys, err := realmSigningKeys(ctx, tx, next.Realm, true)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if k.ID == next.ID {
				return storage.ErrAlreadyExists
			}
		}
		for _, k := range keys {
			if k.State == storage.KeyActive {
				k.State, k.VerifyUntil = storage.KeyRetired, retireAt
				_, err := tx.Exec(ctx, `UPDATE signing_keys SET state = $3, verify_until = $4 WHERE realm = $1 AND id = $2`,
					k.Realm, k.ID, string(k.State), ts(k.VerifyUntil))
				if err != nil {
					return err
				}
			}
			if k.State == storage.KeyRetired && k.VerifyUntil.Before(next.CreatedAt) {
				if _, err := tx.Exec(ctx, `DELETE FROM signing_keys WHERE realm = $1 AND id = $2`, k.Realm, k.ID); err != nil {
					return err
				}
			}
		}
		_, err = tx.Exec(ctx, `INSERT INTO signing_keys (`+signingKeyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			next.Realm, next.ID, next.Algorithm, next.PrivateDER, string(next.State), ts(next.CreatedAt), ts(next.VerifyUntil))
		return err
	})
	if err != nil {
		return fmt.Errorf("rotate signing key of realm %q to %q: %w", next.Realm, next.ID, err)
	}
	return nil
}

// advisoryXactLock takes a transaction-scoped advisory lock named by parts,
// for writes that have no row to lock yet. The parts are hashed to the
// lock's 64-bit key; a collision only serialises two unrelated writes.
func advisoryXactLock(ctx context.Context, tx pgx.Tx, parts ...string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, strings.Join(parts, "\x1f"))
	return err
}

// RealmSecret returns the named secret, creating it with generate if absent.
// Concurrent callers (in any replica) agree on one value: the insert keeps
// the first committed secret and the losers read it back. generate runs only
// when the secret was missing when looked up, and must return a non-empty
// secret.
func (s *Store) RealmSecret(ctx context.Context, realm, name string, generate func() ([]byte, error)) ([]byte, error) {
	if !validIDs(realm, name) {
		return nil, fmt.Errorf("realm secret %q of realm %q: %w", name, realm, errInvalidID)
	}
	var secret []byte
	err := s.run(ctx, func(ctx context.Context, q querier) error {
		secret = nil
		const get = `SELECT secret FROM realm_secrets WHERE realm = $1 AND name = $2`
		err := q.QueryRow(ctx, get, realm, name).Scan(&secret)
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		gen, err := generate()
		if err != nil {
			return fmt.Errorf("generate: %w", err)
		}
		if len(gen) == 0 {
			return errors.New("generate returned an empty secret")
		}
		err = q.QueryRow(ctx, `INSERT INTO realm_secrets (realm, name, secret) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING RETURNING secret`, realm, name, gen).Scan(&secret)
		if errors.Is(err, pgx.ErrNoRows) {
			// Another caller's secret won; it is committed, so a new
			// statement sees it.
			err = q.QueryRow(ctx, get, realm, name).Scan(&secret)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("realm secret %q of realm %q: %w", name, realm, err)
	}
	return secret, nil
}
