package bboltstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/latchkey/latchkey/storage"
)

// EnqueueOutbox stores the entries in one (batched) transaction. Entries with
// an empty ID get a time-ordered one; caller-set IDs must sort, byte-wise, in
// enqueue order. ErrAlreadyExists if an ID is already queued (or repeated).
func (s *Store) EnqueueOutbox(ctx context.Context, entries ...storage.OutboxEntry) error {
	entries = s.withOutboxIDs(entries)
	err := insert(s, ctx, entries, checkNewOutbox, putOutbox)
	if err != nil {
		return fmt.Errorf("enqueue %d outbox entries: %w", len(entries), err)
	}
	return nil
}

// withOutboxIDs returns entries with missing IDs filled in, copying the slice
// rather than writing to the caller's.
func (s *Store) withOutboxIDs(entries []storage.OutboxEntry) []storage.OutboxEntry {
	out, copied := entries, false
	for i := range entries {
		if entries[i].ID != "" {
			continue
		}
		if !copied {
			out, copied = slices.Clone(entries), true
		}
		out[i].ID = s.outboxIDs.Next(s.now())
	}
	return out
}

// checkNewOutbox refuses the entries before anything is written when an ID is
// taken or repeated.
func checkNewOutbox(tx *bolt.Tx, entries []storage.OutboxEntry) error {
	b := tx.Bucket(bucketOutbox)
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		if seen[e.ID] || b.Get([]byte(e.ID)) != nil {
			return fmt.Errorf("outbox entry %q: %w", e.ID, storage.ErrAlreadyExists)
		}
		seen[e.ID] = true
	}
	return nil
}

func putOutbox(tx *bolt.Tx, entries []storage.OutboxEntry) error {
	b := tx.Bucket(bucketOutbox)
	for _, e := range entries {
		v, err := encode(e)
		if err != nil {
			return err
		}
		if err := b.Put([]byte(e.ID), v); err != nil {
			return err
		}
	}
	return nil
}

// DueOutbox returns up to limit (limit <= 0: all) entries whose NextAttemptAt
// is not after now, in ID order (oldest first). It scans the whole queue,
// which stays small while deliveries keep up.
func (s *Store) DueOutbox(ctx context.Context, now time.Time, limit int) ([]storage.OutboxEntry, error) {
	var due []storage.OutboxEntry
	err := s.view(ctx, func(tx *bolt.Tx) error {
		due = nil
		c := tx.Bucket(bucketOutbox).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var e storage.OutboxEntry
			if err := decode(v, &e); err != nil {
				return err
			}
			if e.NextAttemptAt.After(now) {
				continue
			}
			if due = append(due, e); limit > 0 && len(due) == limit {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list due outbox entries: %w", err)
	}
	return due, nil
}

// UpdateOutbox applies fn to the entry and writes the result in one
// transaction. fn may be called more than once (the write is batched with
// concurrent ones), so it must be free of side effects; its error is returned
// unchanged. fn must not change ID. ErrNotFound if absent.
func (s *Store) UpdateOutbox(ctx context.Context, id string, fn func(storage.OutboxEntry) (storage.OutboxEntry, error)) (storage.OutboxEntry, error) {
	var (
		out   storage.OutboxEntry
		fnErr error
	)
	err := s.batch(ctx, func(tx *bolt.Tx) (error, error) {
		out, fnErr = storage.OutboxEntry{}, nil
		v := tx.Bucket(bucketOutbox).Get([]byte(id))
		if v == nil {
			return storage.ErrNotFound, nil
		}
		var e storage.OutboxEntry
		if err := decode(v, &e); err != nil {
			return nil, err
		}
		next, err := fn(e)
		if err != nil {
			fnErr = err
			return err, nil
		}
		if next.ID != id {
			return fmt.Errorf("updater changed id to %q: %w", next.ID, errInvalidID), nil
		}
		out = next
		return nil, putOutbox(tx, []storage.OutboxEntry{next})
	})
	return updateResult(out, err, fnErr, "update outbox entry %q", id)
}

// DeleteOutbox removes an entry; absent is not an error.
func (s *Store) DeleteOutbox(ctx context.Context, id string) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		if id == "" {
			return nil
		}
		return tx.Bucket(bucketOutbox).Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("delete outbox entry %q: %w", id, err)
	}
	return nil
}

// CountOutbox returns the number of queued entries.
func (s *Store) CountOutbox(ctx context.Context) (int, error) {
	n := 0
	err := s.view(ctx, func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketOutbox).Stats().KeyN
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("count outbox entries: %w", err)
	}
	return n, nil
}
