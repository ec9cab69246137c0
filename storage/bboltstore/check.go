package bboltstore

import (
	"bytes"
	"fmt"
	"maps"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/latchkey/latchkey/storage"
)

// checkIndexes verifies that the secondary index buckets hold exactly the
// entries their primary records imply, and that the one-time token group
// index points at the group's live token. It returns every mismatch found.
func checkIndexes(tx *bolt.Tx) []error {
	want := map[string]map[string]string{} // index bucket -> key -> value
	add := func(bucket []byte, k []byte, v string) {
		m := want[string(bucket)]
		if m == nil {
			m = map[string]string{}
			want[string(bucket)] = m
		}
		m[string(k)] = v
	}
	var errs []error
	each := func(bucket []byte, fn func(v []byte) error) {
		err := tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			if err := fn(v); err != nil {
				return fmt.Errorf("%s %q: %w", bucket, k, err)
			}
			return nil
		})
		if err != nil {
			errs = append(errs, err)
		}
	}

	each(bucketUsers, func(v []byte) error {
		var u storage.User
		if err := decode(v, &u); err != nil {
			return err
		}
		if u.Email != "" {
			add(bucketUsersByEmail, key(u.Realm, fold(u.Email)), u.ID)
		}
		if u.Username != "" {
			add(bucketUsersByName, key(u.Realm, fold(u.Username)), u.ID)
		}
		return nil
	})
	each(bucketSessions, func(v []byte) error {
		var s storage.Session
		if err := decode(v, &s); err != nil {
			return err
		}
		if s.TokenHash != "" {
			add(bucketSessionsByHash, key(s.Realm, s.TokenHash), s.ID)
		}
		if s.UserID != "" {
			add(bucketSessionsByUser, key(s.Realm, s.UserID, s.ID), s.ID)
		}
		return nil
	})
	each(bucketRefresh, func(v []byte) error {
		var t storage.RefreshToken
		if err := decode(v, &t); err != nil {
			return err
		}
		add(bucketRefreshByID, key(t.Realm, t.ID), t.Hash)
		if t.UserID != "" {
			add(bucketRefreshByUser, key(t.Realm, t.UserID, t.ID), t.Hash)
		}
		if t.SessionID != "" {
			add(bucketRefreshBySess, key(t.Realm, t.SessionID, t.ID), t.Hash)
		}
		return nil
	})
	liveInGroup := map[string]string{} // group index key -> hash of a live token
	each(bucketOTT, func(v []byte) error {
		var t storage.OneTimeToken
		if err := decode(v, &t); err != nil {
			return err
		}
		if t.Subject != "" {
			add(bucketOTTBySubject, key(t.Realm, t.Subject, t.Kind, t.Hash), t.Hash)
		}
		if t.Group != "" && t.ConsumedAt.IsZero() && !t.Superseded {
			gk := string(key(t.Realm, t.Kind, t.Group))
			if other, ok := liveInGroup[gk]; ok {
				return fmt.Errorf("two live tokens in group %q: %q and %q", gk, other, t.Hash)
			}
			liveInGroup[gk] = t.Hash
		}
		return nil
	})

	for _, index := range [][]byte{
		bucketUsersByEmail, bucketUsersByName, bucketSessionsByHash, bucketSessionsByUser,
		bucketRefreshByID, bucketRefreshByUser, bucketRefreshBySess, bucketOTTBySubject,
	} {
		expect := maps.Clone(want[string(index)])
		_ = tx.Bucket(index).ForEach(func(k, v []byte) error {
			w, ok := expect[string(k)]
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("%s: stale entry %q", index, k))
			case w != string(v):
				errs = append(errs, fmt.Errorf("%s: entry %q = %q, want %q", index, k, v, w))
			}
			delete(expect, string(k))
			return nil
		})
		for _, k := range slices.Sorted(maps.Keys(expect)) {
			errs = append(errs, fmt.Errorf("%s: missing entry %q", index, k))
		}
	}

	_ = tx.Bucket(bucketOTTByGroup).ForEach(func(k, v []byte) error {
		if parts := bytes.SplitN(k, []byte{0}, 3); len(parts) != 3 ||
			tx.Bucket(bucketOTT).Get(key(string(parts[0]), string(parts[1]), string(v))) == nil {
			errs = append(errs, fmt.Errorf("%s: entry %q points at no token", bucketOTTByGroup, k))
		}
		if live, ok := liveInGroup[string(k)]; ok && live != string(v) {
			errs = append(errs, fmt.Errorf("%s: entry %q = %q, but live token is %q", bucketOTTByGroup, k, v, live))
		}
		delete(liveInGroup, string(k))
		return nil
	})
	for _, k := range slices.Sorted(maps.Keys(liveInGroup)) {
		errs = append(errs, fmt.Errorf("%s: missing entry %q", bucketOTTByGroup, k))
	}
	return errs
}
