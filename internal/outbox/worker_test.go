package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/outbox"
	"github.com/latchkey/latchkey/internal/testkit/clock"
	"github.com/latchkey/latchkey/internal/testkit/logbuf"
	"github.com/latchkey/latchkey/internal/testkit/poll"
	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/bboltstore"
	"github.com/latchkey/latchkey/storage/bboltstore/bolttest"
)

// wait bounds every wait for the worker.
const wait = 5 * time.Second

// pollInterval is the workers' PollInterval unless a test sets one.
const pollInterval = 20 * time.Millisecond

// fixture is a worker over a real bbolt store, with the test kit's clock and
// log buffer and no server.
type fixture struct {
	store *bboltstore.Store
	clock *clock.Clock
	logs  *logbuf.Buffer
	w     *outbox.Worker
	stop  func()
	// looks counts the worker's reads of its clock: it reads it once each
	// time it lists the due entries (and when it reschedules a failed
	// attempt, which the tests that count looks do not have).
	looks atomic.Int64
}

// start opens a real bbolt store in a temp dir and runs a worker over it;
// register handlers with reg before it runs.
func start(t *testing.T, opts outbox.Options, reg func(w *outbox.Worker)) *fixture {
	t.Helper()
	f := &fixture{clock: clock.New(), logs: &logbuf.Buffer{}}
	// Opened first, so that its cleanup (check and close) runs after the
	// worker's stop below.
	f.store = bolttest.Open(t, f.clock.Now)
	opts.Logger = f.logs.Logger()
	opts.Now = func() time.Time {
		f.looks.Add(1)
		return f.clock.Now()
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = pollInterval
	}
	f.w = outbox.New(f.store, opts)
	reg(f.w)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.w.Run(ctx); close(done) }()
	var once sync.Once
	f.stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(f.stop)
	return f
}

func (f *fixture) enqueue(t *testing.T, kind string, payloads ...string) {
	t.Helper()
	var es []storage.OutboxEntry
	for _, p := range payloads {
		es = append(es, storage.OutboxEntry{Realm: "r", Kind: kind, Payload: []byte(p), NextAttemptAt: f.clock.Now(), CreatedAt: f.clock.Now()})
	}
	if err := f.store.EnqueueOutbox(context.Background(), es...); err != nil {
		t.Fatal(err)
	}
	f.w.Notify()
}

func (f *fixture) all(t *testing.T) []storage.OutboxEntry {
	t.Helper()
	es, err := f.store.DueOutbox(context.Background(), time.Now().Add(1000*time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// waitLooks waits until the worker has looked for due entries n more times,
// in a run without failed attempts and with a slot free: each look after
// the first of them starts when the one before has started every attempt it
// was going to (the worker's loop is sequential), so n looks are n-1 whole
// passes over the queue that began after this call.
func (f *fixture) waitLooks(t *testing.T, n int) {
	t.Helper()
	from := f.looks.Load()
	poll.Until(t, wait, fmt.Sprintf("%d more looks at the queue", n), func() bool { return f.looks.Load() >= from+int64(n) })
}

// scripted returns a handler whose attempts return errs in order (nil when
// exhausted) and records the payloads it saw.
type scripted struct {
	mu     sync.Mutex
	errs   []error
	seen   []string
	policy outbox.Policy
}

func (s *scripted) Prepare(e storage.OutboxEntry) (outbox.Delivery, error) {
	return outbox.Delivery{Policy: s.policy, Do: func(context.Context) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.seen = append(s.seen, string(e.Payload))
		if len(s.errs) == 0 {
			return nil
		}
		err := s.errs[0]
		s.errs = s.errs[1:]
		return err
	}}, nil
}

func (s *scripted) attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

func TestDeliverAndDelete(t *testing.T) {
	h := &scripted{}
	f := start(t, outbox.Options{PollInterval: time.Hour}, func(w *outbox.Worker) { w.Register("k", h) })
	f.enqueue(t, "k", "one", "two", "three")
	poll.Until(t, wait, "three deliveries", func() bool { return h.attempts() == 3 })
	poll.Until(t, wait, "an empty queue", func() bool { return len(f.all(t)) == 0 })
}

func TestRetryBackoffAndGiveUp(t *testing.T) {
	fail := errors.New("receiver answered 500")
	h := &scripted{errs: []error{fail, fail, fail}, policy: outbox.Policy{MaxAttempts: 3, InitialBackoff: time.Minute}}
	f := start(t, outbox.Options{}, func(w *outbox.Worker) { w.Register("k", h) })
	f.enqueue(t, "k", "p")
	for attempt, wantWait := range []time.Duration{time.Minute, 2 * time.Minute} {
		poll.Until(t, wait, "a recorded failure", func() bool {
			es := f.all(t)
			return len(es) == 1 && es[0].Attempts == attempt+1
		})
		e := f.all(t)[0]
		if wait := e.NextAttemptAt.Sub(f.clock.Now()); wait > wantWait || wait < wantWait-5*time.Second {
			t.Errorf("after failure %d the next attempt is in %s, want %s", attempt+1, wait, wantWait)
		}
		if e.LastError != fail.Error() {
			t.Errorf("LastError = %q, want %q", e.LastError, fail.Error())
		}
		f.clock.Advance(wantWait)
	}
	poll.Until(t, wait, "the entry to be given up", func() bool { return len(f.all(t)) == 0 })
	if h.attempts() != 3 {
		t.Errorf("attempts = %d, want MaxAttempts 3", h.attempts())
	}
	if !strings.Contains(f.logs.String(), "outbox: delivery given up") {
		t.Errorf("giving up was not logged: %s", f.logs)
	}
}

func TestAbandoned(t *testing.T) {
	tests := []struct {
		name, kind string
		handler    outbox.Handler
		wantLog    string
	}{
		{"unknown kind", "nobody", nil, `no handler for outbox kind \"nobody\"`},
		{"prepare fails", "k", outbox.HandlerFunc(func(storage.OutboxEntry) (outbox.Delivery, error) {
			return outbox.Delivery{}, errors.New("workflow gone")
		}), "workflow gone"},
		{"give up", "k", &scripted{errs: []error{outbox.GiveUp(errors.New("URL not allowed"))}, policy: outbox.Policy{MaxAttempts: 10}},
			"URL not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := start(t, outbox.Options{}, func(w *outbox.Worker) {
				if tt.handler != nil {
					w.Register("k", tt.handler)
				}
			})
			f.enqueue(t, tt.kind, "p")
			poll.Until(t, wait, "the entry to be dropped", func() bool { return len(f.all(t)) == 0 })
			if logs := f.logs.String(); !strings.Contains(logs, "delivery given up") || !strings.Contains(logs, tt.wantLog) {
				t.Errorf("logs lack the give-up line with %q: %s", tt.wantLog, logs)
			}
		})
	}
}

