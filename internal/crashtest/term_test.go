package crashtest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/crashtest"
	"github.com/latchkey/latchkey/storage/bboltstore"
)

// inflight is one request sent just before SIGTERM.
type inflight struct {
	kind   string
	status int
	err    error
	done   time.Time
}

// TestGracefulTerm sends SIGTERM while requests are in flight and checks
// that they all complete with 2xx, that the process exits 0, and that
// outbox entries whose webhook was failing are kept and delivered after
// the next start.
func TestGracefulTerm(t *testing.T) {
	const logins = 16 // argon2id runs one per CPU: these queue up for a while
	var users []string
	for i := range logins {
		users = append(users, fmt.Sprintf("term-%d@example.com", i))
	}
	s := newServer(t, users)
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
	waitUntil(t, 10*time.Second, "the webhook receiver refused a delivery", func() bool {
		_, _, _, refused, _ := s.hook.users()
		return refused > 0
	})

	// Every request gets its own new connection, and SIGTERM waits until
	// each request was written: the server tracks an accepted connection
	// from then on and Shutdown waits for it (only idle keep-alive
	// connections are closed), so these requests are in flight and must be
	// served.
	type call struct {
		kind string
		do   func(ctx context.Context, c *crashtest.Client) (crashtest.Response, error)
	}
	var calls []call
	for _, u := range users {
		calls = append(calls, call{"user-login", func(ctx context.Context, c *crashtest.Client) (crashtest.Response, error) {
			return c.UserLogin(ctx, u, crashtest.UserPassword)
		}})
	}
	for i := range 3 {
		calls = append(calls, call{"magic-link", func(ctx context.Context, c *crashtest.Client) (crashtest.Response, error) {
			return c.SendMagicLink(ctx, tok, fmt.Sprintf("term-ml-%d@example.com", i))
		}}, call{"generate-link", func(ctx context.Context, c *crashtest.Client) (crashtest.Response, error) {
			return c.GenerateLink(ctx, tok, []string{fmt.Sprintf("term-gl-%d@example.com", i)}, "")
		}})
	}
	results := make([]inflight, len(calls))
	var written, wg sync.WaitGroup
	written.Add(len(calls))
	for i, cl := range calls {
		wg.Go(func() {
			c := crashtest.NewClient(s.cfg.BaseURL())
			defer c.Close()
			var once sync.Once
			trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { once.Do(written.Done) }}
			r, err := cl.do(httptrace.WithClientTrace(ctx, trace), c)
			once.Do(written.Done) // in case the request failed before it was written
			results[i] = inflight{kind: cl.kind, status: r.Status, err: err, done: time.Now()}
		})
	}
	written.Wait()
	time.Sleep(20 * time.Millisecond) // let the server read them
	termAt := time.Now()
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	code, err := p.Wait(30 * time.Second)
	stopped := time.Since(termAt)

	after := 0
	for _, r := range results {
		if r.err != nil || r.status/100 != 2 {
			t.Errorf("%s in flight at SIGTERM = %d (err %v), want 2xx", r.kind, r.status, r.err)
		}
		if r.done.After(termAt) {
			after++
		}
	}
	if after == 0 {
		t.Errorf("every request finished before SIGTERM; the test proves nothing about draining")
	}
	if err != nil || code != 0 {
		t.Errorf("exit after SIGTERM: code %d, err %v; want 0; log:\n%s", code, err, p.Logs())
	}
	t.Logf("SIGTERM with %d requests in flight: %d finished after the signal, all 2xx; exit %d after %s",
		len(results), after, code, stopped.Round(time.Millisecond))

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

// waitUntil polls cond every 20ms and fails the test after timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting until %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
