package bboltstore

import (
	"bytes"
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
	err := s.batch(ctx, func(tx *bolt.Tx) (error, error) {
		if err := checkNewOneTimeToken(tx, t); err != nil {
			return err, nil
		}
		return nil, issueOneTimeToken(tx, t)
	})
	if err != nil {
		return fmt.Errorf("issue %s token in realm %q: %w", t.Kind, t.Realm, err)
	}
	return nil
}

// checkNewOneTimeToken refuses t (before anything is written) when its
// identifiers are invalid or its hash is taken.
func checkNewOneTimeToken(tx *bolt.Tx, t storage.OneTimeToken) error {
	if !validIDs(t.Realm, t.Kind, t.Hash) || !noNUL(t.Group, t.Subject) {
		return errInvalidID
	}
	if tx.Bucket(bucketOTT).Get(key(t.Realm, t.Kind, t.Hash)) != nil {
		return storage.ErrAlreadyExists
	}
	return nil
}

// issueOneTimeToken writes a checked token with its index entries.
//
// Only one token per group can be live: each issue supersedes the one the
// group index points at, and tokens are created pointing at themselves. So
// superseding that one token supersedes "every live token of the group".
func issueOneTimeToken(tx *bolt.Tx, t storage.OneTimeToken) error {
	tokens := tx.Bucket(bucketOTT)
	if t.Group != "" {
		groups := tx.Bucket(bucketOTTByGroup)
		gk := key(t.Realm, t.Kind, t.Group)
		if prev := groups.Get(gk); prev != nil {
			pk := key(t.Realm, t.Kind, string(prev))
			if v := tokens.Get(pk); v != nil {
				var p storage.OneTimeToken
				if err := decode(v, &p); err != nil {
					return err
				}
				if p.ConsumedAt.IsZero() && !p.Superseded {
					p.Superseded = true
					if err := putOneTimeToken(tokens, p); err != nil {
						return err
					}
				}
			}
		}
		if err := groups.Put(gk, []byte(t.Hash)); err != nil {
			return err
		}
	}
	if t.Subject != "" {
		sk := key(t.Realm, t.Subject, t.Kind, t.Hash)
		if err := tx.Bucket(bucketOTTBySubject).Put(sk, []byte(t.Hash)); err != nil {
			return err
		}
	}
	return putOneTimeToken(tokens, t)
}

func putOneTimeToken(tokens *bolt.Bucket, t storage.OneTimeToken) error {
	v, err := encode(t)
	if err != nil {
		return err
	}
	return tokens.Put(key(t.Realm, t.Kind, t.Hash), v)
}

func getOneTimeToken(tx *bolt.Tx, realm, kind, hash string) (storage.OneTimeToken, error) {
	v := tx.Bucket(bucketOTT).Get(key(realm, kind, hash))
	if v == nil {
		return storage.OneTimeToken{}, storage.ErrNotFound
	}
	var t storage.OneTimeToken
	err := decode(v, &t)
	return t, err
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
		case !t.ConsumedAt.IsZero() || t.Superseded:
			return storage.ErrConsumed, nil
		case expired(t.ExpiresAt, now):
			return storage.ErrExpired, nil
		}
		t.ConsumedAt = now
		if err := putOneTimeToken(tx.Bucket(bucketOTT), t); err != nil {
			return nil, err
		}
		out = t
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
		return deleteOneTimeToken(tx, t)
	})
	if err != nil {
		return fmt.Errorf("delete %s token in realm %q: %w", kind, realm, err)
	}
	return nil
}

// deleteOneTimeToken removes t and its index entries. The group entry goes
// only if it still points at t: a newer token may own it.
func deleteOneTimeToken(tx *bolt.Tx, t storage.OneTimeToken) error {
	if t.Group != "" {
		groups := tx.Bucket(bucketOTTByGroup)
		gk := key(t.Realm, t.Kind, t.Group)
		if cur := groups.Get(gk); cur != nil && bytes.Equal(cur, []byte(t.Hash)) {
			if err := groups.Delete(gk); err != nil {
				return err
			}
		}
	}
	if t.Subject != "" {
		if err := tx.Bucket(bucketOTTBySubject).Delete(key(t.Realm, t.Subject, t.Kind, t.Hash)); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketOTT).Delete(key(t.Realm, t.Kind, t.Hash))
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
		tokens := tx.Bucket(bucketOTT)
		for _, k := range keys {
			v := tokens.Get(k)
			if v == nil {
				continue
			}
			var t storage.OneTimeToken
			if err := decode(v, &t); err != nil {
				return err
			}
			if t.ConsumedAt.IsZero() && !t.Superseded {
				t.ConsumedAt = now
				if err := putOneTimeToken(tokens, t); err != nil {
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
