package crashtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/bench/crashtest"
	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/bboltstore"
	"github.com/latchkey/latchkey/storage/postgres"
	"github.com/latchkey/latchkey/storage/postgres/pgtest"
)

// Workers per kind in every life of the server.
const (
	magicWorkers   = 2
	genWorkers     = 2
	refreshWorkers = 2
	// genEmailsPerCall makes each generate-link request create two users and
	// queue two deliveries: all of them or none must survive a kill.
	genEmailsPerCall = 2
)

// chain is one refresh-token rotation chain (one user, one SSO session).
type chain struct {
	user  string
	token string // the newest refresh token the server handed out
	// uncertain is set when the last rotation of token was in flight at a
	// kill: the server may or may not have committed it.
	uncertain bool
	// strict counts rotations of a token whose predecessor's rotation was
	// acknowledged (must succeed); lenient counts the outcomes accepted
	// either way after an in-flight kill.
	strict, lenientOK, lenientLost int
}

// ledger records what the server acknowledged (2xx) across all its lives.
type ledger struct {
	mu    sync.Mutex
	magic []string // emails whose magic-link request got 200
	gen   []string // emails of generate-link requests that got 200
	// genUnknown are the email sets of generate-link requests in flight at
	// a kill: each set must exist entirely or not at all.
	genUnknown [][]string
	chains     []*chain
	outcomes   tally
	// violations are acknowledged effects found missing while running.
	violations []string
}

func (l *ledger) ack(kind string, emails ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch kind {
	case "magic":
		l.magic = append(l.magic, emails...)
	case "gen":
		l.gen = append(l.gen, emails...)
	}
}

func (l *ledger) violate(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.violations = append(l.violations, fmt.Sprintf(format, args...))
}

// record counts one request's outcome: "ok", "in flight at kill" (a
// transport error: the server died), or the unexpected status.
func (l *ledger) record(kind string, r crashtest.Response, err error, okStatus int) bool {
	switch {
	case err != nil && refused(err):
		l.outcomes.add(kind+" refused (server down)", "")
	case err != nil:
		l.outcomes.add(kind+" in flight at kill", "")
	case r.Status == okStatus:
		l.outcomes.add(kind+" acknowledged", "")
		return true
	default:
		l.outcomes.add(fmt.Sprintf("%s UNEXPECTED %d", kind, r.Status), string(r.Body))
	}
	return false
}

// TestCrashKillLoop kills the real binary with SIGKILL at random moments
// while clients issue magic links (forceCreate), generate links with a
// webhook workflow and rotate refresh tokens, restarts it on the same bbolt
// file each time, and then checks that everything acknowledged survived:
// users exist, every mailed link works exactly once, every link's webhook
// is delivered, acknowledged refresh tokens still rotate, and the file
// passes bbolt's and the store's consistency checks.
func TestCrashKillLoop(t *testing.T) {
	crashKillLoop(t, envInt(t, "LATCHKEY_CRASH_KILLS", 20), "")
}

// TestCrashKillLoopPostgres is the same crash loop with everything kept in a
// durable PostgreSQL: a killed replica must leave no acknowledged user, link
// or outbox entry behind there either.
func TestCrashKillLoopPostgres(t *testing.T) {
	cluster, err := pgtest.New(pgtest.Options{Durable: true}) // fsync on: this is a durability test
	if errors.Is(err, pgtest.ErrNoPostgres) && os.Getenv("CI") != "true" {
		t.Skipf("PostgreSQL is not installed (%v); CI installs it", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.Close() })
	t.Setenv("LATCHKEY_API_KEY_SECRET", "crash-loop-api-key-secret-0123456789abcdef")
	crashKillLoop(t, envInt(t, "LATCHKEY_CRASH_KILLS_POSTGRES", 10), cluster.NewDatabase(t))
}