func TestBoundedConcurrency(t *testing.T) {
	const limit = 3
	var running, peak atomic.Int32
	release := make(chan struct{})
	var done atomic.Int32
	h := outbox.HandlerFunc(func(storage.OutboxEntry) (outbox.Delivery, error) {
		return outbox.Delivery{Do: func(context.Context) error {
			n := running.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			<-release
			running.Add(-1)
			done.Add(1)
			return nil
		}}, nil
	})
	f := start(t, outbox.Options{Concurrency: limit}, func(w *outbox.Worker) { w.Register("k", h) })
	f.enqueue(t, "k", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10")
	poll.Until(t, wait, "the slots to fill", func() bool { return running.Load() == limit })
	// With every slot busy nothing more may start. A worker whose slots are
	// all busy need not even look at the queue, so there is no look to wait
	// for: watch for the start that would break the limit over a few polls.
	if poll.Within(3*pollInterval, func() bool { return peak.Load() > limit }) {
		t.Fatalf("peak concurrency %d, want %d", peak.Load(), limit)
	}
	if p := peak.Load(); p != limit {
		t.Fatalf("peak concurrency %d, want %d", p, limit)
	}
	close(release)
	poll.Until(t, wait, "all ten", func() bool { return done.Load() >= 10 })
	if p := peak.Load(); p != limit {
		t.Errorf("peak concurrency %d, want %d", p, limit)
	}
	poll.Until(t, wait, "an empty queue", func() bool { return len(f.all(t)) == 0 })
	f.waitLooks(t, 3) // two more whole passes: nothing may run again
	if n := done.Load(); n != 10 {
		t.Errorf("%d attempts for 10 entries, want 10 (one process must not deliver an entry twice)", n)
	}
}

// TestShutdownKeepsEntry stops the worker during an attempt: the entry
// stays queued, unchanged, for the next start.
func TestShutdownKeepsEntry(t *testing.T) {
	started := make(chan struct{})
	h := outbox.HandlerFunc(func(storage.OutboxEntry) (outbox.Delivery, error) {
		return outbox.Delivery{Policy: outbox.Policy{MaxAttempts: 1}, Do: func(ctx context.Context) error {
			close(started)
			<-ctx.Done()
			return ctx.Err()
		}}, nil
	})
	f := start(t, outbox.Options{}, func(w *outbox.Worker) { w.Register("k", h) })
	f.enqueue(t, "k", "p")
	<-started
	f.stop()
	es := f.all(t)
	if len(es) != 1 || es[0].Attempts != 0 || es[0].LastError != "" {
		t.Fatalf("queue after shutdown = %+v, want the entry untouched", es)
	}
}

func TestAttemptTimeout(t *testing.T) {
	h := outbox.HandlerFunc(func(storage.OutboxEntry) (outbox.Delivery, error) {
		return outbox.Delivery{Policy: outbox.Policy{MaxAttempts: 5, Timeout: 20 * time.Millisecond}, Do: func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		}}, nil
	})
	f := start(t, outbox.Options{}, func(w *outbox.Worker) { w.Register("k", h) })
	f.enqueue(t, "k", "p")
	poll.Until(t, wait, "the timed-out attempt to be recorded", func() bool {
		es := f.all(t)
		return len(es) == 1 && es[0].Attempts == 1 && strings.Contains(es[0].LastError, "deadline exceeded")
	})
}

func TestPolicyBackoff(t *testing.T) {
	p := outbox.Policy{InitialBackoff: time.Second, MaxBackoff: 10 * time.Second}
	tests := []struct {
		failures int
		want     time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {4, 8 * time.Second}, {5, 10 * time.Second}, {500, 10 * time.Second}}
	for _, tt := range tests {
		if got := p.Backoff(tt.failures); got != tt.want {
			t.Errorf("Backoff(%d) = %s, want %s", tt.failures, got, tt.want)
		}
	}
	if got := (outbox.Policy{}).Backoff(100); got != outbox.DefaultMaxBackoff {
		t.Errorf("zero policy Backoff(100) = %s, want the default cap %s", got, outbox.DefaultMaxBackoff)
	}
}
