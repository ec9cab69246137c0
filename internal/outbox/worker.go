package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/latchkey/latchkey/storage"
)

// Defaults of Options and Policy.
const (
	DefaultConcurrency    = 8
	DefaultPollInterval   = 200 * time.Millisecond
	DefaultTimeout        = 30 * time.Second
	DefaultMaxBackoff     = time.Hour
	defaultDepthInterval  = time.Second
	maxLastErrorLen       = 500
	bookkeepingTimeout    = 10 * time.Second
	defaultInitialBackoff = time.Second
)

// ErrGiveUp marks a delivery error that no retry can fix (the receiver's
// configuration is gone, the URL is no longer allowed): the entry is abandoned
// at once. Wrap it with GiveUp.
var ErrGiveUp = errors.New("undeliverable")

// GiveUp wraps err so that the worker abandons the entry instead of retrying.
func GiveUp(err error) error { return fmt.Errorf("%w: %w", ErrGiveUp, err) }

// Policy is how an entry is retried.
type Policy struct {
	// MaxAttempts counts every attempt, the first included; after the last
	// failed one the entry is given up (values below 1 mean 1).
	MaxAttempts int
	// InitialBackoff is the wait after the first failure; it doubles after
	// each further failure (0: one second).
	InitialBackoff time.Duration
	// MaxBackoff caps the wait (0: DefaultMaxBackoff).
	MaxBackoff time.Duration
	// Timeout bounds one attempt (0: DefaultTimeout).
	Timeout time.Duration
}

func (p Policy) withDefaults() Policy {
	p.MaxAttempts = max(p.MaxAttempts, 1)
	if p.InitialBackoff <= 0 {
		p.InitialBackoff = defaultInitialBackoff
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = DefaultMaxBackoff
	}
	if p.Timeout <= 0 {
		p.Timeout = DefaultTimeout
	}
	return p
}

// Backoff returns the wait after the given number of failed attempts (>= 1):
// InitialBackoff * 2^(failures-1), capped at MaxBackoff.
func (p Policy) Backoff(failures int) time.Duration {
	p = p.withDefaults()
	d := p.InitialBackoff
	for i := 1; i < failures && d < p.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, p.MaxBackoff)
}

// Delivery is one prepared attempt.
type Delivery struct {
	Policy Policy
	// Do performs the attempt under a context bounded by Policy.Timeout. nil
	// means delivered; an error wrapping ErrGiveUp abandons the entry; any
	// other error is retried. Its message is stored with the entry and
	// logged, so it must not contain secrets.
	Do func(ctx context.Context) error
}

