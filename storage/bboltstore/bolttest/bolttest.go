// Package bolttest gives unit tests the real bbolt store — in t.TempDir(),
// checked for consistency and closed at cleanup — and a manually moved clock.
// It imports nothing but the store, so any package's tests can use it without
// an import cycle (internal/testkit, which boots the whole server, cannot).
package bolttest

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage/bboltstore"
)

// T0 is a fixed starting instant, so that durations in tests are exact.
var T0 = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

// Clock is a manually moved clock, safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock standing at T0.
func NewClock() *Clock { return &Clock{now: T0} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Open opens a store in t.TempDir() whose expiry checks use now (nil: the
// real clock). At cleanup it runs the store's consistency check (bbolt's
// tx.Check plus the index check), then closes it. Writes are not fsync'd:
// these tests are not about durability.
func Open(t testing.TB, now func() time.Time) *bboltstore.Store {
	t.Helper()
	s, err := bboltstore.Open(filepath.Join(t.TempDir(), "latchkey.db"), bboltstore.Options{NoSync: true, Now: now})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Check(); err != nil {
			t.Errorf("store check: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return s
}
