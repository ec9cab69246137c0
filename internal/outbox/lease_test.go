package outbox_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/outbox"
	"github.com/latchkey/latchkey/internal/testkit/poll"
	"github.com/latchkey/latchkey/storage"
)

// TestLeases runs two workers (two replicas) on one store. A delivery that
// outlasts several leases keeps its entry (its worker renews the lease), so
// the other worker never starts it too; once the first worker is gone
// without finishing, the other takes the entry over after the lease.
func TestLeases(t *testing.T) {
	const lease = 300 * time.Millisecond
	var starts atomic.Int32
	block := make(chan struct{})
	slow := outbox.HandlerFunc(func(storage.OutboxEntry) (outbox.Delivery, error) {
		return outbox.Delivery{Do: func(ctx context.Context) error {
			starts.Add(1)
			select {
			case <-block:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}}, nil
	})
	// The fixture's clock stands still; the leases must run on real time.
	a := start(t, outbox.Options{Lease: lease, Now: time.Now}, func(w *outbox.Worker) { w.Register("k", slow) })
	a.enqueue(t, "k", "1")
	poll.Until(t, wait, "the first worker to start the delivery", func() bool { return starts.Load() == 1 })

	var bStarts atomic.Int32
	b := outbox.New(a.store, outbox.Options{Lease: lease, PollInterval: 20 * time.Millisecond, Logger: a.logs.Logger()})
	b.Register("k", outbox.HandlerFunc(func(storage.OutboxEntry) (outbox.Delivery, error) {
		return outbox.Delivery{Do: func(context.Context) error { bStarts.Add(1); return nil }}, nil
	}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	// Five leases long, the second worker must not start it.
	if poll.Within(5*lease, func() bool { return bStarts.Load() > 0 }) {
		t.Fatal("the second worker started an entry whose delivery was still running elsewhere")
	}
	// The first worker stops mid-delivery (its release is what a clean stop
	// does; a kill leaves the lease to run out, which the crash tests cover).
	a.stop()
	poll.Until(t, wait, "the second worker to take the entry over", func() bool { return bStarts.Load() == 1 })
	poll.Until(t, wait, "the entry to be gone", func() bool { return len(a.all(t)) == 0 })
	close(block)
}
