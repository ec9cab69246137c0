package bboltstore

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/latchkey/latchkey/storage"
)

// A table is the primary bucket of one kind of record together with the
// index buckets derived from its records. Writers store and delete such
// records only through put and remove, which keep the indexes in step, and
// Check verifies the indexes against the same definitions: an index is
// stated once, so it cannot be written without being checked.
type table[T any] struct {
	bucket []byte
	key    func(T) []byte
	// valid reports whether rec's key parts can be stored: the identifiers
	// of its primary key non-empty, and no part of any key containing NUL.
	valid func(T) bool
	// keyName names the primary key in a refusal ("id: already exists");
	// empty leaves the refusal bare.
	keyName string
	indexes []*index[T]
}

// An index maps a key derived from a record to a value that finds the record
// again.
type index[T any] struct {
	bucket []byte
	// entry returns the record's entry; ok is false when the record has none
	// (its indexed field is empty).
	entry func(T) (k []byte, v string, ok bool)
	// unique, when set, names the indexed field in refusals: a record may not
	// take an entry that another record holds.
	unique string
	// live, when set, makes this an index whose key several records share
	// (the tokens of one group). Its entry names the record written last and
	// is removed only with that record, so it may outlive the record's use.
	// live reports the records it must name; a key has at most one.
	live func(T) bool
}

// indexedTable is a table whatever its record type: what Check needs of it,
// and its buckets, by which a test makes sure that no bucket of the file is
// left out of both the tables and the list of buckets without indexes.
type indexedTable interface {
	buckets() (primary []byte, indexes [][]byte)
	checkIndexes(tx *bolt.Tx) []error
}

// indexedTables lists every table; Check verifies the indexes of each.
var indexedTables = []indexedTable{&userTable, &sessionTable, &refreshTable, &oneTimeTable}

var userTable = table[storage.User]{
	bucket: bucketUsers, keyName: "id",
	key:   func(u storage.User) []byte { return key(u.Realm, u.ID) },
	valid: func(u storage.User) bool { return validIDs(u.Realm, u.ID) && noNUL(u.Email, u.Username) },
	indexes: []*index[storage.User]{
		{bucket: bucketUsersByEmail, unique: "email", entry: func(u storage.User) ([]byte, string, bool) {
			return key(u.Realm, fold(u.Email)), u.ID, u.Email != ""
		}},
		{bucket: bucketUsersByName, unique: "username", entry: func(u storage.User) ([]byte, string, bool) {
			return key(u.Realm, fold(u.Username)), u.ID, u.Username != ""
		}},
	},
}

var sessionTable = table[storage.Session]{
	bucket: bucketSessions, keyName: "id",
	key:   func(s storage.Session) []byte { return key(s.Realm, s.ID) },
	valid: func(s storage.Session) bool { return validIDs(s.Realm, s.ID) && noNUL(s.TokenHash, s.UserID) },
	indexes: []*index[storage.Session]{
		{bucket: bucketSessionsByHash, unique: "token hash", entry: func(s storage.Session) ([]byte, string, bool) {
			return key(s.Realm, s.TokenHash), s.ID, s.TokenHash != ""
		}},
		{bucket: bucketSessionsByUser, entry: func(s storage.Session) ([]byte, string, bool) {
			return key(s.Realm, s.UserID, s.ID), s.ID, s.UserID != ""
		}},
	},
}

var refreshTable = table[storage.RefreshToken]{
	bucket: bucketRefresh, keyName: "hash",
	key: func(t storage.RefreshToken) []byte { return key(t.Realm, t.Hash) },
	valid: func(t storage.RefreshToken) bool {
		return validIDs(t.Realm, t.ID, t.Hash) && noNUL(t.UserID, t.SessionID)
	},
	indexes: []*index[storage.RefreshToken]{
		{bucket: bucketRefreshByID, unique: "id", entry: func(t storage.RefreshToken) ([]byte, string, bool) {
			return key(t.Realm, t.ID), t.Hash, true
		}},
		{bucket: bucketRefreshByUser, entry: func(t storage.RefreshToken) ([]byte, string, bool) {
			return key(t.Realm, t.UserID, t.ID), t.Hash, t.UserID != ""
		}},
		{bucket: bucketRefreshBySess, entry: func(t storage.RefreshToken) ([]byte, string, bool) {
			return key(t.Realm, t.SessionID, t.ID), t.Hash, t.SessionID != ""
		}},
	},
}

// oneTimeByGroup names the latest token of each group, which issuing the
// next one supersedes.
var oneTimeByGroup = &index[storage.OneTimeToken]{
	bucket: bucketOTTByGroup, live: liveToken,
	entry: func(t storage.OneTimeToken) ([]byte, string, bool) {
		return key(t.Realm, t.Kind, t.Group), t.Hash, t.Group != ""
	},
}

var oneTimeTable = table[storage.OneTimeToken]{
	bucket: bucketOTT,
	key:    func(t storage.OneTimeToken) []byte { return key(t.Realm, t.Kind, t.Hash) },
	valid: func(t storage.OneTimeToken) bool {
		return validIDs(t.Realm, t.Kind, t.Hash) && noNUL(t.Group, t.Subject)
	},
	indexes: []*index[storage.OneTimeToken]{
		oneTimeByGroup,
		{bucket: bucketOTTBySubject, entry: func(t storage.OneTimeToken) ([]byte, string, bool) {
			return key(t.Realm, t.Subject, t.Kind, t.Hash), t.Hash, t.Subject != ""
		}},
	},
}