// crashKillLoop kills the server kills times under mixed load, on the bbolt
// file or, with dsn, on PostgreSQL, then checks what survived.
func crashKillLoop(t *testing.T, kills int, dsn string) {
	if testing.Short() && kills > 5 {
		kills = 5
	}
	began := time.Now()
	l := &ledger{}
	var users []string
	for i := range refreshWorkers {
		c := &chain{user: fmt.Sprintf("chain-%d@example.com", i)}
		l.chains = append(l.chains, c)
		users = append(users, c.user)
	}
	s := newServerOn(t, users, 0, dsn)

	var startups []time.Duration
	for run := range kills {
		p, ready := s.start(t)
		startups = append(startups, ready)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := range magicWorkers {
			wg.Go(func() { l.magicWorker(ctx, s.client, run, w) })
		}
		for w := range genWorkers {
			wg.Go(func() { l.genWorker(ctx, s.client, run, w) })
		}
		// The kill timer starts once every chain holds a refresh token: a
		// login (five requests and an argon2id hash) can take longer than
		// the kill window on a loaded machine, and a chain that never gets
		// going checks nothing.
		var loggedIn sync.WaitGroup
		loggedIn.Add(len(l.chains))
		for _, c := range l.chains {
			wg.Go(func() { l.refreshWorker(ctx, s.client, c, sync.OnceFunc(loggedIn.Done)) })
		}
		waitGroup(&loggedIn, 15*time.Second)
		// Not a wait for something to happen: the server runs under load for
		// a random 50–400 ms, so that the kill lands at a random point of
		// its work.
		time.Sleep(time.Duration(50+rand.IntN(351)) * time.Millisecond)
		// Kill first, then stop the clients: requests in flight at the kill
		// see the connection die, as real clients would.
		if err := p.Kill(); err != nil {
			t.Fatal(err)
		}
		cancel()
		wg.Wait()
		s.client.Close()
	}
	loopTime := time.Since(began)

	// The last life: nothing is killed any more; check what survived.
	p, ready := s.start(t)
	startups = append(startups, ready)
	for _, c := range l.chains {
		l.verifyChain(context.Background(), s.client, c)
	}
	missing := s.hook.waitDelivered(l.gen, 20*time.Second)
	linkFailures := s.checkMagicLinks(l.magic)
	if code, err := p.Terminate(30 * time.Second); err != nil || code != 0 {
		t.Errorf("final SIGTERM: exit code %d, err %v; want 0", code, err)
	}
	storeProblems, outboxLeft := checkStore(t, s.cfg, append(append([]string(nil), l.magic...), l.gen...), l.genUnknown, s.hook)

	// Report, then judge.
	delivered, ids, attempts, _, badSig := s.hook.users()
	var maxStart, sumStart time.Duration
	for _, d := range startups {
		maxStart, sumStart = max(maxStart, d), sumStart+d
	}
	var strict, lenientOK, lenientLost int
	for _, c := range l.chains {
		strict, lenientOK, lenientLost = strict+c.strict, lenientOK+c.lenientOK, lenientLost+c.lenientLost
	}
	t.Logf("crash loop: %d SIGKILLs survived in %s (whole test %s); %d starts, startup to ready avg %s max %s",
		kills, loopTime.Round(time.Millisecond), time.Since(began).Round(time.Millisecond), len(startups),
		(sumStart / time.Duration(len(startups))).Round(time.Millisecond), maxStart.Round(time.Millisecond))
	t.Logf("acknowledged: %d magic links, %d generate-link users (+%d requests in flight at a kill, checked all-or-nothing); webhooks: %d delivery ids for %d users, %d attempts (%d redeliveries); outbox left %d",
		len(l.magic), len(l.gen), len(l.genUnknown), ids, len(delivered), attempts, attempts-ids, outboxLeft)
	t.Logf("refresh chains: %d strict rotations after acknowledged ones, %d rotations after an in-flight kill (%d went through, %d were committed before the kill and so replayed)",
		strict, lenientOK+lenientLost, lenientOK, lenientLost)
	t.Logf("request outcomes:\n%s", l.outcomes.String())

	for _, v := range l.violations {
		t.Error(v)
	}
	for k, n := range l.outcomes.n {
		if strings.Contains(k, "UNEXPECTED") {
			t.Errorf("%d unexpected answers %q (e.g. %.300s); want only 2xx (or a transport error at a kill)", n, k, l.outcomes.samples[k])
		}
	}
	if len(l.magic) == 0 || len(l.gen) == 0 || strict == 0 {
		t.Errorf("the loop acknowledged %d magic links, %d generate-link users and %d strict rotations; want each > 0 (or the checks prove nothing)",
			len(l.magic), len(l.gen), strict)
	}
	if len(missing) > 0 {
		t.Errorf("%d acknowledged generate-link users never got their webhook delivery (at-least-once), e.g. %v", len(missing), first(missing, 5))
	}
	for _, b := range badSig {
		t.Errorf("malformed webhook delivery: %s", b)
	}
	for _, f := range first(linkFailures, 10) {
		t.Error(f)
	}
	if len(linkFailures) > 10 {
		t.Errorf("... and %d more magic-link failures", len(linkFailures)-10)
	}
	for _, pr := range storeProblems {
		t.Error(pr)
	}
}

