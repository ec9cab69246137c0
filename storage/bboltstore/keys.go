package bboltstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/latchkey/latchkey/storage"
)

// ListSigningKeys returns the realm's keys, active first, then by creation
// time descending (ties by ID, for a stable order).
func (s *Store) ListSigningKeys(ctx context.Context, realm string) ([]storage.SigningKey, error) {
	var keys []storage.SigningKey
	err := s.view(ctx, func(tx *bolt.Tx) (err error) {
		keys, err = realmSigningKeys(tx, realm)
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

func realmSigningKeys(tx *bolt.Tx, realm string) ([]storage.SigningKey, error) {
	var keys []storage.SigningKey
	err := eachInPrefix(tx.Bucket(bucketSigningKeys), prefix(realm), nil, func(_, v []byte) (bool, error) {
		var k storage.SigningKey
		if err := decode(v, &k); err != nil {
			return false, err
		}
		keys = append(keys, k)
		return true, nil
	})
	return keys, err
}

// RotateSigningKey stores next as the realm's active key (whatever its State
// and VerifyUntil said), retires every previously active key with VerifyUntil
// = retireAt, and deletes retired keys whose VerifyUntil is before
// next.CreatedAt, in one transaction. ErrAlreadyExists if next.ID is taken.
func (s *Store) RotateSigningKey(ctx context.Context, next storage.SigningKey, retireAt time.Time) error {
	next.State, next.VerifyUntil = storage.KeyActive, time.Time{}
	err := s.update(ctx, func(tx *bolt.Tx) error {
		if !validIDs(next.Realm, next.ID) {
			return errInvalidID
		}
		b := tx.Bucket(bucketSigningKeys)
		if b.Get(key(next.Realm, next.ID)) != nil {
			return storage.ErrAlreadyExists
		}
		keys, err := realmSigningKeys(tx, next.Realm)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if k.State == storage.KeyActive {
				k.State, k.VerifyUntil = storage.KeyRetired, retireAt
				v, err := encode(k)
				if err != nil {
					return err
				}
				if err := b.Put(key(k.Realm, k.ID), v); err != nil {
					return err
				}
			}
			if k.State == storage.KeyRetired && k.VerifyUntil.Before(next.CreatedAt) {
				if err := b.Delete(key(k.Realm, k.ID)); err != nil {
					return err
				}
			}
		}
		v, err := encode(next)
		if err != nil {
			return err
		}
		return b.Put(key(next.Realm, next.ID), v)
	})
	if err != nil {
		return fmt.Errorf("rotate signing key of realm %q to %q: %w", next.Realm, next.ID, err)
	}
	return nil
}

// RealmSecret returns the named secret, creating it with generate if absent.
// The lookup and the insert share one write transaction, so concurrent
// callers agree on one value; generate runs at most once per call and only
// when the secret is missing. It must return a non-empty secret.
func (s *Store) RealmSecret(ctx context.Context, realm, name string, generate func() ([]byte, error)) ([]byte, error) {
	if !validIDs(realm, name) {
		return nil, fmt.Errorf("realm secret %q of realm %q: %w", name, realm, errInvalidID)
	}
	k := key(realm, name)
	var secret []byte
	read := func(tx *bolt.Tx) (err error) {
		secret = nil
		if v := tx.Bucket(bucketSecrets).Get(k); v != nil {
			secret, err = decodeSecret(v)
		}
		return err
	}
	// Fast path: the secret exists, which a read transaction can tell.
	err := s.view(ctx, read)
	if err == nil && secret == nil {
		err = s.update(ctx, func(tx *bolt.Tx) error {
			if err := read(tx); err != nil || secret != nil {
				return err
			}
			gen, err := generate()
			if err != nil {
				return fmt.Errorf("generate: %w", err)
			}
			if len(gen) == 0 {
				return errors.New("generate returned an empty secret")
			}
			secret = append([]byte(nil), gen...)
			return tx.Bucket(bucketSecrets).Put(k, secretValue(secret))
		})
	}
	if err != nil {
		return nil, fmt.Errorf("realm secret %q of realm %q: %w", name, realm, err)
	}
	return secret, nil
}
