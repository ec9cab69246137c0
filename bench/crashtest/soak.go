package crashtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Request kinds of the soak mix.
const (
	KindUserLogin         = "user-login"
	KindClientCredentials = "client-credentials"
	KindMagicLink         = "magic-link"
	KindUserinfo          = "userinfo"
)

// soakMix is the share (in percent) of each kind. /user/login runs argon2id
// (one per CPU at a time), so a small share of it already keeps the CPUs
// busy; userinfo verifies the tokens the others hand out.
var soakMix = []struct {
	kind    string
	percent int
}{{KindUserLogin, 10}, {KindClientCredentials, 30}, {KindMagicLink, 20}, {KindUserinfo, 40}}

// SoakOptions configure Soak; zero values take the defaults in brackets.
type SoakOptions struct {
	// Binary is a built latchkey ("": build one into a temporary directory).
	Binary string
	// Duration of the load [60s], Clients running it concurrently [64].
	Duration time.Duration
	Clients  int
	// Warmup is when, after the load started, the first RSS sample is
	// taken [10s]; it must be shorter than Duration.
	Warmup time.Duration
	// Settle is the pause before each goroutine count, so that connections
	// closed by the clients are gone on the server too [3s].
	Settle time.Duration
	// Users seeded for logins and magic links [16].
	Users int
	// RSSGrowth is the allowed growth of RSS from after the warm-up to the
	// end [0.20]; GoroutineSlack the allowed difference of the goroutine
	// count before and after [5].
	RSSGrowth      float64
	GoroutineSlack int
	// Logf receives progress lines (nil: none).
	Logf func(format string, args ...any)
}

