// Package testkit is the one test kit of every package's tests. New boots a
// complete Latchkey: a bbolt file in t.TempDir(), the real server on an
// httptest TLS listener, an in-process SMTP server on loopback that captures
// mail (MailServer), a movable Clock and a LogBuffer of everything the server
// logged. Env's helpers speak the protocols the way clients do (ServiceToken,
// Userinfo, Introspect, Revoke, LoginCode, Token, JWKS, VerifyJWT, PostJSON).
// Nothing in it is a mock of Latchkey's own code.
//
// The parts that need no server live in subpackages that import nothing of
// Latchkey, so that unit tests of packages the server is built from can use
// them without an import cycle or a server: clock (the Clock, also
// storage/bboltstore/bolttest's), smtptest (the SMTP server), logbuf (the
// log buffer), poll (waiting for a condition instead of sleeping) and
// loopback (a free address and a wait until a server started on it answers).
// browser (headless Chromium) is apart so that only the browser tests link
// chromedp.
package testkit

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/server"
	"github.com/latchkey/latchkey/internal/testkit/clock"
	"github.com/latchkey/latchkey/internal/testkit/logbuf"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage/bboltstore"
)

// Clock is the kit's clock (package clock). Env's follows real time plus
// what tests Advance it by.
type Clock = clock.Clock

// LogBuffer collects every log line the server wrote, for tests that check
// that no secret is ever logged (package logbuf).
type LogBuffer = logbuf.Buffer

// Env is a running Latchkey.
type Env struct {
	T      testing.TB
	Config *config.Config
	Store  *bboltstore.Store
	Server *server.Server
	HTTP   *httptest.Server
	// URL is the public base URL (https://127.0.0.1:port).
	URL   string
	Mail  *MailServer
	Clock *Clock
	Logs  *LogBuffer
	path  string
	// outbound is Options.OutboundHTTP, kept for restarts.
	outbound *http.Client
	// handler is what the listener serves; stop ends the running server and
	// store (once). Restart uses both.
	handler *atomic.Pointer[http.Handler]
	stop    func()
	// api is the client of Env's own calls (ServiceToken, Userinfo, …).
	api struct {
		once sync.Once
		c    *http.Client
	}
}

// Options adjust New.
type Options struct {
	// PlainHTTP serves http instead of https (for sslRequired tests).
	PlainHTTP bool
	// NoMail leaves smtp.host empty (mail goes to the log).
	NoMail bool
	// Mutate edits the loaded config before the server is built.
	Mutate func(*config.Config)
	// OutboundHTTP is the server's client for calls to relying parties
	// (e.g. one trusting an httptest TLS receiver); nil: the default.
	OutboundHTTP *http.Client
}

// New loads yamlConfig (publicURL, storage.path and smtp are overridden),
// starts everything and registers cleanup (which runs bbolt's consistency check).
func New(t testing.TB, yamlConfig string, opts ...Options) *Env {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	cfg, err := config.LoadBytes([]byte(yamlConfig), "yaml")
	if err != nil {
		t.Fatalf("load test config: %v", err)
	}
	// zitadel/oidc logs through slog.Default; keep its info lines out of test output.
	slog.SetDefault(slog.New(slog.NewTextHandler(logSink(), &slog.HandlerOptions{Level: slog.LevelWarn})))
	e := &Env{T: t, Config: cfg, Clock: clock.New(), Logs: &LogBuffer{}, outbound: o.OutboundHTTP}
	var h atomic.Pointer[http.Handler]
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hp := h.Load(); hp != nil {
			(*hp).ServeHTTP(w, r)
			return
		}
		http.Error(w, "starting", http.StatusServiceUnavailable)
	}))
	if o.PlainHTTP {
		ts.Start()
	} else {
		ts.StartTLS()
	}
	t.Cleanup(ts.Close)
	e.HTTP, e.URL = ts, ts.URL
	cfg.Server.PublicURL = ts.URL
	if o.PlainHTTP {
		cfg.Server.TLS.Mode = config.TLSOff
	}
	e.path = t.TempDir() + "/latchkey.db"
	cfg.Storage.Path = e.path
	if !o.NoMail {
		e.Mail = StartMailServer(t)
		cfg.SMTP.Host, cfg.SMTP.Port, cfg.SMTP.Security = "127.0.0.1", e.Mail.Port, config.SMTPNone
		cfg.SMTP.Username, cfg.SMTP.Password = "", ""
	}
	if o.Mutate != nil {
		o.Mutate(cfg)
	}
	e.start(cfg, &h)
	return e
}

func (e *Env) start(cfg *config.Config, h *atomic.Pointer[http.Handler]) {
	t := e.T
	store, err := bboltstore.Open(e.path, bboltstore.Options{Now: e.Clock.Now})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	logger := e.Logs.Logger(logSink())
	srv, err := server.New(context.Background(), cfg, store, server.Options{Logger: logger, Now: e.Clock.Now,
		SweepInterval: time.Hour, OutboundHTTP: e.outbound})
	if err != nil {
		store.Close()
		t.Fatalf("build server: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv.Start(ctx)
	e.Store, e.Server, e.handler = store, srv, h
	handler := srv.Handler
	h.Store(&handler)
	var once sync.Once
	e.stop = func() {
		once.Do(func() {
			cancel()
			srv.Wait()
			if err := store.Check(); err != nil {
				t.Errorf("bbolt consistency check: %v", err)
			}
			store.Close()
		})
	}
	t.Cleanup(e.stop)
}

// logSink is where server logs go besides the buffer: stderr with -v and
// LATCHKEY_TEST_LOGS=1, else nowhere.
func logSink() io.Writer {
	if os.Getenv("LATCHKEY_TEST_LOGS") != "" {
		return os.Stderr
	}
	return io.Discard
}

// Client returns an HTTP client that trusts the test TLS certificate, keeps
// cookies and does not follow redirects.
func (e *Env) Client() *http.Client {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	if e.HTTP.TLS != nil {
		c.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.HTTP.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}}
	}
	return c
}

// apiClient is the client of Env's own protocol calls: one client without
// cookies whose connections are kept alive between calls, as a relying
// party's back channel would (a new TLS handshake per call would also eat
// into the second-sized margins of the expiry tests under -race).
func (e *Env) apiClient() *http.Client {
	e.api.once.Do(func() {
		e.api.c = e.Client()
		e.api.c.Jar = nil
	})
	return e.api.c
}

// Issuer returns the issuer of a realm.
func (e *Env) Issuer(name string) string { return e.URL + realm.LegacyPrefix + name }

var randCounter atomic.Int64

func randInt() int64 { return randCounter.Add(1) + time.Now().UnixNano() }
