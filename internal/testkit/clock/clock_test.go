package clock_test

import (
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testkit/clock"
)

func TestAtStandsStill(t *testing.T) {
	c := clock.At(clock.T0)
	if got := c.Now(); !got.Equal(clock.T0) {
		t.Fatalf("Now = %s, want T0 %s", got, clock.T0)
	}
	c.Advance(90 * time.Second)
	if got, want := c.Now(), clock.T0.Add(90*time.Second); !got.Equal(want) {
		t.Fatalf("after Advance(90s) Now = %s, want %s", got, want)
	}
}

func TestZeroFollowsRealTime(t *testing.T) {
	var c clock.Clock
	before := time.Now()
	got := c.Now()
	if got.Before(before) || got.Sub(before) > time.Minute {
		t.Fatalf("zero clock Now = %s, want about the real time %s", got, before)
	}
	c.Advance(time.Hour)
	if d := c.Now().Sub(time.Now()); d < 59*time.Minute || d > time.Hour {
		t.Fatalf("after Advance(1h) the clock is %s ahead of real time, want 1h", d)
	}
}

func TestConcurrentAdvance(t *testing.T) {
	c := clock.At(clock.T0)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			c.Advance(time.Second)
			_ = c.Now()
		})
	}
	wg.Wait()
	if got, want := c.Now(), clock.T0.Add(10*time.Second); !got.Equal(want) {
		t.Fatalf("Now = %s, want %s", got, want)
	}
}
