package bboltstore

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/latchkey/latchkey/storage"
)

// CreateUser stores a new user with its email and username index entries.
// Empty emails and usernames are not indexed (several users may lack one).
// ErrAlreadyExists when the ID, email or username (case-insensitively) is taken.
func (s *Store) CreateUser(ctx context.Context, u storage.User) error {
	err := s.update(ctx, func(tx *bolt.Tx) error { return createUser(tx, u) })
	if err != nil {
		return fmt.Errorf("create user %q in realm %q: %w", u.ID, u.Realm, err)
	}
	return nil
}

// createUser checks every uniqueness constraint before it writes, so that a
// refusal leaves tx untouched (InTx callers may carry on after one).
func createUser(tx *bolt.Tx, u storage.User) error {
	if err := userTable.checkNew(tx, u); err != nil {
		return err
	}
	return userTable.add(tx, u)
}

// GetUser returns the user or ErrNotFound.
func (s *Store) GetUser(ctx context.Context, realm, id string) (storage.User, error) {
	var u storage.User
	err := s.view(ctx, func(tx *bolt.Tx) (err error) {
		u, err = getUser(tx, realm, id)
		return err
	})
	if err != nil {
		return storage.User{}, fmt.Errorf("get user %q in realm %q: %w", id, realm, err)
	}
	return u, nil
}

func getUser(tx *bolt.Tx, realm, id string) (storage.User, error) {
	return userTable.get(tx, key(realm, id))
}

// getUserByIndex resolves an email or username index entry to its user.
func getUserByIndex(tx *bolt.Tx, index []byte, realm, value string) (storage.User, error) {
	if value == "" {
		return storage.User{}, storage.ErrNotFound
	}
	id := tx.Bucket(index).Get(key(realm, fold(value)))
	if id == nil {
		return storage.User{}, storage.ErrNotFound
	}
	return getUser(tx, realm, string(id))
}

// GetUserByEmail looks the email up case-insensitively; ErrNotFound if absent
// or empty.
func (s *Store) GetUserByEmail(ctx context.Context, realm, email string) (storage.User, error) {
	var u storage.User
	err := s.view(ctx, func(tx *bolt.Tx) (err error) {
		u, err = getUserByIndex(tx, bucketUsersByEmail, realm, email)
		return err
	})
	if err != nil {
		return storage.User{}, fmt.Errorf("get user by email in realm %q: %w", realm, err)
	}
	return u, nil
}

// GetUserByUsername looks the username up case-insensitively; ErrNotFound if
// absent or empty.
func (s *Store) GetUserByUsername(ctx context.Context, realm, username string) (storage.User, error) {
	var u storage.User
	err := s.view(ctx, func(tx *bolt.Tx) (err error) {
		u, err = getUserByIndex(tx, bucketUsersByName, realm, username)
		return err
	})
	if err != nil {
		return storage.User{}, fmt.Errorf("get user by username %q in realm %q: %w", username, realm, err)
	}
	return u, nil
}

// UpdateUser applies fn to the stored user and writes the result with its
// index entries moved, in one transaction (fn runs once). fn's error is
// returned unchanged; fn must not change Realm or ID. ErrNotFound if absent,
// ErrAlreadyExists if the new email or username belongs to another user.
func (s *Store) UpdateUser(ctx context.Context, realm, id string, fn func(storage.User) (storage.User, error)) (storage.User, error) {
	return updateRecord(s, ctx, &userTable, key(realm, id), fn, "update user %q in realm %q", id, realm)
}

// ListUsers returns the realm's users ordered by ID (byte order), at most
// limit of them (limit <= 0: all), starting after the ID after.
func (s *Store) ListUsers(ctx context.Context, realm, after string, limit int) ([]storage.User, error) {
	var users []storage.User
	err := s.view(ctx, func(tx *bolt.Tx) error {
		users = nil
		p := prefix(realm)
		var start []byte
		if after != "" {
			start = key(realm, after)
		}
		return eachInPrefix(tx.Bucket(bucketUsers), p, start, func(_, v []byte) (bool, error) {
			var u storage.User
			if err := decode(v, &u); err != nil {
				return false, err
			}
			users = append(users, u)
			return limit <= 0 || len(users) < limit, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list users in realm %q: %w", realm, err)
	}
	return users, nil
}

// CountUsers returns how many users the realm has. It walks the realm's keys
// without decoding them.
func (s *Store) CountUsers(ctx context.Context, realm string) (int, error) {
	n := 0
	err := s.view(ctx, func(tx *bolt.Tx) error {
		n = 0
		return eachInPrefix(tx.Bucket(bucketUsers), prefix(realm), nil, func(_, _ []byte) (bool, error) {
			n++
			return true, nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("count users in realm %q: %w", realm, err)
	}
	return n, nil
}
