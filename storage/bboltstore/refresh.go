package bboltstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/latchkey/latchkey/storage"
)

// CreateRefreshToken stores a new token with its ID, user and session index
// entries; ErrAlreadyExists on a duplicate hash or ID.
func (s *Store) CreateRefreshToken(ctx context.Context, t storage.RefreshToken) error {
	err := s.batch(ctx, func(tx *bolt.Tx) (error, error) {
		if err := checkNewRefreshToken(tx, t); err != nil {
			return err, nil
		}
		return nil, putRefreshToken(tx, t)
	})
	if err != nil {
		return fmt.Errorf("create refresh token %q in realm %q: %w", t.ID, t.Realm, err)
	}
	return nil
}

// checkNewRefreshToken refuses t when its identifiers are invalid or taken.
func checkNewRefreshToken(tx *bolt.Tx, t storage.RefreshToken) error {
	if !validIDs(t.Realm, t.ID, t.Hash) || !noNUL(t.UserID, t.SessionID) {
		return errInvalidID
	}
	if tx.Bucket(bucketRefresh).Get(key(t.Realm, t.Hash)) != nil {
		return fmt.Errorf("hash: %w", storage.ErrAlreadyExists)
	}
	if tx.Bucket(bucketRefreshByID).Get(key(t.Realm, t.ID)) != nil {
		return fmt.Errorf("id: %w", storage.ErrAlreadyExists)
	}
	return nil
}

// putRefreshToken writes a new token and its index entries.
func putRefreshToken(tx *bolt.Tx, t storage.RefreshToken) error {
	v, err := encode(t)
	if err != nil {
		return err
	}
	hash := []byte(t.Hash)
	if err := tx.Bucket(bucketRefreshByID).Put(key(t.Realm, t.ID), hash); err != nil {
		return err
	}
	if t.UserID != "" {
		if err := tx.Bucket(bucketRefreshByUser).Put(key(t.Realm, t.UserID, t.ID), hash); err != nil {
			return err
		}
	}
	if t.SessionID != "" {
		if err := tx.Bucket(bucketRefreshBySess).Put(key(t.Realm, t.SessionID, t.ID), hash); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketRefresh).Put(key(t.Realm, t.Hash), v)
}

func getRefreshToken(tx *bolt.Tx, realm, hash string) (storage.RefreshToken, error) {
	v := tx.Bucket(bucketRefresh).Get(key(realm, hash))
	if v == nil {
		return storage.RefreshToken{}, storage.ErrNotFound
	}
	var t storage.RefreshToken
	err := decode(v, &t)
	return t, err
}

// deleteRefreshToken removes the token with its index entries and returns how
// many records it removed (0 or 1).
func deleteRefreshToken(tx *bolt.Tx, realm, hash string) (int, error) {
	t, err := getRefreshToken(tx, realm, hash)
	if errors.Is(err, storage.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if err := tx.Bucket(bucketRefreshByID).Delete(key(realm, t.ID)); err != nil {
		return 0, err
	}
	if t.UserID != "" {
		if err := tx.Bucket(bucketRefreshByUser).Delete(key(realm, t.UserID, t.ID)); err != nil {
			return 0, err
		}
	}
	if t.SessionID != "" {
		if err := tx.Bucket(bucketRefreshBySess).Delete(key(realm, t.SessionID, t.ID)); err != nil {
			return 0, err
		}
	}
	return 1, tx.Bucket(bucketRefresh).Delete(key(realm, hash))
}

// GetRefreshTokenByHash returns the token whatever its state; ErrNotFound if unknown.
func (s *Store) GetRefreshTokenByHash(ctx context.Context, realm, hash string) (storage.RefreshToken, error) {
	var t storage.RefreshToken
	err := s.view(ctx, func(tx *bolt.Tx) (err error) {
		t, err = getRefreshToken(tx, realm, hash)
		return err
	})
	if err != nil {
		return storage.RefreshToken{}, fmt.Errorf("get refresh token in realm %q: %w", realm, err)
	}
	return t, nil
}

// RotateRefreshToken marks the token with oldHash rotated at now (the store's
// clock if zero) and stores next, in one serialised transaction, so of
// concurrent rotations exactly one succeeds. Checks in order: ErrNotFound,
// ErrConsumed (already rotated), ErrExpired, then next's own: it must belong
// to realm, and ErrAlreadyExists if its hash or ID is taken.
func (s *Store) RotateRefreshToken(ctx context.Context, realm, oldHash string, next storage.RefreshToken, now time.Time) error {
	now = s.orNow(now)
	err := s.batch(ctx, func(tx *bolt.Tx) (error, error) {
		old, err := getRefreshToken(tx, realm, oldHash)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			return err, nil
		case err != nil:
			return nil, err
		case !old.RotatedAt.IsZero():
			return storage.ErrConsumed, nil
		case expired(old.ExpiresAt, now):
			return storage.ErrExpired, nil
		case next.Realm != realm:
			return fmt.Errorf("next token is in realm %q: %w", next.Realm, errInvalidID), nil
		}
		if err := checkNewRefreshToken(tx, next); err != nil {
			return fmt.Errorf("next token: %w", err), nil
		}
		old.RotatedAt = now
		v, err := encode(old)
		if err != nil {
			return nil, err
		}
		if err := tx.Bucket(bucketRefresh).Put(key(realm, oldHash), v); err != nil {
			return nil, err
		}
		return nil, putRefreshToken(tx, next)
	})
	if err != nil {
		return fmt.Errorf("rotate refresh token in realm %q: %w", realm, err)
	}
	return nil
}

// DeleteRefreshToken removes a token by its public ID; absent is not an error.
func (s *Store) DeleteRefreshToken(ctx context.Context, realm, id string) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		hash := tx.Bucket(bucketRefreshByID).Get(key(realm, id))
		if hash == nil {
			return nil
		}
		_, err := deleteRefreshToken(tx, realm, string(hash))
		return err
	})
	if err != nil {
		return fmt.Errorf("delete refresh token %q in realm %q: %w", id, realm, err)
	}
	return nil
}

// DeleteRefreshTokensOf removes every token of the user issued to clientID
// (all clients when clientID is empty), rotated ones included, in one
// transaction.
func (s *Store) DeleteRefreshTokensOf(ctx context.Context, realm, userID, clientID string) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		var hashes []string
		err := eachInPrefix(tx.Bucket(bucketRefreshByUser), prefix(realm, userID), nil, func(_, v []byte) (bool, error) {
			hashes = append(hashes, string(v))
			return true, nil
		})
		if err != nil {
			return err
		}
		for _, h := range hashes {
			if clientID != "" {
				t, err := getRefreshToken(tx, realm, h)
				if err != nil {
					return err
				}
				if t.ClientID != clientID {
					continue
				}
			}
			if _, err := deleteRefreshToken(tx, realm, h); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete refresh tokens of user %q in realm %q: %w", userID, realm, err)
	}
	return nil
}