// Handler delivers the entries of one Kind.
type Handler interface {
	// Prepare decodes the entry and returns how to deliver it. It is called
	// before every attempt, so configuration changes apply to queued
	// entries. An error means the entry can never be delivered (its realm or
	// workflow no longer exists): it is given up and logged.
	Prepare(e storage.OutboxEntry) (Delivery, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(e storage.OutboxEntry) (Delivery, error)

// Prepare calls f.
func (f HandlerFunc) Prepare(e storage.OutboxEntry) (Delivery, error) { return f(e) }

// Options tune a Worker; zero values are the defaults.
type Options struct {
	Logger *slog.Logger
	// Now is the clock for due times and backoff; tests move it.
	Now func() time.Time
	// Concurrency bounds the deliveries running at once (DefaultConcurrency).
	Concurrency int
	// PollInterval is how often the queue is checked when nobody calls
	// Notify (DefaultPollInterval); it is also the latency of retries.
	PollInterval time.Duration
	// Lease is how long a claimed entry belongs to this worker (DefaultLease):
	// other replicas leave it alone meanwhile, and take it over if this one
	// dies. The worker renews the leases of its deliveries in flight every
	// third of it, so a slow delivery keeps its entry while a dead worker's
	// entries are free again within one lease.
	Lease time.Duration
}

// DefaultLease is the outbox lease: each entry is in flight on one replica
// at a time, and a replica killed mid-delivery is covered within this time
// (a restarted single server too: it cannot tell its former self's leases
// from another replica's).
const DefaultLease = 10 * time.Second

// Worker runs due outbox entries through the handler of their Kind.
type Worker struct {
	store storage.Outbox
	opts  Options
	wake  chan struct{}

	mu       sync.RWMutex
	handlers map[string]Handler

	flightMu  sync.Mutex
	inflight  map[string]bool
	lastDepth time.Time
}

// New returns a worker over store. Register handlers, then Run it.
func New(store storage.Outbox, opts Options) *Worker {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	return &Worker{store: store, opts: opts, wake: make(chan struct{}, 1),
		handlers: map[string]Handler{}, inflight: map[string]bool{}}
}

// Register sets the handler of a Kind, replacing any previous one.
func (w *Worker) Register(kind string, h Handler) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.handlers[kind] = h
}

func (w *Worker) handler(kind string) Handler {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.handlers[kind]
}

// Notify wakes the worker to look at the queue now (call it after a commit
// that enqueued entries). It never blocks; wake-ups coalesce.
func (w *Worker) Notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run delivers entries until ctx ends, then waits for the attempts in flight
// (which see ctx cancelled) before returning. Entries interrupted by the
// shutdown stay queued, unchanged, for the next start.
func (w *Worker) Run(ctx context.Context) {
	sem := make(chan struct{}, w.opts.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	t := time.NewTicker(w.opts.PollInterval)
	defer t.Stop()
	renew := time.NewTicker(w.opts.Lease / 3)
	defer renew.Stop()
	for {
		w.dispatch(ctx, sem, &wg)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.wake:
		case <-renew.C:
			w.renewLeases(ctx)
		}
	}
}

// renewLeases extends the lease of every entry in flight here, so that no
// other replica takes an entry whose delivery is still running.
func (w *Worker) renewLeases(ctx context.Context) {
	w.flightMu.Lock()
	ids := make([]string, 0, len(w.inflight))
	for id := range w.inflight {
		ids = append(ids, id)
	}
	w.flightMu.Unlock()
	until := w.opts.Now().Add(w.opts.Lease)
	for _, id := range ids {
		_, err := w.store.UpdateOutbox(ctx, id, func(cur storage.OutboxEntry) (storage.OutboxEntry, error) {
			if cur.NextAttemptAt.Before(until) {
				cur.NextAttemptAt = until
			}
			return cur, nil
		})
		if err != nil && !errors.Is(err, storage.ErrNotFound) && ctx.Err() == nil {
			w.opts.Logger.WarnContext(ctx, "outbox: renew lease", "id", id, "error", err)
		}
	}
}

// dispatch claims due entries (a lease each, so that other replicas leave
// them alone) for the free concurrency slots and starts an attempt for each
// not already in flight here. A finished attempt wakes the loop again, so a
// backlog larger than the slots drains without waiting for the poll.
func (w *Worker) dispatch(ctx context.Context, sem chan struct{}, wg *sync.WaitGroup) {
	if ctx.Err() != nil {
		return
	}
	w.sampleDepth(ctx)
	free := cap(sem) - len(sem)
	if free == 0 {
		return // a finishing attempt calls Notify
	}
	// The claim is read and filtered under flightMu: an attempt deletes its
	// entry from the store before it leaves inflight (which needs flightMu),
	// so an entry not in flight now is either still queued or already gone.
	w.flightMu.Lock()
	due, err := w.store.ClaimOutbox(ctx, w.opts.Now(), w.opts.Lease, free)
	if err != nil {
		w.flightMu.Unlock()
		if ctx.Err() == nil {
			w.opts.Logger.WarnContext(ctx, "outbox: list due entries", "error", err)
		}
		return
	}
	ready := due[:0]
	for _, e := range due {
		if !w.inflight[e.ID] {
			ready = append(ready, e)
		}
	}
	w.flightMu.Unlock()
	for _, e := range ready {
		select {
		case sem <- struct{}{}:
		default:
			return // all slots busy; a finishing attempt calls Notify
		}
		w.flightMu.Lock()
		w.inflight[e.ID] = true
		w.flightMu.Unlock()
		wg.Add(1)
		go func() {
			defer func() {
				w.flightMu.Lock()
				delete(w.inflight, e.ID)
				w.flightMu.Unlock()
				<-sem
				wg.Done()
				w.Notify()
			}()
			w.process(ctx, e)
		}()
	}
}

// sampleDepth refreshes the depth gauge at most once per second: counting
// walks the bucket, which need not happen on every poll.
func (w *Worker) sampleDepth(ctx context.Context) {
	now := time.Now()
	if now.Sub(w.lastDepth) < defaultDepthInterval {
		return
	}
	w.lastDepth = now
	if n, err := w.store.CountOutbox(ctx); err == nil {
		depth.Set(float64(n))
	}
}

// process runs one attempt of e and records its outcome.
func (w *Worker) process(ctx context.Context, e storage.OutboxEntry) {
	h := w.handler(e.Kind)
	if h == nil {
		w.abandon(ctx, e, e.Attempts, fmt.Errorf("no handler for outbox kind %q", e.Kind))
		return
	}
	d, err := h.Prepare(e)
	if err == nil && d.Do == nil {
		err = fmt.Errorf("handler of outbox kind %q prepared no delivery", e.Kind)
	}
	if err != nil {
		w.abandon(ctx, e, e.Attempts, err)
		return
	}
	p := d.Policy.withDefaults()
	actx, cancel := context.WithTimeout(ctx, p.Timeout)
	err = d.Do(actx)
	cancel()
	switch {
	case err == nil:
		w.delivered(ctx, e)
	case errors.Is(err, ErrGiveUp):
		w.abandon(ctx, e, e.Attempts+1, err)
	case ctx.Err() != nil:
		// Shutting down: the attempt was cut short by us, not by the
		// receiver; give the lease back so the next start (or another
		// replica) takes the entry at once, its attempts unchanged.
		w.release(ctx, e)
	case e.Attempts+1 >= p.MaxAttempts:
		w.abandon(ctx, e, e.Attempts+1, err)
	default:
		w.reschedule(ctx, e, p, err)
	}
}

// bookkeeping returns a context for the store writes that record an outcome:
// they must happen even when the attempt ended because Run is stopping
// (Run waits for them before it returns, so the store is still open).
func bookkeeping(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
}

func (w *Worker) delivered(ctx context.Context, e storage.OutboxEntry) {
	deliveriesTotal.WithLabelValues(e.Kind, resultOK).Inc()
	bctx, cancel := bookkeeping(ctx)
	defer cancel()
	if err := w.store.DeleteOutbox(bctx, e.ID); err != nil {
		// It will be delivered again; receivers deduplicate by id.
		w.opts.Logger.WarnContext(ctx, "outbox: delete delivered entry", "id", e.ID, "kind", e.Kind, "error", err)
		return
	}
	w.opts.Logger.DebugContext(ctx, "outbox: delivered", "id", e.ID, "kind", e.Kind, "realm", e.Realm, "attempt", e.Attempts+1)
}

func (w *Worker) abandon(ctx context.Context, e storage.OutboxEntry, attempts int, cause error) {
	deliveriesTotal.WithLabelValues(e.Kind, resultGivenUp).Inc()
	w.opts.Logger.WarnContext(ctx, "outbox: delivery given up", "id", e.ID, "kind", e.Kind, "realm", e.Realm,
		"attempts", attempts, "error", truncate(cause.Error()))
	bctx, cancel := bookkeeping(ctx)
	defer cancel()
	if err := w.store.DeleteOutbox(bctx, e.ID); err != nil {
		w.opts.Logger.WarnContext(ctx, "outbox: delete abandoned entry", "id", e.ID, "kind", e.Kind, "error", err)
	}
}

// release makes a claimed entry due now, unchanged otherwise.
func (w *Worker) release(ctx context.Context, e storage.OutboxEntry) {
	bctx, cancel := bookkeeping(ctx)
	defer cancel()
	now := w.opts.Now()
	_, err := w.store.UpdateOutbox(bctx, e.ID, func(cur storage.OutboxEntry) (storage.OutboxEntry, error) {
		cur.NextAttemptAt = now
		return cur, nil
	})
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		w.opts.Logger.WarnContext(ctx, "outbox: release interrupted entry", "id", e.ID, "kind", e.Kind, "error", err)
	}
}

func (w *Worker) reschedule(ctx context.Context, e storage.OutboxEntry, p Policy, cause error) {
	deliveriesTotal.WithLabelValues(e.Kind, resultFailed).Inc()
	attempts := e.Attempts + 1
	next := w.opts.Now().Add(p.Backoff(attempts))
	msg := truncate(cause.Error())
	bctx, cancel := bookkeeping(ctx)
	defer cancel()
	_, err := w.store.UpdateOutbox(bctx, e.ID, func(cur storage.OutboxEntry) (storage.OutboxEntry, error) {
		cur.Attempts, cur.LastError, cur.NextAttemptAt = attempts, msg, next
		return cur, nil
	})
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		w.opts.Logger.WarnContext(ctx, "outbox: record failed attempt", "id", e.ID, "kind", e.Kind, "error", err)
		return
	}
	w.opts.Logger.InfoContext(ctx, "outbox: delivery failed, will retry", "id", e.ID, "kind", e.Kind, "realm", e.Realm,
		"attempt", attempts, "max_attempts", p.MaxAttempts, "next_attempt", next, "error", msg)
}

func truncate(s string) string {
	if len(s) <= maxLastErrorLen {
		return s
	}
	n := maxLastErrorLen
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
