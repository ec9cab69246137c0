package bboltstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/latchkey/latchkey/storage"
)

// RevokeTokenID records jti as revoked until expiresAt. Revoking it again
// keeps the later expiry.
func (s *Store) RevokeTokenID(ctx context.Context, realm, jti string, expiresAt time.Time) error {
	err := s.batch(ctx, func(tx *bolt.Tx) (error, error) {
		if !validIDs(realm, jti) {
			return errInvalidID, nil
		}
		b := tx.Bucket(bucketRevocations)
		k := key(realm, jti)
		if v := b.Get(k); v != nil {
			var r revocation
			if err := decode(v, &r); err != nil {
				return nil, err
			}
			if !r.ExpiresAt.Before(expiresAt) {
				return nil, nil
			}
		}
		v, err := encode(revocation{ExpiresAt: expiresAt})
		if err != nil {
			return nil, err
		}
		return nil, b.Put(k, v)
	})
	if err != nil {
		return fmt.Errorf("revoke token id %q in realm %q: %w", jti, realm, err)
	}
	return nil
}

// IsTokenIDRevoked reports whether jti was revoked and not yet swept.
func (s *Store) IsTokenIDRevoked(ctx context.Context, realm, jti string) (bool, error) {
	var revoked bool
	err := s.view(ctx, func(tx *bolt.Tx) error {
		revoked = tx.Bucket(bucketRevocations).Get(key(realm, jti)) != nil
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("check revocation of token id %q in realm %q: %w", jti, realm, err)
	}
	return revoked, nil
}

// UpdateLoginFailures applies fn to the stored record (the zero record with
// Realm and Key set when absent) and writes the result in one transaction,
// deleting the record when fn resets it (NumFailures 0, LockedUntil zero).
// fn may be called more than once (the write is batched with concurrent
// ones), so it must be free of side effects; its error is returned unchanged.
// fn must not change Realm or Key.
func (s *Store) UpdateLoginFailures(ctx context.Context, realm, account string, fn func(storage.LoginFailures) (storage.LoginFailures, error)) (storage.LoginFailures, error) {
	var (
		out   storage.LoginFailures
		fnErr error
	)
	err := s.batch(ctx, func(tx *bolt.Tx) (error, error) {
		out, fnErr = storage.LoginFailures{}, nil
		if !validIDs(realm, account) {
			return errInvalidID, nil
		}
		cur, err := getLoginFailures(tx, realm, account)
		if errors.Is(err, storage.ErrNotFound) {
			cur, err = storage.LoginFailures{Realm: realm, Key: account}, nil
		}
		if err != nil {
			return nil, err
		}
		next, err := fn(cur)
		if err != nil {
			fnErr = err
			return err, nil
		}
		if next.Realm != realm || next.Key != account {
			return fmt.Errorf("updater changed realm or key to %q/%q: %w", next.Realm, next.Key, errInvalidID), nil
		}
		out = next
		return nil, putLoginFailures(tx, next)
	})
	return updateResult(out, err, fnErr, "update login failures of %q in realm %q", account, realm)
}

// putLoginFailures stores f, or deletes it when it holds nothing worth keeping.
func putLoginFailures(tx *bolt.Tx, f storage.LoginFailures) error {
	b := tx.Bucket(bucketLoginFailures)
	k := key(f.Realm, f.Key)
	if f.NumFailures == 0 && f.LockedUntil.IsZero() {
		return b.Delete(k)
	}
	v, err := encode(f)
	if err != nil {
		return err
	}
	return b.Put(k, v)
}

func getLoginFailures(tx *bolt.Tx, realm, k string) (storage.LoginFailures, error) {
	v := tx.Bucket(bucketLoginFailures).Get(key(realm, k))
	if v == nil {
		return storage.LoginFailures{}, storage.ErrNotFound
	}
	var f storage.LoginFailures
	err := decode(v, &f)
	return f, err
}

// GetLoginFailures returns the record or ErrNotFound.
func (s *Store) GetLoginFailures(ctx context.Context, realm, account string) (storage.LoginFailures, error) {
	var f storage.LoginFailures
	err := s.view(ctx, func(tx *bolt.Tx) (err error) {
		f, err = getLoginFailures(tx, realm, account)
		return err
	})
	if err != nil {
		return storage.LoginFailures{}, fmt.Errorf("get login failures of %q in realm %q: %w", account, realm, err)
	}
	return f, nil
}
