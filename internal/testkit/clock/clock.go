// Package clock is the test kit's one clock. It imports nothing of Latchkey,
// so that any package's tests can use it (storage/bboltstore/bolttest and
// internal/testkit both do).
package clock

import (
	"sync/atomic"
	"time"
)

// T0 is a fixed starting instant, so that durations in tests are exact.
var T0 = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

// Clock is a clock that tests move forward, safe for concurrent use. The
// zero value follows real time, shifted by what Advance added (for servers
// whose libraries also read the real clock); a clock from At stands still
// at its instant until advanced (for exact durations). Do not copy a Clock.
type Clock struct {
	base   time.Time // zero: real time
	offset atomic.Int64
}

// New returns a clock that follows real time.
func New() *Clock { return &Clock{} }

// At returns a clock standing still at t (not the zero time).
func At(t time.Time) *Clock { return &Clock{base: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	off := time.Duration(c.offset.Load())
	if c.base.IsZero() {
		return time.Now().Add(off)
	}
	return c.base.Add(off)
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }
