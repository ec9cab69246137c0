// Package ratelimit provides in-memory keyed token buckets (per IP, per
// account, per user+client) with bounded memory: idle buckets are dropped.
package ratelimit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter limits events per key at n per period with a burst of n.
type Limiter struct {
	n     int
	per   time.Duration
	now   func() time.Time
	mu    sync.Mutex
	keys  map[string]*entry
	sweep time.Time
}

type entry struct {
	lim  *rate.Limiter
	seen time.Time
}

// New returns a limiter of n events per period; n <= 0 returns nil, and a nil
// *Limiter allows everything.
func New(n int, per time.Duration, now func() time.Time) *Limiter {
	if n <= 0 || per <= 0 {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{n: n, per: per, now: now, keys: map[string]*entry{}}
}

// Allow takes one token for key. When none is left it returns false and how
// long until one is available.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.sweep) > l.per && len(l.keys) > 1024 {
		for k, e := range l.keys {
			if now.Sub(e.seen) > l.per {
				delete(l.keys, k)
			}
		}
		l.sweep = now
	}
	e, ok := l.keys[key]
	if !ok {
		e = &entry{lim: rate.NewLimiter(rate.Every(l.per/time.Duration(l.n)), l.n)}
		l.keys[key] = e
	}
	e.seen = now
	r := e.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}
