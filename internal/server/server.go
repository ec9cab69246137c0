// Package server assembles Latchkey from its parts — storage, realms, the
// per-realm OIDC providers, the magic-link service and API, the credential
// APIs and the application-link API — into one http.Handler, and runs the
// background workers (expiry sweeping, signing-key refresh, the outbox). It is
// the one place where things are wired together: mount.go lists the parts in
// route order and each feature is wired in its own wire_*.go file.
// cmd/latchkey and the end-to-end tests both build the server through New.
package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/mux"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/outbox"
	"github.com/latchkey/latchkey/internal/platform/httpx"
	"github.com/latchkey/latchkey/internal/platform/metrics"
	"github.com/latchkey/latchkey/magiclink"
	"github.com/latchkey/latchkey/oidc"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
)

// Options tune New; zero values are production defaults.
type Options struct {
	Logger *slog.Logger
	// Now is the clock of every realm; tests move it.
	Now func() time.Time
	// SweepInterval is how often expired records are deleted (default 1m).
	SweepInterval time.Duration
	// KeyRefreshInterval is how often signing keys are re-read from the
	// store (default 10s), so rotations made elsewhere take effect.
	KeyRefreshInterval time.Duration
	// OutboundHTTP is the client for calls to relying parties and webhook
	// receivers (back-channel logout, workflow webhooks); nil: clients
	// that trust the system's roots and do not follow redirects.
	OutboundHTTP *http.Client
}

// Server is an assembled Latchkey.
type Server struct {
	Config *config.Config
	Store  storage.Store
	Realms *realm.Registry
	OIDC   *oidc.Providers
	// MagicLinks issues and redeems the realms' magic links.
	MagicLinks *magiclink.Service
	Proxies    *httpx.Proxies
	// Handler serves every route, wrapped in the request middleware.
	Handler http.Handler

	csrf     *httpx.CSRF
	reloadMu sync.Mutex
	logger   *slog.Logger
	opts     Options
	workers  []func(context.Context)
	// outbox delivers the durable work every part queues (see mountOutbox).
	outbox *outbox.Worker
	// afterOutbox runs once the outbox worker has stopped (closing what its
	// deliveries used).
	afterOutbox []func()
	wg          sync.WaitGroup
}

// New builds the server from a validated config and an open store. It creates
// missing realm keys and seed users; it starts nothing.
func New(ctx context.Context, cfg *config.Config, store storage.Store, opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = time.Minute
	}
	if opts.KeyRefreshInterval <= 0 {
		opts.KeyRefreshInterval = defaultKeyRefresh
	}
	s := &Server{Config: cfg, Store: store, logger: opts.Logger, opts: opts}
	var err error
	if s.Proxies, err = httpx.NewProxies(cfg.Server.TrustedProxies); err != nil {
		return nil, fmt.Errorf("server.trustedProxies: %w", err)
	}
	if s.Realms, err = realm.Build(ctx, cfg, store, opts.Now); err != nil {
		return nil, err
	}
	csrfKey, err := store.RealmSecret(ctx, "_server", "csrf-key", func() ([]byte, error) {
		b := make([]byte, 32)
		_, err := rand.Read(b)
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("load CSRF key: %w", err)
	}
	s.csrf = &httpx.CSRF{Key: csrfKey, CookieName: "LATCHKEY_CSRF", Secure: s.Proxies.IsHTTPS}
	s.OIDC, err = oidc.New(ctx, s.Realms, oidc.Options{Logger: opts.Logger, Proxies: s.Proxies, CSRF: s.csrf,
		MaxBody: cfg.Server.MaxBodyBytes})
	if err != nil {
		return nil, err
	}

	r := mux.NewRouter()
	r.Use(metrics.LabelRoute(func(name string) bool {
		_, ok := s.Realms.Get(name)
		return ok
	}))
	for _, mount := range s.parts() {
		if err := mount(ctx, r); err != nil {
			return nil, err
		}
	}
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		httpx.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "Not found"})
	})
	maxBody := cfg.Server.MaxBodyBytes
	route := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !s.OIDC.FastPath(w, req) {
			r.ServeHTTP(w, req)
		}
	})
	s.Handler = httpx.Middleware(route, opts.Logger, maxBody, metrics.Observe)
	s.workers = append(s.workers, s.sweep, s.refreshKeys)
	return s, nil
}

// Start runs the background workers until ctx ends; Wait waits for them.
func (s *Server) Start(ctx context.Context) {
	for _, w := range s.workers {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			w(ctx)
		}()
	}
}

// Wait blocks until the workers started by Start have returned.
func (s *Server) Wait() { s.wg.Wait() }

func (s *Server) sweep(ctx context.Context) {
	t := time.NewTicker(s.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := s.Store.Sweep(ctx, s.opts.Now())
			if err != nil && !errors.Is(err, context.Canceled) {
				s.logger.WarnContext(ctx, "sweep expired records", "error", err)
			} else if n > 0 {
				s.logger.DebugContext(ctx, "swept expired records", "count", n)
			}
		}
	}
}

// Serve serves HTTP(S) on ln until ctx ends, then shuts down gracefully:
// no new connections are accepted, connections whose request is still being
// read get to finish reading it (http.Server.Shutdown alone would close them
// unanswered), and in-flight requests get up to drain to finish.
func (s *Server) Serve(ctx context.Context, ln net.Listener, tlsConfig *tls.Config, drain time.Duration) error {
	var mu sync.Mutex
	fresh := map[net.Conn]bool{} // accepted, request not yet read
	hs := &http.Server{
		Handler:           s.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		TLSConfig:         tlsConfig,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelDebug),
		ConnState: func(c net.Conn, st http.ConnState) {
			mu.Lock()
			defer mu.Unlock()
			if st == http.StateNew {
				fresh[c] = true
			} else {
				delete(fresh, c)
			}
		},
	}
	errc := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			errc <- hs.ServeTLS(ln, "", "")
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	deadline := time.Now().Add(drain)
	_ = ln.Close()
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(fresh)
		mu.Unlock()
		if n == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	sctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	// The listener is already closed above; Shutdown closing it again is not a failure.
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	return nil
}
