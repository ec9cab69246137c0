package bboltstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/latchkey/latchkey/storage"
)

// IssueOneTimeToken stores t and, when t.Group is set, marks the group's live
// token superseded, in one (batched) transaction. ErrAlreadyExists when the
// hash is already stored for the realm and kind.
func (s *Store) IssueOneTimeToken(ctx context.Context, t storage.OneTimeToken) error {
	err := insert(s, ctx, t, oneTimeTable.checkNew, issueOneTimeToken)
	if err != nil {
		return fmt.Errorf("issue %s token in realm %q: %w", t.Kind, t.Realm, err)
	}
	return nil
}

// issueOneTimeToken writes a checked token with its index entries, after
// superseding its group's live token.
//
// Only one token per group can be live: each issue supersedes the one the
// group index points at, and tokens are created pointing at themselves. So
// superseding that one token supersedes "every live token of the group".
func issueOneTimeToken(tx *bolt.Tx, t storage.OneTimeToken) error {
	if gk, _, ok := oneTimeByGroup.entry(t); ok {
		if prev := tx.Bucket(bucketOTTByGroup).Get(gk); prev != nil {
			if err := supersede(tx, t.Realm, t.Kind, string(prev)); err != nil {
				return err
			}
		}
	}
	return oneTimeTable.add(tx, t)
}

// supersede marks the token superseded if it is live; a token swept or
// deleted since is no error.
func supersede(tx *bolt.Tx, realm, kind, hash string) error {
	prev, err := getOneTimeToken(tx, realm, kind, hash)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil || !liveToken(prev) {
		return err
	}
	next := prev
	next.Superseded = true
	return oneTimeTable.put(tx, next, &prev)
}

func getOneTimeToken(tx *bolt.Tx, realm, kind, hash string) (storage.OneTimeToken, error) {
	return oneTimeTable.get(tx, key(realm, kind, hash))
}

// PeekOneTimeToken returns the record whatever its state; ErrNotFound if unknown.
func (s *Store) PeekOneTimeToken(ctx context.Context, realm, kind, hash string) (storage.OneTimeToken, error) {
	var t storage.OneTimeToken
	err := s.view(ctx, func(tx *bolt.Tx) (err error) {
		t, err = getOneTimeToken(tx, realm, kind, hash)
		return err
	})
	if err != nil {
		return storage.OneTimeToken{}, fmt.Errorf("peek %s token in realm %q: %w", kind, realm, err)
	}
	return t, nil
}

// ConsumeOneTimeToken marks the token consumed at now (the store's clock if
// zero) and returns it. The check and the mark share one serialised write
// transaction, so of concurrent calls exactly one succeeds. Checks in order:
// ErrNotFound (unknown), ErrConsumed (consumed or superseded; the record is
// kept until it expires so that reuse is told from a typo), ErrExpired.
func (s *Store) ConsumeOneTimeToken(ctx context.Context, realm, kind, hash string, now time.Time) (storage.OneTimeToken, error) {
	now = s.orNow(now)
	var out storage.OneTimeToken
	err := s.batch(ctx, func(tx *bolt.Tx) (error, error) {
		out = storage.OneTimeToken{}
		t, err := getOneTimeToken(tx, realm, kind, hash)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			return err, nil
		case err != nil:
			return nil, err
		case !liveToken(t):
			return storage.ErrConsumed, nil
		case expired(t.ExpiresAt, now):
			return storage.ErrExpired, nil
		}
		consumed := t
		consumed.ConsumedAt = now
		if err := oneTimeTable.put(tx, consumed, &t); err != nil {
			return nil, err
		}
		out = consumed
		return nil, nil
	})
	if err != nil {
		return storage.OneTimeToken{}, fmt.Errorf("consume %s token in realm %q: %w", kind, realm, err)
	}
	return out, nil
}

// DeleteOneTimeToken removes the record and its index entries; absent is not
// an error.
func (s *Store) DeleteOneTimeToken(ctx context.Context, realm, kind, hash string) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		t, err := getOneTimeToken(tx, realm, kind, hash)
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return oneTimeTable.remove(tx, t)
	})
	if err != nil {
		return fmt.Errorf("delete %s token in realm %q: %w", kind, realm, err)
	}
	return nil
}

// RevokeSubjectTokens marks every live (unconsumed, unsuperseded) token of the
// subject consumed at now (the store's clock if zero), in one transaction.
func (s *Store) RevokeSubjectTokens(ctx context.Context, realm, subject string, now time.Time) error {
	now = s.orNow(now)
	err := s.update(ctx, func(tx *bolt.Tx) error {
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
			if liveToken(t) {
				revoked := t
				revoked.ConsumedAt = now
				if err := oneTimeTable.put(tx, revoked, &t); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("revoke tokens of subject %q in realm %q: %w", subject, realm, err)
	}
	return nil
}
