// Package bolttest gives unit tests the real bbolt store — in t.TempDir(),
// checked for consistency and closed at cleanup — and the test kit's clock
// standing still at T0. It imports nothing but the store and
// internal/testkit/clock, so any package's tests can use it without an import
// cycle (internal/testkit, which boots the whole server, cannot).
package bolttest

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testkit/clock"
	"github.com/latchkey/latchkey/storage/bboltstore"
)

// T0 is a fixed starting instant, so that durations in tests are exact.
var T0 = clock.T0

// Clock is the test kit's clock (internal/testkit/clock), which only moves
// when a test advances it.
type Clock = clock.Clock

// NewClock returns a clock standing at T0.
func NewClock() *Clock { return clock.At(T0) }

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
