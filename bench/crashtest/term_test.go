package crashtest_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/bench/crashtest"
	"github.com/latchkey/latchkey/internal/testkit/poll"
	"github.com/latchkey/latchkey/storage/bboltstore"
)

// TestGracefulTerm sends SIGTERM while requests are provably inside their
// handlers (magic-link requests whose mail the SMTP server holds), and
// checks that the server stops taking new connections but keeps running
// until those requests are answered, all with 2xx; that it then exits 0;
// and that outbox entries whose webhook was failing are kept and delivered
// after the next start.
func TestGracefulTerm(t *testing.T) {
	sink, err := crashtest.StartMailSink()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sink.Close() })
	s := newServerSMTP(t, nil, sink.Port)
	p, _ := s.start(t)
	ctx := context.Background()
	tok, err := s.client.ServiceToken(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// Queue deliveries the receiver refuses, so they are pending at the stop.
	s.hook.setFailing(true)
	pending := []string{"pending-0@example.com", "pending-1@example.com", "pending-2@example.com"}
	if r, err := s.client.GenerateLink(ctx, tok, pending, crashtest.Workflow); err != nil || r.Status != http.StatusOK {
		t.Fatalf("generate-link = %d %s (err %v), want 200", r.Status, r.Body, err)
	}
	poll.Until(t, 10*time.Second, "the webhook receiver to refuse a delivery", func() bool {
		_, _, _, refused, _ := s.hook.users()
		return refused > 0
	})

	// Requests that are inside their handlers at SIGTERM: each waits for
	// the SMTP server's answer to its mail, which is held until released.
	const inFlight = 6
	sink.Hold()
	type result struct {
		status int
		err    error
		done   time.Time
	}
	results := make([]result, inFlight)
	var wg sync.WaitGroup
	for i := range inFlight {
		wg.Go(func() {
			r, err := s.client.SendMagicLink(ctx, tok, fmt.Sprintf("term-%d@example.com", i))
			results[i] = result{status: r.Status, err: err, done: time.Now()}
		})
	}
	poll.Until(t, 10*time.Second, fmt.Sprintf("%d mails to be held", inFlight), func() bool { return sink.Waiting() == inFlight })
	termAt := time.Now()
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Draining: the server closes its listener when it takes the signal, so
	// a new request (on a new connection each time) is soon refused: the
	// event that shows the signal was taken.
	fresh := crashtest.NewClient(s.cfg.BaseURL())
	poll.Until(t, 10*time.Second, "a new request to be refused after SIGTERM", func() bool {
		defer fresh.Close()
		_, err := fresh.Do(ctx, nil, http.MethodGet, s.cfg.BaseURL()+"/health/live", "", nil, nil)
		return err != nil
	})
	// The held mail stands for a slow mail server: the requests stay in
	// their handlers for hold, and the server must keep running meanwhile.
	// Its exit is the event that would show otherwise; it is polled, so it
	// fails the test when it happens, not after a fixed sleep.
	const hold = 300 * time.Millisecond
	if poll.Within(hold, p.Exited) {
		t.Errorf("the server exited within %s of SIGTERM while %d requests were in flight", hold, inFlight)
	}
	released := time.Now()
	sink.Release()
	wg.Wait()
	code, err := p.Wait(30 * time.Second)
	stopped := time.Since(termAt)
	for i, r := range results {
		switch {
		case r.err != nil || r.status != http.StatusOK:
			t.Errorf("magic-link request %d in flight at SIGTERM = %d (err %v), want 200", i, r.status, r.err)
		case r.done.Before(released):
			t.Errorf("magic-link request %d was answered before its mail was released", i)
		}
	}
	if err != nil || code != 0 {
		t.Errorf("exit after SIGTERM: code %d, err %v; want 0; log:\n%s", code, err, p.Logs())
	}
	t.Logf("SIGTERM with %d requests in their handlers: all answered 200 after a %s hold, exit %d %s after the signal",
		inFlight, hold, code, stopped.Round(time.Millisecond))

	st, err := bboltstore.Open(s.cfg.DBPath, bboltstore.Options{})
	if err != nil {
		t.Fatalf("open store after SIGTERM: %v", err)
	}
	queued, err := st.CountOutbox(ctx)
	if cerr := st.Check(); cerr != nil {
		t.Errorf("store consistency check after SIGTERM: %v", cerr)
	}
	st.Close()
	if err != nil || queued < len(pending) {
		t.Errorf("outbox after SIGTERM holds %d entries (err %v), want at least the %d undelivered ones", queued, err, len(pending))
	}

	s.hook.setFailing(false)
	p, _ = s.start(t)
	if missing := s.hook.waitDelivered(pending, 15*time.Second); len(missing) > 0 {
		t.Errorf("after restart, deliveries for %v never arrived", missing)
	}
	if code, err := p.Terminate(30 * time.Second); err != nil || code != 0 {
		t.Errorf("second SIGTERM: exit code %d, err %v; want 0", code, err)
	}
}