// liveToken reports whether t can still be consumed, expiry aside.
func liveToken(t storage.OneTimeToken) bool { return t.ConsumedAt.IsZero() && !t.Superseded }

// get returns the record stored at k; ErrNotFound if there is none.
func (tb *table[T]) get(tx *bolt.Tx, k []byte) (T, error) {
	var rec T
	v := tx.Bucket(tb.bucket).Get(k)
	if v == nil {
		return rec, storage.ErrNotFound
	}
	err := decode(v, &rec)
	return rec, err
}

// checkNew refuses a new record, before anything is written, whose key parts
// cannot be stored or whose keys are taken.
func (tb *table[T]) checkNew(tx *bolt.Tx, rec T) error {
	if !tb.valid(rec) {
		return errInvalidID
	}
	return tb.checkFree(tx, rec, nil)
}

// checkFree refuses rec, before anything is written, when its key is taken
// (for a new record: old is nil) or another record holds a unique index
// entry that rec would take. old is the stored version of an updated record.
func (tb *table[T]) checkFree(tx *bolt.Tx, rec T, old *T) error {
	if old == nil && tx.Bucket(tb.bucket).Get(tb.key(rec)) != nil {
		if tb.keyName == "" {
			return storage.ErrAlreadyExists
		}
		return fmt.Errorf("%s: %w", tb.keyName, storage.ErrAlreadyExists)
	}
	for _, ix := range tb.indexes {
		if ix.unique == "" {
			continue
		}
		k, v, ok := ix.entry(rec)
		if !ok {
			continue
		}
		if holder := tx.Bucket(ix.bucket).Get(k); holder != nil && string(holder) != v {
			return fmt.Errorf("%s: %w", ix.unique, storage.ErrAlreadyExists)
		}
	}
	return nil
}

// put writes rec and moves its index entries from those of old, the stored
// version (nil for a new record). Callers have run checkFree.
func (tb *table[T]) put(tx *bolt.Tx, rec T, old *T) error {
	v, err := encode(rec)
	if err != nil {
		return err
	}
	for _, ix := range tb.indexes {
		if err := ix.move(tx, old, &rec); err != nil {
			return err
		}
	}
	return tx.Bucket(tb.bucket).Put(tb.key(rec), v)
}

// add writes a new record, checked by checkNew, with its index entries.
func (tb *table[T]) add(tx *bolt.Tx, rec T) error { return tb.put(tx, rec, nil) }

// update applies fn to the record at k and writes the result with its index
// entries moved. fn's error is returned unchanged; fn must keep the key.
func (tb *table[T]) update(tx *bolt.Tx, k []byte, fn func(T) (T, error)) (T, error) {
	var zero T
	old, err := tb.get(tx, k)
	if err != nil {
		return zero, err
	}
	rec, err := fn(old)
	if err != nil {
		return zero, err
	}
	if got := tb.key(rec); !bytes.Equal(got, k) {
		return zero, fmt.Errorf("updater changed the key to %q: %w", got, errInvalidID)
	}
	if !tb.valid(rec) {
		return zero, errInvalidID
	}
	if err := tb.checkFree(tx, rec, &old); err != nil {
		return zero, err
	}
	return rec, tb.put(tx, rec, &old)
}

// updateRecord is an Update method of a table's records: tb.update in a
// write transaction of its own (fn runs once), with the result updateResult
// makes of it.
func updateRecord[T any](s *Store, ctx context.Context, tb *table[T], k []byte, fn func(T) (T, error), format string, args ...any) (T, error) {
	var (
		out   T
		fnErr error
	)
	err := s.update(ctx, func(tx *bolt.Tx) (err error) {
		out, err = tb.update(tx, k, func(rec T) (T, error) {
			rec, fnErr = fn(rec)
			return rec, fnErr
		})
		return err
	})
	return updateResult(out, err, fnErr, format, args...)
}

// remove deletes rec with its index entries.
func (tb *table[T]) remove(tx *bolt.Tx, rec T) error {
	for _, ix := range tb.indexes {
		if err := ix.move(tx, &rec, nil); err != nil {
			return err
		}
	}
	return tx.Bucket(tb.bucket).Delete(tb.key(rec))
}

func (tb *table[T]) buckets() (primary []byte, indexes [][]byte) {
	for _, ix := range tb.indexes {
		indexes = append(indexes, ix.bucket)
	}
	return tb.bucket, indexes
}

// move replaces the entry of from (nil: none) by that of to (nil: none),
// leaving the bucket alone when they are the same. A shared index's entry
// goes only if it still names from: a newer record may own it.
func (ix *index[T]) move(tx *bolt.Tx, from, to *T) error {
	var (
		fromKey, toKey []byte
		fromVal, toVal string
		hasFrom, hasTo bool
	)
	if from != nil {
		fromKey, fromVal, hasFrom = ix.entry(*from)
	}
	if to != nil {
		toKey, toVal, hasTo = ix.entry(*to)
	}
	if hasFrom && hasTo && bytes.Equal(fromKey, toKey) && fromVal == toVal {
		return nil
	}
	b := tx.Bucket(ix.bucket)
	if hasFrom && (ix.live == nil || string(b.Get(fromKey)) == fromVal) {
		if err := b.Delete(fromKey); err != nil {
			return err
		}
	}
	if hasTo {
		return b.Put(toKey, []byte(toVal))
	}
	return nil
}
