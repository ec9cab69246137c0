package bboltstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/latchkey/latchkey/storage"
)

// CreateRefreshToken stores a new token with its ID, user and session index
// entries; ErrAlreadyExists on a duplicate hash or ID.
func (s *Store) CreateRefreshToken(ctx context.Context, t storage.RefreshToken) error {
	err := insert(s, ctx, t, refreshTable.checkNew, refreshTable.add)
	if err != nil {
		return fmt.Errorf("create refresh token %q in realm %q: %w", t.ID, t.Realm, err)
	}
	return nil
}

func getRefreshToken(tx *bolt.Tx, realm, hash string) (storage.RefreshToken, error) {
	return refreshTable.get(tx, key(realm, hash))
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
	return 1, refreshTable.remove(tx, t)
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
		if err := refreshTable.checkNew(tx, next); err != nil {
			return fmt.Errorf("next token: %w", err), nil
		}
		rotated := old
		rotated.RotatedAt = now
		if err := refreshTable.put(tx, rotated, &old); err != nil {
			return nil, err
		}
		return nil, refreshTable.add(tx, next)
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

// ListUserRefreshTokens returns the user's unrotated refresh tokens, oldest first.
func (s *Store) ListUserRefreshTokens(ctx context.Context, realm, userID string) ([]storage.RefreshToken, error) {
	out := []storage.RefreshToken{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if userID == "" {
			return nil
		}
		hashes, err := indexValues(tx, bucketRefreshByUser, prefix(realm, userID))
		if err != nil {
			return err
		}
		for _, h := range hashes {
			t, err := getRefreshToken(tx, realm, h)
			if errors.Is(err, storage.ErrNotFound) {
				continue // a dangling entry, which Check reports; as if deleted
			}
			if err != nil {
				return err
			}
			if t.RotatedAt.IsZero() {
				out = append(out, t)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list refresh tokens of user %q in realm %q: %w", userID, realm, err)
	}
	slices.SortFunc(out, func(a, b storage.RefreshToken) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}
