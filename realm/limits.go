package realm

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/latchkey/latchkey/internal/platform/ratelimit"
	"github.com/latchkey/latchkey/storage"
)

// Limiter enforces "N events per period" per key (a client IP, an account).
// Where replicas may share the store (PostgreSQL), events are counted in the
// store in fixed windows, so that every replica spends one budget; with the
// embedded bbolt file exactly one process owns the store, so its in-memory
// token buckets are the whole truth and no write is spent on counting. A nil
// or unlimited Limiter allows everything.
type Limiter struct {
	rate   Rate
	name   string // key prefix in the store: realm and what is limited
	memory *ratelimit.Limiter
	store  storage.Limits
	now    func() time.Time
}

// newLimiter returns a limiter of rate for keys of name; shared counts in store.
func newLimiter(rate Rate, name string, store storage.Limits, shared bool, now func() time.Time) *Limiter {
	if rate.N <= 0 {
		return nil
	}
	l := &Limiter{rate: rate, name: name, now: now}
	if shared {
		l.store = store
	} else {
		l.memory = ratelimit.New(rate.N, rate.Per, now)
	}
	return l
}

// Allow counts one event for key. When the budget is spent it returns false
// and how long until it renews. An error means the shared counter could not
// be reached (the caller answers 503).
func (l *Limiter) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	if l == nil {
		return true, 0, nil
	}
	if l.memory != nil {
		ok, wait := l.memory.Allow(key)
		return ok, wait, nil
	}
	now := l.now()
	n, end, err := l.store.CountEvent(ctx, l.name+"\x00"+key, l.rate.Per, now)
	if err != nil {
		return false, 0, fmt.Errorf("rate limit %s: %w", l.name, err)
	}
	if n > l.rate.N {
		return false, end.Sub(now), nil
	}
	return true, 0, nil
}

// Slots hold "at most one per interval" reservations per key (the magic
// link's resend interval), shared through the store like Limiter's counts.
type Slots struct {
	name  string
	store storage.Limits // nil: in memory
	now   func() time.Time
	mu    sync.Mutex
	until map[string]time.Time
}

func newSlots(name string, store storage.Limits, shared bool, now func() time.Time) *Slots {
	s := &Slots{name: name, now: now, until: map[string]time.Time{}}
	if shared {
		s.store = store
	}
	return s
}

// Reserve takes key's slot for interval. When another reservation holds it,
// ok is false and wait says for how long. release gives the slot back (when
// what the reservation guarded failed), unless a later one replaced it.
func (s *Slots) Reserve(ctx context.Context, key string, interval time.Duration) (release func(), wait time.Duration, ok bool, err error) {
	if interval <= 0 {
		return func() {}, 0, true, nil
	}
	now := s.now()
	until := now.Add(interval)
	if s.store != nil {
		k := s.name + "\x00" + key
		ok, held, err := s.store.ReserveSlot(ctx, k, until, now)
		if err != nil || !ok {
			return nil, held.Sub(now), false, err
		}
		return func() { _ = s.store.ReleaseSlot(context.WithoutCancel(ctx), k, until) }, 0, true, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.until) > 4096 { // bounded memory: forget slots that are free again
		for k, t := range s.until {
			if !t.After(now) {
				delete(s.until, k)
			}
		}
	}
	prev, had := s.until[key]
	if had && prev.After(now) {
		return nil, prev.Sub(now), false, nil
	}
	s.until[key] = until
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.until[key].Equal(until) {
			if had {
				s.until[key] = prev
			} else {
				delete(s.until, key)
			}
		}
	}, 0, true, nil
}
