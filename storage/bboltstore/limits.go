package bboltstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/latchkey/latchkey/storage"
)

// bucketLimits holds rate-limit windows (key NUL window-start) and slots
// (key NUL "slot"). Both are small and swept once over.
var bucketLimits = []byte("rate_limits")

// limitRecord is a window's count or a slot's holder; Until is when the
// window ends or the slot frees.
type limitRecord struct {
	Count int
	Until time.Time
}

// CountEvent adds one event to key's fixed window containing now.
func (s *Store) CountEvent(ctx context.Context, k string, per time.Duration, now time.Time) (int, time.Time, error) {
	if per <= 0 {
		return 0, time.Time{}, fmt.Errorf("count event %q: window must be positive", k)
	}
	now = s.orNow(now)
	// Windows start at multiples of per since the Unix epoch (time.Truncate
	// would count from year 1, which differs for periods that do not divide
	// a day): every backend and replica must agree on the boundaries.
	ns := now.UnixNano()
	start := time.Unix(0, ns-ns%int64(per)).UTC()
	rec := limitRecord{Until: start.Add(per)}
	id := key(k, strconv.FormatInt(start.UnixNano(), 10))
	err := s.batch(ctx, func(tx *bolt.Tx) (error, error) {
		b := tx.Bucket(bucketLimits)
		var cur limitRecord
		if v := b.Get(id); v != nil {
			if err := decode(v, &cur); err != nil {
				return nil, err
			}
		}
		rec.Count = cur.Count + 1
		v, err := encode(rec)
		if err != nil {
			return nil, err
		}
		return nil, b.Put(id, v)
	})
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("count event: %w", err)
	}
	return rec.Count, rec.Until, nil
}

// ReserveSlot takes key's slot until `until` unless a reservation holds it at now.
func (s *Store) ReserveSlot(ctx context.Context, k string, until, now time.Time) (bool, time.Time, error) {
	now = s.orNow(now)
	var (
		ok   bool
		held time.Time
	)
	id := key(k, "slot")
	err := s.batch(ctx, func(tx *bolt.Tx) (error, error) {
		ok, held = false, time.Time{}
		b := tx.Bucket(bucketLimits)
		if v := b.Get(id); v != nil {
			var cur limitRecord
			if err := decode(v, &cur); err != nil {
				return nil, err
			}
			if cur.Until.After(now) {
				held = cur.Until
				return nil, nil
			}
		}
		v, err := encode(limitRecord{Until: until})
		if err != nil {
			return nil, err
		}
		ok = true
		return nil, b.Put(id, v)
	})
	if err != nil {
		return false, time.Time{}, fmt.Errorf("reserve slot: %w", err)
	}
	return ok, held, nil
}

// ReleaseSlot frees key's slot if the reservation ending at until still holds it.
func (s *Store) ReleaseSlot(ctx context.Context, k string, until time.Time) error {
	id := key(k, "slot")
	err := s.batch(ctx, func(tx *bolt.Tx) (error, error) {
		b := tx.Bucket(bucketLimits)
		v := b.Get(id)
		if v == nil {
			return nil, nil
		}
		var cur limitRecord
		if err := decode(v, &cur); err != nil {
			return nil, err
		}
		if !cur.Until.Equal(until) {
			return nil, nil
		}
		return nil, b.Delete(id)
	})
	if err != nil {
		return fmt.Errorf("release slot: %w", err)
	}
	return nil
}

// limitsSweep deletes windows that have ended and slots that have freed.
var limitsSweep = sweepTarget{
	name: "rate limits", bucket: bucketLimits,
	due: func(v []byte, now time.Time) (bool, error) {
		var r limitRecord
		err := decode(v, &r)
		return err == nil && !r.Until.After(now), err
	},
	remove: deleteKey(bucketLimits),
}

// ClaimOutbox leases due entries to the caller by moving their next attempt
// to now+lease in one transaction.
func (s *Store) ClaimOutbox(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]storage.OutboxEntry, error) {
	now = s.orNow(now)
	var claimed []storage.OutboxEntry
	err := s.batch(ctx, func(tx *bolt.Tx) (error, error) {
		claimed = nil
		c := tx.Bucket(bucketOutbox).Cursor()
		var due []storage.OutboxEntry
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var e storage.OutboxEntry
			if err := decode(v, &e); err != nil {
				return nil, err
			}
			if e.NextAttemptAt.After(now) {
				continue
			}
			if due = append(due, e); limit > 0 && len(due) == limit {
				break
			}
		}
		for i := range due {
			due[i].NextAttemptAt = now.Add(lease)
		}
		if err := putOutbox(tx, due); err != nil {
			return nil, err
		}
		claimed = due
		return nil, nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim outbox entries: %w", err)
	}
	return claimed, nil
}