func (l *ledger) magicWorker(ctx context.Context, c *crashtest.Client, run, w int) {
	tok, err := c.ServiceToken(ctx)
	if err != nil {
		return // killed before the worker got going
	}
	for n := 0; ctx.Err() == nil; n++ {
		email := fmt.Sprintf("ml-%d-%d-%d@example.com", run, w, n)
		r, err := c.SendMagicLink(ctx, tok, email)
		if l.record("magic-link", r, err, http.StatusOK) {
			l.ack("magic", email)
		} else if err != nil {
			return
		}
	}
}

func (l *ledger) genWorker(ctx context.Context, c *crashtest.Client, run, w int) {
	tok, err := c.ServiceToken(ctx)
	if err != nil {
		return
	}
	for n := 0; ctx.Err() == nil; n++ {
		emails := make([]string, genEmailsPerCall)
		for i := range emails {
			emails[i] = fmt.Sprintf("gl-%d-%d-%d-%d@example.com", run, w, n, i)
		}
		r, err := c.GenerateLink(ctx, tok, emails, crashtest.Workflow)
		if !l.record("generate-link", r, err, http.StatusOK) {
			if err != nil {
				if !refused(err) {
					l.mu.Lock()
					l.genUnknown = append(l.genUnknown, emails)
					l.mu.Unlock()
				}
				return
			}
			continue
		}
		var links []struct {
			User             string `json:"user"`
			GeneratedMessage string `json:"GeneratedMessage"`
		}
		if err := json.Unmarshal(r.Body, &links); err != nil || len(links) != len(emails) {
			l.violate("generate-link answered 200 with %.300s, want one link per email %v", r.Body, emails)
			continue
		}
		l.ack("gen", emails...)
	}
}

// refreshWorker rotates its chain's refresh token until the server dies,
// logging in through the login form first when the chain has no token; it
// calls ready once the chain holds a token.
// It pauses between rotations so that a kill often finds the chain idle
// (its last rotation acknowledged): only those are checked strictly.
func (l *ledger) refreshWorker(ctx context.Context, c *crashtest.Client, ch *chain, ready func()) {
	defer ready() // also when the worker gives up: the loop must not wait for it
	for ctx.Err() == nil {
		if ch.token != "" {
			ready()
		}
		if ch.token == "" {
			tr, err := c.BrowserLogin(ctx, ch.user, crashtest.UserPassword)
			if err != nil {
				if crashtest.IsAnswer(err) {
					l.outcomes.add("login UNEXPECTED", err.Error())
				}
				return // or the server died during the login: try again in its next life
			}
			l.outcomes.add("login acknowledged", "")
			ch.token, ch.uncertain = tr.RefreshToken, false
			continue
		}
		if !l.rotate(ctx, c, ch) {
			return
		}
		// Pacing, not waiting: a random gap between rotations spreads the
		// chains' requests over the kill window.
		time.Sleep(time.Duration(rand.IntN(40)) * time.Millisecond)
	}
}

// rotate exchanges the chain's refresh token once and applies the rule:
//
//   - If the previous rotation was acknowledged (the client holds the token
//     the server last answered with), the server must accept it: a 200 was
//     only sent after the new token was committed, so no kill may lose it.
//   - If the previous rotation was in flight when the server was killed,
//     either outcome is correct: the kill may have come before the commit
//     (the old token still rotates) or after it but before the answer got
//     out (the old token is already rotated, so presenting it again is a
//     replay, refused with invalid_grant and, Keycloak-style, the session's
//     tokens revoked). The chain then starts over with a fresh login.
//
// It returns false when the server is gone.
func (l *ledger) rotate(ctx context.Context, c *crashtest.Client, ch *chain) bool {
	r, tr, err := c.Refresh(ctx, ch.token)
	switch {
	case err != nil && !crashtest.IsAnswer(err):
		if refused(err) {
			l.outcomes.add("refresh refused (server down)", "")
		} else {
			l.outcomes.add("refresh in flight at kill", "")
			ch.uncertain = true
		}
		return false
	case err != nil:
		l.violate("refresh: %v", err)
		return false
	case r.Status == http.StatusOK:
		l.outcomes.add("refresh acknowledged", "")
		if ch.uncertain {
			ch.lenientOK++
		} else {
			ch.strict++
		}
		ch.token, ch.uncertain = tr.RefreshToken, false
		return true
	case ch.uncertain && r.Status == http.StatusBadRequest && tr.Error == "invalid_grant":
		l.outcomes.add("refresh replay after in-flight kill (accepted)", "")
		ch.lenientLost++
		ch.token, ch.uncertain = "", false
		return true
	default:
		l.violate("refresh of %s's acknowledged refresh token = %d %.300s, want 200: an acknowledged rotation was lost",
			ch.user, r.Status, r.Body)
		l.outcomes.add(fmt.Sprintf("refresh UNEXPECTED %d", r.Status), string(r.Body))
		ch.token, ch.uncertain = "", false
		return true
	}
}

