// Package storagetest is the conformance suite every storage.Store backend
// runs from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storagetest.RunTests(t, openStore, reopenStore)
//	}
//
// The suite pins down the contract documented in package storage: sentinel
// errors, realm isolation, index uniqueness, the atomicity of updaters and
// transactions, exactly-one-winner consumption under concurrency, sweeping
// and durability.
package storagetest

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

// RunTests runs the conformance suite. open returns a new, empty store for
// one subtest. reopen closes s and opens the same data again; backends
// without durability pass nil, which skips the durability tests.
//
// RunTests closes every store it obtains when the subtest ends. Before that,
// if the store has a `Check() error` method (the bbolt backend verifies its
// file and indexes), it calls it and fails the subtest on error.
func RunTests(t *testing.T, open func(t *testing.T) storage.Store, reopen func(t *testing.T, s storage.Store) storage.Store) {
	h := harness{open: open, reopen: reopen}
	tests := []struct {
		name string
		run  func(t *testing.T, h harness)
	}{
		{"Users", testUsers},
		{"UserProfile", testUserProfile},
		{"DeleteUser", testDeleteUser},
		{"Keys", testKeys},
		{"Sessions", testSessions},
		{"ListUserSessions", testListUserSessions},
		{"AuthRequests", testAuthRequests},
		{"OneTimeTokens", testOneTimeTokens},
		{"RefreshTokens", testRefreshTokens},
		{"UserRefreshTokens", testUserRefreshTokens},
		{"Revocations", testRevocations},
		{"LoginFailures", testLoginFailures},
		{"Outbox", testOutbox},
		{"OutboxClaims", testOutboxClaims},
		{"Limits", testLimits},
		{"InTx", testInTx},
		{"Sweep", testSweep},
		{"Durability", testDurability},
		{"Closed", testClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, h) })
	}
}

// harness opens stores for subtests and cleans up after them.
type harness struct {
	open   func(t *testing.T) storage.Store
	reopen func(t *testing.T, s storage.Store) storage.Store
}

// checker is the optional self-check a backend may offer.
type checker interface{ Check() error }

// store returns a new empty store, checked and closed when t ends.
func (h harness) store(t *testing.T) storage.Store {
	t.Helper()
	s := h.open(t)
	h.cleanup(t, s)
	return s
}

// reopened closes s and returns the same data reopened, checked and closed
// when t ends.
func (h harness) reopened(t *testing.T, s storage.Store) storage.Store {
	t.Helper()
	s = h.reopen(t, s)
	h.cleanup(t, s)
	return s
}

func (h harness) cleanup(t *testing.T, s storage.Store) {
	t.Cleanup(func() {
		if c, ok := s.(checker); ok {
			if err := c.Check(); err != nil && !errors.Is(err, storage.ErrUnavailable) {
				t.Errorf("Check() at cleanup: %v", err)
			}
		}
		if err := s.Close(); err != nil && !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("Close() at cleanup: %v", err)
		}
	})
}

// clock returns the current time as stores round-trip it: UTC, microsecond
// precision, no monotonic reading, so that reflect.DeepEqual compares records.
func clock() time.Time {
	return time.Now().UTC().Truncate(time.Microsecond)
}

var ctx = context.Background()

// wantErr fails t unless err matches want (errors.Is; nil means success).
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Errorf("%s: got error %v, want success", what, err)
	case want != nil && !errors.Is(err, want):
		t.Errorf("%s: got error %v, want %v", what, err, want)
	}
}

// mustOK stops the test when a setup step fails.
func mustOK(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// equal fails t unless got and want are deeply equal.
func equal[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// parallel runs fn in n goroutines released at once and returns their errors.
func parallel(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	done := make(chan struct{})
	for i := range n {
		go func() {
			defer func() { done <- struct{}{} }()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	for range n {
		<-done
	}
	return errs
}

// tally counts errors by the sentinel they match (nil for successes).
func tally(errs []error, sentinels ...error) (counts map[error]int, others []error) {
	counts = map[error]int{}
next:
	for _, err := range errs {
		if err == nil {
			counts[nil]++
			continue
		}
		for _, s := range sentinels {
			if errors.Is(err, s) {
				counts[s]++
				continue next
			}
		}
		others = append(others, err)
	}
	return counts, others
}
