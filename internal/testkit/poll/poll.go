// Package poll is the test kit's wait: check a condition until it holds or a
// deadline passes. Tests wait for the event that shows what they assert (a
// delivery recorded, a message received, a worker's next pass), never for a
// fixed time. It imports nothing of Latchkey.
package poll

import (
	"testing"
	"time"
)

// Interval is how often a condition is checked.
const Interval = 10 * time.Millisecond

// Within checks cond until it holds, for at most timeout, and reports
// whether it held.
func Within(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(Interval)
	}
	return true
}

// Until is Within that fails the test when cond never held: "timed out after
// <timeout> waiting for <what>".
func Until(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Within(timeout, cond) {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}