// verifyChain rotates the chain's token once on the final server.
func (l *ledger) verifyChain(ctx context.Context, c *crashtest.Client, ch *chain) {
	if ch.token == "" {
		return
	}
	l.rotate(ctx, c, ch)
}

// checkMagicLinks uses every acknowledged magic link (found in the captured
// mail) exactly once, four at a time, and returns what failed.
func (s *server) checkMagicLinks(emails []string) []string {
	links := mailLinks(s.mail)
	var mu sync.Mutex
	var failures []string
	fail := func(format string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	work := make(chan string)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for email := range work {
				got := links[strings.ToLower(email)]
				if len(got) != 1 {
					fail("acknowledged magic link for %s: %d mails with a link, want exactly 1", email, len(got))
					continue
				}
				if err := s.client.UseMagicLink(context.Background(), got[0]); err != nil {
					fail("acknowledged magic link for %s: %v", email, err)
				}
			}
		})
	}
	for _, e := range emails {
		work <- e
	}
	close(work)
	wg.Wait()
	return failures
}

// checkStore opens the bbolt file the server left (stopped), runs the
// store's consistency check and looks up every acknowledged user and every
// user a webhook delivery named (a delivery is only queued in the same
// transaction that creates its user). The users of each generate-link
// request that was in flight at a kill must all exist or none. It returns
// the problems found and the number of outbox entries still queued.
func checkStore(t *testing.T, cfg crashtest.Config, acked []string, unknown [][]string, hook *hookRecorder) ([]string, int) {
	t.Helper()
	ctx := context.Background()
	var problems []string
	var st storage.Store
	if cfg.PostgresDSN != "" {
		pg, err := postgres.Open(ctx, postgres.Options{DSN: cfg.PostgresDSN})
		if err != nil {
			return []string{fmt.Sprintf("open the database after the last stop: %v", err)}, 0
		}
		st = pg
	} else {
		bb, err := bboltstore.Open(cfg.DBPath, bboltstore.Options{Timeout: 5 * time.Second})
		if err != nil {
			return []string{fmt.Sprintf("open the bbolt file after the last stop: %v", err)}, 0
		}
		if err := bb.Check(); err != nil {
			problems = append(problems, fmt.Sprintf("store consistency check: %v", err))
		}
		st = bb
	}
	defer st.Close()
	lookup := func(email, why string) {
		u, err := st.GetUserByEmail(ctx, crashtest.Realm, email)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("%s user %s: %v, want it stored", why, email, err))
		case !u.Enabled || u.ID == "":
			problems = append(problems, fmt.Sprintf("%s user %s is stored half-written: %+v", why, email, u))
		}
	}
	for _, e := range acked {
		lookup(e, "acknowledged")
	}
	delivered, _, _, _, _ := hook.users()
	for e := range delivered {
		lookup(e, "webhook-delivered")
	}
	for _, set := range unknown {
		found := 0
		for _, e := range set {
			if _, err := st.GetUserByEmail(ctx, crashtest.Realm, e); err == nil {
				found++
			}
		}
		if found != 0 && found != len(set) {
			problems = append(problems, fmt.Sprintf("generate-link request for %v in flight at a kill is half-written: %d of %d users exist",
				set, found, len(set)))
		}
	}
	n, err := st.CountOutbox(ctx)
	if err != nil {
		problems = append(problems, fmt.Sprintf("count outbox: %v", err))
	}
	return problems, n
}

func first[T any](s []T, n int) []T { return s[:min(n, len(s))] }

// waitGroup waits for wg, at most timeout.
func waitGroup(wg *sync.WaitGroup, timeout time.Duration) {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(timeout):
	}
}
