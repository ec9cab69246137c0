package bboltstore

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/latchkey/latchkey/storage"
)

// CreateAuthRequest stores a new request; ErrAlreadyExists on a duplicate ID.
func (s *Store) CreateAuthRequest(ctx context.Context, a storage.AuthRequest) error {
	err := s.batch(ctx, func(tx *bolt.Tx) (error, error) {
		if !validIDs(a.Realm, a.ID) {
			return errInvalidID, nil
		}
		b := tx.Bucket(bucketAuthRequests)
		k := key(a.Realm, a.ID)
		if b.Get(k) != nil {
			return storage.ErrAlreadyExists, nil
		}
		v, err := encode(a)
		if err != nil {
			return nil, err
		}
		return nil, b.Put(k, v)
	})
	if err != nil {
		return fmt.Errorf("create auth request %q in realm %q: %w", a.ID, a.Realm, err)
	}
	return nil
}

func getAuthRequest(tx *bolt.Tx, realm, id string) (storage.AuthRequest, error) {
	v := tx.Bucket(bucketAuthRequests).Get(key(realm, id))
	if v == nil {
		return storage.AuthRequest{}, storage.ErrNotFound
	}
	var a storage.AuthRequest
	err := decode(v, &a)
	return a, err
}

// GetAuthRequest returns the request; ErrNotFound if absent, ErrExpired when
// the store's clock is not before its ExpiresAt (the record stays until Sweep).
func (s *Store) GetAuthRequest(ctx context.Context, realm, id string) (storage.AuthRequest, error) {
	var a storage.AuthRequest
	err := s.view(ctx, func(tx *bolt.Tx) (err error) {
		a, err = getAuthRequest(tx, realm, id)
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

// UpdateAuthRequest applies fn to the stored request and writes the result in
// one transaction. fn may be called more than once (the write is batched with
// concurrent ones); its error is returned unchanged. fn must not change Realm
// or ID. ErrNotFound if absent, ErrExpired once expired.
func (s *Store) UpdateAuthRequest(ctx context.Context, realm, id string, fn func(storage.AuthRequest) (storage.AuthRequest, error)) (storage.AuthRequest, error) {
	var (
		out   storage.AuthRequest
		fnErr error
	)
	now := s.now()
	err := s.batch(ctx, func(tx *bolt.Tx) (error, error) {
		out, fnErr = storage.AuthRequest{}, nil
		old, err := getAuthRequest(tx, realm, id)
		if err != nil {
			return err, nil
		}
		if expired(old.ExpiresAt, now) {
			return storage.ErrExpired, nil
		}
		a, err := fn(old)
		if err != nil {
			fnErr = err
			return err, nil
		}
		if a.Realm != realm || a.ID != id {
			return fmt.Errorf("updater changed realm or id to %q/%q: %w", a.Realm, a.ID, errInvalidID), nil
		}
		v, err := encode(a)
		if err != nil {
			return nil, err
		}
		out = a
		return nil, tx.Bucket(bucketAuthRequests).Put(key(realm, id), v)
	})
	return updateResult(out, err, fnErr, "update auth request %q in realm %q", id, realm)
}

// DeleteAuthRequest removes the request; absent is not an error.
func (s *Store) DeleteAuthRequest(ctx context.Context, realm, id string) error {
	err := s.batch(ctx, func(tx *bolt.Tx) (error, error) {
		return nil, tx.Bucket(bucketAuthRequests).Delete(key(realm, id))
	})
	if err != nil {
		return fmt.Errorf("delete auth request %q in realm %q: %w", id, realm, err)
	}
	return nil
}
