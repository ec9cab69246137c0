package bboltstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/latchkey/latchkey/storage"
)

// CreateSession stores s with its token-hash and user index entries.
// ErrAlreadyExists on a duplicate ID or token hash.
func (s *Store) CreateSession(ctx context.Context, sess storage.Session) error {
	err := insert(s, ctx, sess, sessionTable.checkNew, sessionTable.add)
	if err != nil {
		return fmt.Errorf("create session %q in realm %q: %w", sess.ID, sess.Realm, err)
	}
	return nil
}

// GetSession returns the session by ID, even when it has expired (callers
// check ExpiresAt and IdleUntil); ErrNotFound if absent.
func (s *Store) GetSession(ctx context.Context, realm, id string) (storage.Session, error) {
	var sess storage.Session
	err := s.view(ctx, func(tx *bolt.Tx) (err error) {
		sess, err = getSession(tx, realm, id)
		return err
	})
	if err != nil {
		return storage.Session{}, fmt.Errorf("get session %q in realm %q: %w", id, realm, err)
	}
	return sess, nil
}

func getSession(tx *bolt.Tx, realm, id string) (storage.Session, error) {
	return sessionTable.get(tx, key(realm, id))
}

// GetSessionByTokenHash returns the session of a cookie, even when expired;
// ErrNotFound if unknown.
func (s *Store) GetSessionByTokenHash(ctx context.Context, realm, tokenHash string) (storage.Session, error) {
	var sess storage.Session
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if tokenHash == "" {
			return storage.ErrNotFound
		}
		id := tx.Bucket(bucketSessionsByHash).Get(key(realm, tokenHash))
		if id == nil {
			return storage.ErrNotFound
		}
		var err error
		sess, err = getSession(tx, realm, string(id))
		return err
	})
	if err != nil {
		return storage.Session{}, fmt.Errorf("get session by token hash in realm %q: %w", realm, err)
	}
	return sess, nil
}

// UpdateSession applies fn to the stored session and writes the result in
// one transaction (fn runs once), moving the index entries when TokenHash or
// UserID change. fn's error is returned unchanged; fn must not change Realm
// or ID. ErrNotFound if absent; ErrAlreadyExists if the new token hash
// belongs to another session.
func (s *Store) UpdateSession(ctx context.Context, realm, id string, fn func(storage.Session) (storage.Session, error)) (storage.Session, error) {
	return updateRecord(s, ctx, &sessionTable, key(realm, id), fn, "update session %q in realm %q", id, realm)
}

// DeleteSession removes the session, its index entries and every refresh
// token bound to it. Deleting an absent session is not an error.
func (s *Store) DeleteSession(ctx context.Context, realm, id string) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		_, err := deleteSession(tx, realm, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete session %q in realm %q: %w", id, realm, err)
	}
	return nil
}

// DeleteUserSessions removes every session of the user with their refresh
// tokens, in one transaction.
func (s *Store) DeleteUserSessions(ctx context.Context, realm, userID string) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		var ids []string
		err := eachInPrefix(tx.Bucket(bucketSessionsByUser), prefix(realm, userID), nil, func(_, v []byte) (bool, error) {
			ids = append(ids, string(v))
			return true, nil
		})
		if err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := deleteSession(tx, realm, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete sessions of user %q in realm %q: %w", userID, realm, err)
	}
	return nil
}

// ListUserSessions returns the user's sessions, expired ones included until
// swept, ordered by CreatedAt and then by ID (byte order); an empty slice
// when there are none or userID is empty. The sessions are found through
// the by-user index, which is in ID order, and sorted after the lookup.
func (s *Store) ListUserSessions(ctx context.Context, realm, userID string) ([]storage.Session, error) {
	var out []storage.Session
	err := s.view(ctx, func(tx *bolt.Tx) error {
		out = []storage.Session{}
		if userID == "" {
			return nil
		}
		ids, err := indexValues(tx, bucketSessionsByUser, prefix(realm, userID))
		if err != nil {
			return err
		}
		for _, id := range ids {
			sess, err := getSession(tx, realm, id)
			if errors.Is(err, storage.ErrNotFound) {
				continue // a dangling entry, which Check reports; as if deleted
			}
			if err != nil {
				return err
			}
			out = append(out, sess)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list sessions of user %q in realm %q: %w", userID, realm, err)
	}
	slices.SortFunc(out, func(a, b storage.Session) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// deleteSession removes a session with its index entries and bound refresh
// tokens, returning how many records (session and tokens) it removed.
func deleteSession(tx *bolt.Tx, realm, id string) (int, error) {
	sess, err := getSession(tx, realm, id)
	if errors.Is(err, storage.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if err := sessionTable.remove(tx, sess); err != nil {
		return 0, err
	}
	var hashes []string
	err = eachInPrefix(tx.Bucket(bucketRefreshBySess), prefix(realm, id), nil, func(_, v []byte) (bool, error) {
		hashes = append(hashes, string(v))
		return true, nil
	})
	if err != nil {
		return 0, err
	}
	n := 1
	for _, h := range hashes {
		removed, err := deleteRefreshToken(tx, realm, h)
		if err != nil {
			return 0, err
		}
		n += removed
	}
	return n, nil
}
