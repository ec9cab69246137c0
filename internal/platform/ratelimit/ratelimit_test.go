package ratelimit

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testkit/clock"
)

// newClock is the kit's clock standing still at T0 (2030-06-01 12:00 UTC).
func newClock() *clock.Clock { return clock.At(clock.T0) }

func TestNewUnlimited(t *testing.T) {
	tests := []struct {
		n   int
		per time.Duration
	}{
		{0, time.Second},
		{-1, time.Second},
		{5, 0},
		{5, -time.Second},
	}
	for _, tt := range tests {
		l := New(tt.n, tt.per, nil)
		if l != nil {
			t.Errorf("New(%d, %s) = %v, want nil (unlimited)", tt.n, tt.per, l)
		}
		for range 1000 {
			if ok, retry := l.Allow("k"); !ok || retry != 0 {
				t.Fatalf("nil limiter Allow = %v, %s; want true, 0", ok, retry)
			}
		}
	}
}

// step is one call: move the clock by advance, then Allow(key).
type step struct {
	advance time.Duration
	key     string
	want    bool
	retry   time.Duration // for refusals: the exact wait
}

func TestAllowSequences(t *testing.T) {
	allow := func(d time.Duration, k string) step { return step{d, k, true, 0} }
	deny := func(d time.Duration, k string, retry time.Duration) step { return step{d, k, false, retry} }
	tests := []struct {
		name  string
		n     int
		per   time.Duration
		steps []step
	}{
		{"burst of n then refusal", 5, time.Minute, []step{
			allow(0, "a"), allow(0, "a"), allow(0, "a"), allow(0, "a"), allow(0, "a"),
			// One token per 12s.
			deny(0, "a", 12*time.Second),
			deny(2*time.Second, "a", 10*time.Second),
		}},
		{"refusals do not use up tokens", 2, time.Second, []step{
			allow(0, "a"), allow(0, "a"),
			deny(0, "a", 500*time.Millisecond), deny(0, "a", 500*time.Millisecond), deny(0, "a", 500*time.Millisecond),
			allow(500*time.Millisecond, "a"),
			deny(0, "a", 500*time.Millisecond),
		}},
		{"refill over time", 3, 3 * time.Second, []step{
			allow(0, "a"), allow(0, "a"), allow(0, "a"), deny(0, "a", time.Second),
			allow(time.Second, "a"), deny(0, "a", time.Second),
			// Two periods of idleness refill to the burst, not beyond.
			allow(time.Hour, "a"), allow(0, "a"), allow(0, "a"), deny(0, "a", time.Second),
		}},
		{"keys are independent", 1, time.Minute, []step{
			allow(0, "a"), deny(0, "a", time.Minute),
			allow(0, "b"), deny(0, "b", time.Minute),
			allow(0, "203.0.113.9"), allow(0, ""), deny(0, "", time.Minute),
			deny(30*time.Second, "a", 30*time.Second),
			allow(30*time.Second, "a"), allow(0, "b"),
		}},
		{"one per hour", 1, time.Hour, []step{
			allow(0, "a"), deny(59*time.Minute, "a", time.Minute), allow(time.Minute, "a"),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			l := New(tt.n, tt.per, clk.Now)
			for i, st := range tt.steps {
				clk.Advance(st.advance)
				ok, retry := l.Allow(st.key)
				if ok != st.want || retry != st.retry {
					t.Fatalf("step %d (+%s, key %q): Allow = %v, %s; want %v, %s", i, st.advance, st.key, ok, retry, st.want, st.retry)
				}
			}
		})
	}
}

// With many keys, the buckets idle for longer than a period are dropped, and
// recently used ones are kept with their state.
func TestIdleKeysAreSwept(t *testing.T) {
	clk := newClock()
	l := New(1, time.Minute, clk.Now)
	for i := range 1100 {
		if ok, _ := l.Allow(fmt.Sprintf("idle-%d", i)); !ok {
			t.Fatalf("first Allow of key %d refused", i)
		}
	}
	clk.Advance(2 * time.Minute)
	if ok, _ := l.Allow("busy"); !ok {
		t.Fatal("first Allow(busy) refused")
	}
	l.mu.Lock()
	n := len(l.keys)
	l.mu.Unlock()
	if n != 1 {
		t.Errorf("%d buckets after the sweep, want 1 (only busy)", n)
	}
	// The kept bucket still remembers its token was spent.
	if ok, retry := l.Allow("busy"); ok || retry != time.Minute {
		t.Errorf("Allow(busy) after the sweep = %v, %s; want false, 1m", ok, retry)
	}
}

// Few keys are never swept (the sweep only runs above 1024 keys), and a
// sweep runs at most once per period.
func TestSweepThresholds(t *testing.T) {
	clk := newClock()
	l := New(1, time.Minute, clk.Now)
	for i := range 10 {
		l.Allow(fmt.Sprint(i))
	}
	clk.Advance(time.Hour)
	l.Allow("x")
	l.mu.Lock()
	n := len(l.keys)
	l.mu.Unlock()
	if n != 11 {
		t.Errorf("%d buckets with few keys, want 11 (no sweep)", n)
	}

	for i := range 1100 {
		l.Allow(fmt.Sprint("many-", i))
	}
	clk.Advance(2 * time.Minute)
	l.Allow("first-sweep")
	// These are new and under a period old: the next sweep may not drop them.
	for i := range 1100 {
		l.Allow(fmt.Sprint("fresh-", i))
	}
	clk.Advance(30 * time.Second)
	l.Allow("too-soon")
	l.mu.Lock()
	n = len(l.keys)
	l.mu.Unlock()
	if want := 1 + 1100 + 1; n != want {
		t.Errorf("%d buckets, want %d (first-sweep, fresh-*, too-soon)", n, want)
	}
}

func TestAllowConcurrent(t *testing.T) {
	clk := newClock()
	l := New(10, time.Minute, clk.Now)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, _ := l.Allow("k"); ok {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if allowed != 10 {
		t.Errorf("%d of 50 parallel calls allowed, want exactly the burst, 10", allowed)
	}
}
