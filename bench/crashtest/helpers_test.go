package crashtest_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/bench/crashtest"
	"github.com/latchkey/latchkey/internal/testkit"
	"github.com/latchkey/latchkey/internal/testkit/poll"
)

// binary is the latchkey binary built once for all tests of the package.
var binary struct {
	once sync.Once
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binary.path != "" {
		_ = os.RemoveAll(filepath.Dir(binary.path))
	}
	os.Exit(code)
}

// latchkeyBinary builds cmd/latchkey (once per test binary run).
func latchkeyBinary(t testing.TB) string {
	t.Helper()
	binary.once.Do(func() {
		dir, err := os.MkdirTemp("", "latchkey-crashtest-")
		if err != nil {
			binary.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		start := time.Now()
		binary.path, binary.err = crashtest.Build(ctx, dir)
		if binary.err == nil {
			fmt.Fprintf(os.Stderr, "crashtest: built %s in %s\n", binary.path, time.Since(start).Round(time.Millisecond))
		}
	})
	if binary.err != nil {
		t.Fatalf("build latchkey: %v", binary.err)
	}
	return binary.path
}

// envInt reads a positive integer from the environment.
func envInt(t testing.TB, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// server is a harness server: its config, mail capture and webhook receiver.
type server struct {
	cfg    crashtest.Config
	path   string // config file
	mail   *testkit.MailServer
	hook   *hookRecorder
	bin    string
	client *crashtest.Client
}

// newServer writes a config for a fresh bbolt file in t.TempDir(), with
// mail captured in-process, a webhook receiver and users seeded.
func newServer(t *testing.T, users []string) *server { return newServerSMTP(t, users, 0) }

// newServerSMTP is newServer with mail sent to the SMTP server on smtpPort
// (0: a capturing testkit mail server, in s.mail).
func newServerSMTP(t *testing.T, users []string, smtpPort int) *server {
	return newServerOn(t, users, smtpPort, "")
}

// newServerOn is newServerSMTP with everything kept in PostgreSQL at dsn
// (empty: the bbolt file).
func newServerOn(t *testing.T, users []string, smtpPort int, dsn string) *server {
	t.Helper()
	dir := t.TempDir()
	port, err := crashtest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{hook: newHookRecorder(t), bin: latchkeyBinary(t)}
	if smtpPort == 0 {
		s.mail = testkit.StartMailServer(t)
		smtpPort = s.mail.Port
	}
	s.cfg = crashtest.Config{Port: port, DBPath: filepath.Join(dir, "latchkey.db"), PostgresDSN: dsn, SMTPPort: smtpPort,
		WebhookURL: s.hook.URL() + "/hook", Users: users}
	s.path = filepath.Join(dir, "latchkey.yaml")
	if err := s.cfg.Write(s.path); err != nil {
		t.Fatal(err)
	}
	s.client = crashtest.NewClient(s.cfg.BaseURL())
	t.Cleanup(s.client.Close)
	return s
}

// start launches the binary and waits until it is ready; it fails the test
// if the server does not come up. A test that ends without stopping the
// server has it killed.
func (s *server) start(t *testing.T) (*crashtest.Process, time.Duration) {
	t.Helper()
	p, err := crashtest.Start(s.bin, s.path, s.cfg.BaseURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Kill() })
	ready, err := p.WaitReady(15 * time.Second)
	if err != nil {
		t.Fatalf("server did not start: %v", err)
	}
	return p, ready
}

// delivery is one webhook request as received.
type delivery struct {
	ID, User string
	SigOK    bool
}

// hookRecorder is the webhook receiver: it records every delivery attempt
// it accepts, keyed by X-Latchkey-Delivery, and can be told to fail.
type hookRecorder struct {
	srv      *httptest.Server
	mu       sync.Mutex
	byID     map[string]delivery
	attempts int // accepted requests, duplicates included
	refused  int // requests answered 503 while failing
	failing  bool
	badSig   []string
}

func newHookRecorder(t *testing.T) *hookRecorder {
	h := &hookRecorder{byID: map[string]delivery{}}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookRecorder) URL() string { return h.srv.URL }

func (h *hookRecorder) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failing {
		h.refused++
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var ev struct {
		ID   string `json:"id"`
		User string `json:"user"`
	}
	_ = json.Unmarshal(body, &ev)
	id := r.Header.Get("X-Latchkey-Delivery")
	// The signature is recomputed here from the SPEC (§5.4), not with the
	// server's own Sign, so that a wrong implementation cannot agree with itself.
	m := hmac.New(sha256.New, []byte(crashtest.WebhookSecret))
	m.Write([]byte(r.Header.Get("X-Latchkey-Timestamp") + "." + string(body)))
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	d := delivery{ID: id, User: ev.User, SigOK: hmac.Equal([]byte(want), []byte(r.Header.Get("X-Latchkey-Signature")))}
	if !d.SigOK || id == "" || ev.ID != id {
		h.badSig = append(h.badSig, fmt.Sprintf("delivery %q (body id %q): signature ok=%v", id, ev.ID, d.SigOK))
	}
	h.attempts++
	h.byID[id] = d
	w.WriteHeader(http.StatusOK)
}

func (h *hookRecorder) setFailing(v bool) {
	h.mu.Lock()
	h.failing = v
	h.mu.Unlock()
}

// users returns the delivered users (deduplicated by delivery id), the
// number of distinct delivery ids, of accepted attempts and of refused ones,
// and the malformed deliveries.
func (h *hookRecorder) users() (users map[string]int, ids, attempts, refused int, bad []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	users = map[string]int{}
	for _, d := range h.byID {
		users[strings.ToLower(d.User)]++
	}
	return users, len(h.byID), h.attempts, h.refused, append([]string(nil), h.badSig...)
}

// waitDelivered waits until every email in want has a delivery and returns
// the missing ones at the deadline.
func (h *hookRecorder) waitDelivered(want []string, timeout time.Duration) []string {
	var missing []string
	poll.Within(timeout, func() bool {
		got, _, _, _, _ := h.users()
		missing = missing[:0]
		for _, e := range want {
			if got[strings.ToLower(e)] == 0 {
				missing = append(missing, e)
			}
		}
		return len(missing) == 0
	})
	return missing
}

// mailLinks maps each recipient to the magic links mailed to it.
func mailLinks(m *testkit.MailServer) map[string][]string {
	out := map[string][]string{}
	for _, msg := range m.Messages() {
		link := msg.FindLink(crashtest.PathLanding)
		for _, to := range msg.To {
			if link != "" {
				out[strings.ToLower(to)] = append(out[strings.ToLower(to)], link)
			}
		}
	}
	return out
}

// refused reports whether err means the request never reached a server
// (nothing listening), as opposed to one that died mid-request.
func refused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// tally counts outcomes by label, safe for concurrent use.
type tally struct {
	mu      sync.Mutex
	n       map[string]int
	samples map[string]string
}

func (c *tally) add(label, sample string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n, c.samples = map[string]int{}, map[string]string{}
	}
	c.n[label]++
	if _, ok := c.samples[label]; !ok && sample != "" {
		c.samples[label] = sample
	}
}

func (c *tally) get(label string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[label]
}

// String lists the counts, sorted, with one sample each.
func (c *tally) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]string, 0, len(c.n))
	for k := range c.n {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "  %s: %d", k, c.n[k])
		if s := c.samples[k]; s != "" {
			fmt.Fprintf(&b, " (e.g. %.200s)", s)
		}
		b.WriteByte('\n')
	}
	return b.String()
}