func (o *SoakOptions) defaults() {
	if o.Duration <= 0 {
		o.Duration = 60 * time.Second
	}
	if o.Clients <= 0 {
		o.Clients = 64
	}
	if o.Warmup <= 0 {
		o.Warmup = 10 * time.Second
	}
	if o.Settle <= 0 {
		o.Settle = 3 * time.Second
	}
	if o.Users <= 0 {
		o.Users = 16
	}
	if o.RSSGrowth <= 0 {
		o.RSSGrowth = 0.20
	}
	if o.GoroutineSlack <= 0 {
		o.GoroutineSlack = 5
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
}

// KindStats are one request kind's figures.
type KindStats struct {
	Requests int
	Statuses map[int]int
	// Errors are transport errors (no answer at all).
	Errors   int
	P50, P99 time.Duration
}

// SoakReport is what a soak measured.
type SoakReport struct {
	Options  SoakOptions
	Elapsed  time.Duration
	Kinds    map[string]*KindStats
	Mails    int64
	RSSWarm  MemSample // after the warm-up
	RSSEnd   MemSample // when the load stopped
	RSSIdle  MemSample // after the settle pause
	GoBefore int       // goroutines before the load (after settling)
	GoAfter  int       // goroutines after the load (after settling)
	ExitCode int
	// Violations are the broken promises; empty means the soak passed.
	Violations []string
}

// Soak starts the real binary and runs the mixed load against it, then
// checks: no 5xx and no transport error, RSS at the end within RSSGrowth of
// the sample after the warm-up, the goroutine count back to its baseline
// within GoroutineSlack, and a clean exit on SIGTERM. An error means the
// soak could not run at all; broken promises are in the report.
func Soak(ctx context.Context, opts SoakOptions) (*SoakReport, error) {
	opts.defaults()
	if opts.Warmup >= opts.Duration {
		return nil, fmt.Errorf("soak: warm-up %s must be shorter than the duration %s", opts.Warmup, opts.Duration)
	}
	dir, err := os.MkdirTemp("", "latchkey-soak-")
	if err != nil {
		return nil, fmt.Errorf("soak: temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	bin := opts.Binary
	if bin == "" {
		opts.Logf("building cmd/latchkey")
		if bin, err = Build(ctx, dir); err != nil {
			return nil, err
		}
	}
	sink, err := StartMailSink()
	if err != nil {
		return nil, err
	}
	defer sink.Close()
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	cfg := Config{Port: port, DBPath: filepath.Join(dir, "latchkey.db"), SMTPPort: sink.Port, MagicLinkLifespan: "1m"}
	for i := range opts.Users {
		cfg.Users = append(cfg.Users, fmt.Sprintf("soak-%d@example.com", i))
	}
	cfgPath := filepath.Join(dir, "latchkey.yaml")
	if err := cfg.Write(cfgPath); err != nil {
		return nil, err
	}
	p, err := Start(bin, cfgPath, cfg.BaseURL(), nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = p.Kill() }()
	if _, err := p.WaitReady(30 * time.Second); err != nil {
		return nil, err
	}
	rep := &SoakReport{Options: opts, Kinds: map[string]*KindStats{}}
	c := NewClient(cfg.BaseURL())
	// Logins queue for argon2id (one per CPU): on a small machine their
	// p99 runs to seconds, which is load, not a failure.
	c.HTTP.Timeout = time.Minute
	l := &load{c: c, users: cfg.Users, pool: newTokenPool(256)}
	// One request of each kind first, so that what the server builds lazily
	// (the SMTP connection, the dummy password hash) is in the baseline.
	if err := l.prime(ctx); err != nil {
		return nil, err
	}
	c.Close()
	time.Sleep(opts.Settle)
	if rep.GoBefore, err = goroutines(ctx, c); err != nil {
		return nil, err
	}
	opts.Logf("baseline: %d goroutines; running %d clients for %s", rep.GoBefore, opts.Clients, opts.Duration)

	start := time.Now()
	var stop atomic.Bool
	results := make([][]sample, opts.Clients)
	var wg sync.WaitGroup
	for i := range opts.Clients {
		wg.Go(func() { results[i] = l.run(ctx, &stop) })
	}
	warm := time.NewTimer(opts.Warmup)
	end := time.NewTimer(opts.Duration)
	select {
	case <-warm.C:
		rep.RSSWarm, err = p.RSS()
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err == nil {
		opts.Logf("after the %s warm-up: RSS %s", opts.Warmup, mib(rep.RSSWarm.RSS))
		select {
		case <-end.C:
			rep.RSSEnd, err = p.RSS()
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	stop.Store(true)
	wg.Wait()
	rep.Elapsed = time.Since(start)
	if err != nil {
		return nil, fmt.Errorf("soak interrupted: %w", err)
	}
	c.Close()
	time.Sleep(opts.Settle)
	if rep.GoAfter, err = goroutines(ctx, c); err != nil {
		return nil, err
	}
	if rep.RSSIdle, err = p.RSS(); err != nil {
		return nil, err
	}
	rep.Mails = sink.Messages()
	if rep.ExitCode, err = p.Terminate(30 * time.Second); err != nil {
		return nil, err
	}
	rep.tally(results)
	rep.judge()
	return rep, nil
}

// sample is one request's outcome.
type sample struct {
	kind    string
	status  int // 0: transport error
	latency time.Duration
}

// load is the shared state of the soak's clients.
type load struct {
	c       *Client
	users   []string
	pool    *tokenPool
	service atomic.Pointer[string]
}

// prime sends one request of each kind.
func (l *load) prime(ctx context.Context) error {
	for _, k := range []string{KindClientCredentials, KindUserLogin, KindMagicLink, KindUserinfo} {
		s := l.one(ctx, k)
		if s.status != http.StatusOK {
			return fmt.Errorf("soak: first %s request answered %d, want 200", k, s.status)
		}
	}
	return nil
}

// run sends requests of random kinds until stop is set.
func (l *load) run(ctx context.Context, stop *atomic.Bool) []sample {
	var out []sample
	for !stop.Load() && ctx.Err() == nil {
		n, kind := rand.IntN(100), ""
		for _, m := range soakMix {
			if n < m.percent {
				kind = m.kind
				break
			}
			n -= m.percent
		}
		out = append(out, l.one(ctx, kind))
	}
	return out
}

// one sends one request of kind and feeds issued tokens to the pool.
func (l *load) one(ctx context.Context, kind string) sample {
	start := time.Now()
	var r Response
	var err error
	switch kind {
	case KindClientCredentials:
		var tok string
		r, tok, err = l.c.ClientCredentials(ctx)
		if tok != "" {
			l.service.Store(&tok)
			l.pool.put(tok)
		}
	case KindUserLogin:
		r, err = l.c.UserLogin(ctx, l.users[rand.IntN(len(l.users))], UserPassword)
		if err == nil && r.Status == http.StatusOK {
			var body struct {
				ResponseData struct{ Token string } `json:"responseData"`
			}
			if json.Unmarshal(r.Body, &body) == nil && body.ResponseData.Token != "" {
				l.pool.put(body.ResponseData.Token)
			}
		}
	case KindMagicLink:
		tok := l.service.Load()
		if tok == nil {
			return l.one(ctx, KindClientCredentials)
		}
		r, err = l.c.SendMagicLink(ctx, *tok, l.users[rand.IntN(len(l.users))])
	case KindUserinfo:
		tok := l.pool.get()
		if tok == "" {
			return l.one(ctx, KindUserLogin)
		}
		r, err = l.c.Userinfo(ctx, tok)
	}
	s := sample{kind: kind, status: r.Status, latency: time.Since(start)}
	if err != nil {
		s.status = 0
	}
	return s
}

// tokenPool keeps recently issued access tokens for userinfo.
type tokenPool struct {
	mu   sync.Mutex
	toks []string
	next int
}

func newTokenPool(n int) *tokenPool { return &tokenPool{toks: make([]string, 0, n)} }

func (p *tokenPool) put(tok string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.toks) < cap(p.toks) {
		p.toks = append(p.toks, tok)
		return
	}
	p.toks[p.next] = tok
	p.next = (p.next + 1) % len(p.toks)
}

func (p *tokenPool) get() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.toks) == 0 {
		return ""
	}
	return p.toks[rand.IntN(len(p.toks))]
}

// goroutines reads go_goroutines from /metrics.
func goroutines(ctx context.Context, c *Client) (int, error) {
	r, err := c.Do(ctx, nil, http.MethodGet, c.Base+"/metrics", "", nil, nil)
	if err != nil {
		return 0, err
	}
	if r.Status != http.StatusOK {
		return 0, fmt.Errorf("GET /metrics = %d", r.Status)
	}
	sc := bufio.NewScanner(bytes.NewReader(r.Body))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, fmt.Errorf("parse go_goroutines %q: %w", v, err)
			}
			return int(f), nil
		}
	}
	return 0, fmt.Errorf("no go_goroutines in /metrics")
}
