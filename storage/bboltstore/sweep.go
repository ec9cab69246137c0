package bboltstore

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/latchkey/latchkey/storage"
)

// sweepChunk bounds the deletions per write transaction so that a sweep of a
// large backlog never holds the writer lock for long.
const sweepChunk = 1000

// loginFailureRetention is how long a login failure record outlives its last
// failure once any lockout is over.
const loginFailureRetention = 12 * time.Hour

// sweepTarget is one bucket of records with a lifetime.
type sweepTarget struct {
	name   string
	bucket []byte
	// due decodes a stored value and reports whether it is due for deletion.
	due func(v []byte, now time.Time) (bool, error)
	// remove deletes the record at k with its index entries and dependents,
	// returning how many records it removed.
	remove func(tx *bolt.Tx, k, v []byte) (int, error)
}

// deleteKey removes a record that has no index entries.
func deleteKey(bucket []byte) func(tx *bolt.Tx, k, v []byte) (int, error) {
	return func(tx *bolt.Tx, k, _ []byte) (int, error) {
		return 1, tx.Bucket(bucket).Delete(k)
	}
}

var sweepTargets = []sweepTarget{
	{
		name: "auth requests", bucket: bucketAuthRequests,
		due: func(v []byte, now time.Time) (bool, error) {
			var a storage.AuthRequest
			err := decode(v, &a)
			return err == nil && expired(a.ExpiresAt, now), err
		},
		remove: deleteKey(bucketAuthRequests),
	},
	{
		// Sessions go before refresh tokens so that tokens bound to a swept
		// session are counted once, as the session's dependents.
		name: "sessions", bucket: bucketSessions,
		due: func(v []byte, now time.Time) (bool, error) {
			var s storage.Session
			err := decode(v, &s)
			idle := !s.IdleUntil.IsZero() && expired(s.IdleUntil, now)
			return err == nil && (expired(s.ExpiresAt, now) || idle), err
		},
		remove: func(tx *bolt.Tx, _, v []byte) (int, error) {
			var s storage.Session
			if err := decode(v, &s); err != nil {
				return 0, err
			}
			return deleteSession(tx, s.Realm, s.ID)
		},
	},
	{
		name: "one-time tokens", bucket: bucketOTT,
		due: func(v []byte, now time.Time) (bool, error) {
			var t storage.OneTimeToken
			err := decode(v, &t)
			return err == nil && expired(t.ExpiresAt, now), err
		},
		remove: func(tx *bolt.Tx, _, v []byte) (int, error) {
			var t storage.OneTimeToken
			if err := decode(v, &t); err != nil {
				return 0, err
			}
			return 1, oneTimeTable.remove(tx, t)
		},
	},
	{
		name: "refresh tokens", bucket: bucketRefresh,
		due: func(v []byte, now time.Time) (bool, error) {
			var t storage.RefreshToken
			err := decode(v, &t)
			return err == nil && expired(t.ExpiresAt, now), err
		},
		remove: func(tx *bolt.Tx, _, v []byte) (int, error) {
			var t storage.RefreshToken
			if err := decode(v, &t); err != nil {
				return 0, err
			}
			return deleteRefreshToken(tx, t.Realm, t.Hash)
		},
	},
	{
		name: "revocations", bucket: bucketRevocations,
		due: func(v []byte, now time.Time) (bool, error) {
			var r revocation
			err := decode(v, &r)
			return err == nil && expired(r.ExpiresAt, now), err
		},
		remove: deleteKey(bucketRevocations),
	},
	{
		name: "login failures", bucket: bucketLoginFailures,
		due: func(v []byte, now time.Time) (bool, error) {
			var f storage.LoginFailures
			err := decode(v, &f)
			stale := f.LockedUntil.Before(now) && f.LastFailure.Before(now.Add(-loginFailureRetention))
			return err == nil && stale, err
		},
		remove: deleteKey(bucketLoginFailures),
	},
	limitsSweep,
}

// Sweep deletes the records whose lifetime is over at now: auth requests,
// one-time tokens, refresh tokens and revocations whose expiry is not after
// now; sessions past ExpiresAt or (when set) IdleUntil, with their index
// entries and bound refresh tokens; login failures whose lockout is over and
// whose last failure is more than 12 hours old. It returns how many records
// it removed, cascaded refresh tokens included.
//
// Each bucket is scanned in read transactions and cleaned in write
// transactions of at most sweepChunk deletions, each re-checking the record
// (a session may have been extended since the scan). A sweep that fails part
// way keeps what it removed and reports the count so far.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for _, target := range sweepTargets {
		n, err := s.sweep(ctx, target, now)
		total += n
		if err != nil {
			return total, fmt.Errorf("sweep %s: %w", target.name, err)
		}
	}
	return total, nil
}

// sweep cleans one bucket, chunk by chunk.
func (s *Store) sweep(ctx context.Context, target sweepTarget, now time.Time) (int, error) {
	removed := 0
	var after []byte
	for {
		var (
			keys [][]byte
			done bool
		)
		err := s.view(ctx, func(tx *bolt.Tx) error {
			keys, done = nil, false
			c := tx.Bucket(target.bucket).Cursor()
			k, v := c.First()
			if after != nil {
				if k, v = c.Seek(after); bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for ; k != nil; k, v = c.Next() {
				due, err := target.due(v, now)
				if err != nil {
					return fmt.Errorf("record %q: %w", k, err)
				}
				if due {
					keys = append(keys, bytes.Clone(k))
				}
				if len(keys) == sweepChunk {
					after = bytes.Clone(k)
					return nil
				}
			}
			done = true
			return nil
		})
		if err != nil {
			return removed, err
		}
		if len(keys) > 0 {
			n := 0
			err := s.update(ctx, func(tx *bolt.Tx) error {
				n = 0
				b := tx.Bucket(target.bucket)
				for _, k := range keys {
					v := b.Get(k)
					if v == nil {
						continue
					}
					// Copy v: remove writes to the bucket v points into.
					v = bytes.Clone(v)
					if due, err := target.due(v, now); err != nil || !due {
						if err != nil {
							return fmt.Errorf("record %q: %w", k, err)
						}
						continue
					}
					m, err := target.remove(tx, k, v)
					if err != nil {
						return err
					}
					n += m
				}
				return nil
			})
			if err != nil {
				return removed, err
			}
			removed += n
		}
		if done {
			return removed, nil
		}
	}
}
