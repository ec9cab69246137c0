package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey/latchkey/storage"
)

// windowStart returns the start of the fixed window of length per that
// contains now: a multiple of per since the Unix epoch, as the contract says.
// (time.Truncate counts from year 1, which agrees only for lengths that
// divide a day.)
func windowStart(now time.Time, per time.Duration) time.Time {
	n := now.UnixNano()
	m := n % int64(per)
	if m < 0 {
		m += int64(per)
	}
	return time.Unix(0, n-m).UTC()
}

// CountEvent adds one event to key's fixed window containing now (the
// store's clock if zero) and returns the window's count and end. Keys are
// any bytes (stored as bytea): callers join request input with NULs. The
// increment is one upsert, so concurrent events (in any replica) are each
// counted once.
func (s *Store) CountEvent(ctx context.Context, key string, per time.Duration, now time.Time) (int, time.Time, error) {
	if per <= 0 {
		return 0, time.Time{}, fmt.Errorf("count event %q: window must be positive", key)
	}
	start := windowStart(s.orNow(now), per)
	end := start.Add(per)
	var n int64
	err := s.run(ctx, func(ctx context.Context, q querier) error {
		return q.QueryRow(ctx, `INSERT INTO rate_limit_windows (key, window_start, count, until) VALUES ($1, $2, 1, $3)
			ON CONFLICT (key, window_start) DO UPDATE SET count = rate_limit_windows.count + 1
			RETURNING count`, []byte(key), ts(start), ts(end)).Scan(&n)
	})
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("count event: %w", err)
	}
	return int(n), end, nil
}

// ReserveSlot takes key's slot until `until` unless a reservation holds it at
// now (the store's clock if zero); then ok is false and heldUntil is when it
// frees. The take is one conditional upsert, so of concurrent reservations
// (in any replica) exactly one wins.
func (s *Store) ReserveSlot(ctx context.Context, key string, until, now time.Time) (bool, time.Time, error) {
	at := ts(s.orNow(now))
	var (
		ok   bool
		held time.Time
	)
	err := s.run(ctx, func(ctx context.Context, q querier) error {
		ok, held = false, time.Time{}
		var got *time.Time
		err := q.QueryRow(ctx, `INSERT INTO rate_limit_slots (key, until) VALUES ($1, $2)
			ON CONFLICT (key) DO UPDATE SET until = EXCLUDED.until
				WHERE rate_limit_slots.until IS NULL OR rate_limit_slots.until <= $3
			RETURNING until`, []byte(key), ts(until), at).Scan(&got)
		if err == nil {
			ok = true
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		err = q.QueryRow(ctx, `SELECT until FROM rate_limit_slots WHERE key = $1`, []byte(key)).Scan(&got)
		if err == nil && got != nil && got.After(*at) {
			held = fromTS(got)
			return nil
		}
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		// Freed between the refused take and the read: free now, try again.
		return errRetry
	})
	if err != nil {
		return false, time.Time{}, fmt.Errorf("reserve slot: %w", err)
	}
	return ok, held, nil
}

// ReleaseSlot frees key's slot if the reservation ending at until still
// holds it; a later reservation is left alone, absent is not an error.
func (s *Store) ReleaseSlot(ctx context.Context, key string, until time.Time) error {
	err := s.run(ctx, func(ctx context.Context, q querier) error {
		_, err := q.Exec(ctx, `DELETE FROM rate_limit_slots WHERE key = $1 AND until IS NOT DISTINCT FROM $2`, []byte(key), ts(until))
		return err
	})
	if err != nil {
		return fmt.Errorf("release slot: %w", err)
	}
	return nil
}

// ClaimOutbox leases up to limit (<= 0: all) due entries, oldest first, by
// moving their NextAttemptAt to now+lease, and returns them as stored. The
// claim is one UPDATE over rows picked FOR UPDATE SKIP LOCKED: concurrent
// claimers (other replicas) pass over each other's rows instead of waiting,
// and a row claimed and committed meanwhile is re-checked and found not due,
// so each entry goes to exactly one claimer.
func (s *Store) ClaimOutbox(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]storage.OutboxEntry, error) {
	at := s.orNow(now)
	var claimed []storage.OutboxEntry
	err := s.run(ctx, func(ctx context.Context, q querier) error {
		var lim *int64
		if limit > 0 {
			l := int64(limit)
			lim = &l
		}
		rows, err := q.Query(ctx, `UPDATE outbox SET next_attempt_at = $2 WHERE id IN (
				SELECT id FROM outbox WHERE next_attempt_at IS NULL OR next_attempt_at <= $1
				ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED
			) RETURNING `+outboxColumns, ts(at), ts(at.Add(lease)), lim)
		if err != nil {
			return err
		}
		claimed, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.OutboxEntry, error) { return scanOutbox(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim outbox entries: %w", err)
	}
	// RETURNING follows no order; the contract's is oldest (lowest ID) first.
	slices.SortFunc(claimed, func(a, b storage.OutboxEntry) int { return strings.Compare(a.ID, b.ID) })
	return claimed, nil
}
