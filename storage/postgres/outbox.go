package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey/latchkey/storage"
)

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

const outboxColumns = `id, realm, kind, payload, attempts, next_attempt_at, created_at, last_error`

func scanOutbox(row pgx.Row) (storage.OutboxEntry, error) {
	var (
		e             storage.OutboxEntry
		attempts      int64
		next, created *time.Time
	)
	err := row.Scan(&e.ID, &e.Realm, &e.Kind, &e.Payload, &attempts, &next, &created, &e.LastError)
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.OutboxEntry{}, storage.ErrNotFound
	}
	if err != nil {
		return storage.OutboxEntry{}, err
	}
	e.Attempts = int(attempts)
	e.NextAttemptAt, e.CreatedAt = fromTS(next), fromTS(created)
	return e, nil
}

// insertOutbox stores entries (IDs filled in) or none of them:
// ErrAlreadyExists if an ID is repeated or already queued. The inserts skip
// conflicts rather than raise them, so that the enclosing transaction is not
// aborted, and a refused batch deletes the rows it did insert before
// returning, leaving the transaction as it found it.
func insertOutbox(ctx context.Context, q querier, entries []storage.OutboxEntry) error {
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		if !validIDs(e.ID) {
			return errInvalidID
		}
		if seen[e.ID] {
			return fmt.Errorf("outbox entry %q: %w", e.ID, storage.ErrAlreadyExists)
		}
		seen[e.ID] = true
	}
	var inserted []string
	for _, e := range entries {
		tag, err := q.Exec(ctx, `INSERT INTO outbox (`+outboxColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT DO NOTHING`,
			e.ID, e.Realm, e.Kind, e.Payload, int64(e.Attempts), ts(e.NextAttemptAt), ts(e.CreatedAt), e.LastError)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			if len(inserted) > 0 {
				if _, err := q.Exec(ctx, `DELETE FROM outbox WHERE id = ANY($1)`, inserted); err != nil {
					return err
				}
			}
			return fmt.Errorf("outbox entry %q: %w", e.ID, storage.ErrAlreadyExists)
		}
		inserted = append(inserted, e.ID)
	}
	return nil
}

// EnqueueOutbox stores the entries in one transaction. Entries with an empty
// ID get a time-ordered one; caller-set IDs must sort, byte-wise, in enqueue
// order. ErrAlreadyExists (and nothing stored) if an ID is already queued or
// repeated.
func (s *Store) EnqueueOutbox(ctx context.Context, entries ...storage.OutboxEntry) error {
	entries = s.withOutboxIDs(entries)
	var err error
	switch len(entries) {
	case 0:
		err = s.check(ctx)
	case 1:
		err = s.run(ctx, func(ctx context.Context, q querier) error { return insertOutbox(ctx, q, entries) })
	default:
		err = s.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error { return insertOutbox(ctx, tx, entries) })
	}
	if err != nil {
		return fmt.Errorf("enqueue %d outbox entries: %w", len(entries), err)
	}
	return nil
}

// DueOutbox returns up to limit (limit <= 0: all) entries whose NextAttemptAt
// is not after now (a zero one is due), in ID order (oldest first).
func (s *Store) DueOutbox(ctx context.Context, now time.Time, limit int) ([]storage.OutboxEntry, error) {
	var due []storage.OutboxEntry
	err := s.run(ctx, func(ctx context.Context, q querier) error {
		var lim *int64
		if limit > 0 {
			l := int64(limit)
			lim = &l
		}
		rows, err := q.Query(ctx, `SELECT `+outboxColumns+` FROM outbox
			WHERE next_attempt_at IS NULL OR next_attempt_at <= $1 ORDER BY id LIMIT $2`, ts(now), lim)
		if err != nil {
			return err
		}
		due, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.OutboxEntry, error) { return scanOutbox(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list due outbox entries: %w", err)
	}
	return due, nil
}

// UpdateOutbox applies fn to the entry, locked for the transaction, and
// writes the result. fn may be called more than once; its error is returned
// unchanged. fn must not change ID. ErrNotFound if absent.
func (s *Store) UpdateOutbox(ctx context.Context, id string, fn func(storage.OutboxEntry) (storage.OutboxEntry, error)) (storage.OutboxEntry, error) {
	var out storage.OutboxEntry
	err := s.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if !storable(id) {
			return storage.ErrNotFound
		}
		e, err := scanOutbox(tx.QueryRow(ctx, `SELECT `+outboxColumns+` FROM outbox WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		next, err := fn(e)
		if err != nil {
			return fnError{err}
		}
		if next.ID != id {
			return fmt.Errorf("updater changed id to %q: %w", next.ID, errInvalidID)
		}
		_, err = tx.Exec(ctx, `UPDATE outbox SET realm = $2, kind = $3, payload = $4, attempts = $5,
				next_attempt_at = $6, created_at = $7, last_error = $8
			WHERE id = $1`,
			id, next.Realm, next.Kind, next.Payload, int64(next.Attempts), ts(next.NextAttemptAt), ts(next.CreatedAt), next.LastError)
		if err != nil {
			return err
		}
		out = next
		return nil
	})
	var fe fnError
	switch {
	case err == nil:
		return out, nil
	case errors.As(err, &fe):
		return storage.OutboxEntry{}, fe.err
	default:
		return storage.OutboxEntry{}, fmt.Errorf("update outbox entry %q: %w", id, err)
	}
}

// DeleteOutbox removes an entry; absent is not an error.
func (s *Store) DeleteOutbox(ctx context.Context, id string) error {
	err := s.run(ctx, func(ctx context.Context, q querier) error {
		if id == "" || !storable(id) {
			return nil
		}
		_, err := q.Exec(ctx, `DELETE FROM outbox WHERE id = $1`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete outbox entry %q: %w", id, err)
	}
	return nil
}

// CountOutbox returns the number of queued entries.
func (s *Store) CountOutbox(ctx context.Context) (int, error) {
	var n int64
	err := s.run(ctx, func(ctx context.Context, q querier) error {
		return q.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("count outbox entries: %w", err)
	}
	return int(n), nil
}
