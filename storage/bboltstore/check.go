package bboltstore

import (
	"fmt"
	"maps"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// checkIndexes verifies the index buckets of every table against the records
// of its primary bucket and returns every mismatch found.
func checkIndexes(tx *bolt.Tx) []error {
	var errs []error
	for _, tb := range indexedTables {
		errs = append(errs, tb.checkIndexes(tx)...)
	}
	return errs
}

// expectedEntries is what the records of a table imply for one index.
type expectedEntries struct {
	// entries holds, for each key, the values of the records that have it:
	// exactly one for an ordinary index.
	entries map[string][]string
	// live holds, for a shared index, the value of each key's live record.
	live map[string]string
}

func (tb *table[T]) checkIndexes(tx *bolt.Tx) []error {
	var errs []error
	expected := make([]expectedEntries, len(tb.indexes))
	for i := range expected {
		expected[i] = expectedEntries{entries: map[string][]string{}, live: map[string]string{}}
	}
	_ = tx.Bucket(tb.bucket).ForEach(func(k, v []byte) error {
		var rec T
		if err := decode(v, &rec); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", tb.bucket, k, err))
			return nil
		}
		for i, ix := range tb.indexes {
			ek, ev, ok := ix.entry(rec)
			if !ok {
				continue
			}
			want := &expected[i]
			want.entries[string(ek)] = append(want.entries[string(ek)], ev)
			if ix.live == nil || !ix.live(rec) {
				continue
			}
			if other, dup := want.live[string(ek)]; dup {
				errs = append(errs, fmt.Errorf("%s: two live records under %q: %q and %q", ix.bucket, ek, other, ev))
				continue
			}
			want.live[string(ek)] = ev
		}
		return nil
	})
	for i, ix := range tb.indexes {
		if ix.live == nil {
			errs = append(errs, checkIndex(tx, ix.bucket, expected[i].entries)...)
		} else {
			errs = append(errs, checkSharedIndex(tx, ix.bucket, expected[i])...)
		}
	}
	return errs
}

// checkIndex verifies that an ordinary index holds exactly the expected
// entries, each naming its one record.
func checkIndex(tx *bolt.Tx, bucket []byte, expected map[string][]string) []error {
	var errs []error
	unseen := maps.Clone(expected)
	_ = tx.Bucket(bucket).ForEach(func(k, v []byte) error {
		want, ok := unseen[string(k)]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s: stale entry %q", bucket, k))
		case len(want) > 1:
			errs = append(errs, fmt.Errorf("%s: entry %q claimed by %q", bucket, k, want))
		case want[0] != string(v):
			errs = append(errs, fmt.Errorf("%s: entry %q = %q, want %q", bucket, k, v, want[0]))
		}
		delete(unseen, string(k))
		return nil
	})
	for _, k := range slices.Sorted(maps.Keys(unseen)) {
		errs = append(errs, fmt.Errorf("%s: missing entry %q", bucket, k))
	}
	return errs
}

// checkSharedIndex verifies that each entry of a shared index names a record
// with its key, the live one when there is one, and that every key with a
// live record has an entry.
func checkSharedIndex(tx *bolt.Tx, bucket []byte, expected expectedEntries) []error {
	var errs []error
	unseen := maps.Clone(expected.live)
	_ = tx.Bucket(bucket).ForEach(func(k, v []byte) error {
		live, hasLive := expected.live[string(k)]
		switch {
		case !slices.Contains(expected.entries[string(k)], string(v)):
			errs = append(errs, fmt.Errorf("%s: entry %q points at no record with that key", bucket, k))
		case hasLive && live != string(v):
			errs = append(errs, fmt.Errorf("%s: entry %q = %q, but the live record is %q", bucket, k, v, live))
		}
		delete(unseen, string(k))
		return nil
	})
	for _, k := range slices.Sorted(maps.Keys(unseen)) {
		errs = append(errs, fmt.Errorf("%s: missing entry %q", bucket, k))
	}
	return errs
}
