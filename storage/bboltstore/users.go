package bboltstore

import (
	"context"
	"errors"
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
	u = withStoredAttributes(u)
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
	stored := func(u storage.User) (storage.User, error) {
		u, err := fn(u)
		return withStoredAttributes(u), err
	}
	return updateRecord(s, ctx, &userTable, key(realm, id), stored, "update user %q in realm %q", id, realm)
}

// withStoredAttributes returns u as it is stored and read back: an empty
// Attributes map becomes nil, encoded as JSON null rather than {} (which
// would decode to an empty map), so that a user without attributes always
// reads back with a nil map, as from the PostgreSQL backend.
func withStoredAttributes(u storage.User) storage.User {
	if len(u.Attributes) == 0 {
		u.Attributes = nil
	}
	return u
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

// DeleteUser removes the user with its email and username index entries, its
// sessions (with their bound refresh tokens), its other refresh tokens, the
// one-time tokens whose Subject it is and its login-failure record (the one
// keyed by its ID), in one transaction; ErrNotFound, with nothing written, if
// the user is absent. Each dependent is found through its by-user (or
// by-subject) index and removed through its table, so the indexes stay in
// step.
func (s *Store) DeleteUser(ctx context.Context, realm, id string) error {
	err := s.update(ctx, func(tx *bolt.Tx) error { return deleteUser(tx, realm, id) })
	if err != nil {
		return fmt.Errorf("delete user %q in realm %q: %w", id, realm, err)
	}
	return nil
}

func deleteUser(tx *bolt.Tx, realm, id string) error {
	u, err := getUser(tx, realm, id)
	if err != nil {
		return err
	}
	if err := userTable.remove(tx, u); err != nil {
		return err
	}
	// Index values are only valid during the scan and the buckets must not
	// change under a cursor: collect first, delete afterwards.
	sessions, err := indexValues(tx, bucketSessionsByUser, prefix(realm, id))
	if err != nil {
		return err
	}
	for _, sid := range sessions {
		if _, err := deleteSession(tx, realm, sid); err != nil {
			return err
		}
	}
	// Whatever the sessions did not take with them: session-less tokens, and
	// tokens bound to a session of someone else (or to none that exists).
	hashes, err := indexValues(tx, bucketRefreshByUser, prefix(realm, id))
	if err != nil {
		return err
	}
	for _, h := range hashes {
		if _, err := deleteRefreshToken(tx, realm, h); err != nil {
			return err
		}
	}
	if err := deleteSubjectTokens(tx, realm, id); err != nil {
		return err
	}
	return tx.Bucket(bucketLoginFailures).Delete(key(realm, id))
}

// indexValues returns the values of the index entries under p (a nil p
// matches nothing), copied so that they outlive the scan.
func indexValues(tx *bolt.Tx, index, p []byte) ([]string, error) {
	var vals []string
	err := eachInPrefix(tx.Bucket(index), p, nil, func(_, v []byte) (bool, error) {
		vals = append(vals, string(v))
		return true, nil
	})
	return vals, err
}

// deleteSubjectTokens removes every one-time token of the subject, whatever
// its state, with its index entries.
func deleteSubjectTokens(tx *bolt.Tx, realm, subject string) error {
	var keys [][]byte
	subjectPrefix := prefix(realm, subject)
	err := eachInPrefix(tx.Bucket(bucketOTTBySubject), subjectPrefix, nil, func(k, _ []byte) (bool, error) {
		// k is realm, subject, kind, hash; the token's key is realm, kind, hash.
		keys = append(keys, append(prefix(realm), k[len(subjectPrefix):]...))
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		t, err := oneTimeTable.get(tx, k)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if err := oneTimeTable.remove(tx, t); err != nil {
			return err
		}
	}
	return nil
}
