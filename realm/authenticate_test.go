package realm_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
)

// attempt is one step of a brute-force sequence: move the clock by advance,
// then try pw; want is "ok", "wrong", "wrong+lock" (the failure that started
// a lockout), "locked", or an error's text.
type attempt struct {
	advance   time.Duration
	login, pw string
	want      string
	retry     time.Duration // for "locked": the exact RetryAfter
}

func outcome(err error) (string, time.Duration) {
	var locked *realm.LockedError
	switch {
	case err == nil:
		return "ok", 0
	case errors.As(err, &locked):
		return "locked", locked.RetryAfter
	case errors.Is(err, realm.ErrLockoutStarted) && errors.Is(err, realm.ErrWrongPassword):
		return "wrong+lock", 0
	case errors.Is(err, realm.ErrWrongPassword):
		return "wrong", 0
	default:
		return err.Error(), 0
	}
}

func runAttempts(t *testing.T, r *realm.Realm, clk *clock, steps []attempt) {
	t.Helper()
	for i, st := range steps {
		clk.Advance(st.advance)
		_, err := r.Authenticate(context.Background(), st.login, st.pw)
		got, retry := outcome(err)
		if got != st.want || retry != st.retry {
			t.Fatalf("step %d (+%s, %q): got %s (retry %s), err %v; want %s (retry %s)",
				i, st.advance, st.pw, got, retry, err, st.want, st.retry)
		}
	}
}

// The demo realm: failureFactor 3, waitIncrement 1m, maxWait 150s, failureResetTime 1h.
func TestAuthenticateBruteForce(t *testing.T) {
	const a, good, bad = "alice@example.com", testPassword, "wrong password"
	wrong := func(d time.Duration) attempt { return attempt{advance: d, login: a, pw: bad, want: "wrong"} }
	lock := func(d time.Duration) attempt { return attempt{advance: d, login: a, pw: bad, want: "wrong+lock"} }
	locked := func(d, retry time.Duration, pw string) attempt {
		return attempt{advance: d, login: a, pw: pw, want: "locked", retry: retry}
	}
	ok := func(d time.Duration) attempt { return attempt{advance: d, login: a, pw: good, want: "ok"} }
	tests := []struct {
		name  string
		steps []attempt
	}{
		{"success without failures", []attempt{ok(0), ok(0)}},
		{"factor reached locks, right password included", []attempt{
			wrong(0), wrong(time.Second), lock(time.Second),
			locked(0, time.Minute, bad),
			locked(20*time.Second, 40*time.Second, good),
			locked(39*time.Second, time.Second, bad),
			// The lock ends exactly at LockedUntil.
			ok(time.Second),
		}},
		{"after the factor every failure locks, the wait growing per multiple of the factor, capped", []attempt{
			wrong(0), wrong(0), lock(0), locked(0, time.Minute, bad),
			// A lockout that ran out buys one guess (Keycloak's model), not three.
			lock(time.Minute), locked(0, time.Minute, bad), // 4th failure: 4/3 = 1 × 1m
			lock(time.Minute), locked(0, time.Minute, bad), // 5th
			lock(time.Minute), locked(0, 2*time.Minute, bad), // 6th: 2 × 1m
			lock(2 * time.Minute), lock(2 * time.Minute), // 7th, 8th: 2m
			// 9th: 3 × 1m = 3m is over maxWait (150s).
			lock(2 * time.Minute), locked(0, 150*time.Second, good),
		}},
		{"success resets the counter", []attempt{
			wrong(0), wrong(0), ok(0),
			wrong(0), wrong(0), lock(0), locked(0, time.Minute, good),
			// After a lockout and a success the wait starts over at 1×.
			ok(time.Minute), wrong(0), wrong(0), lock(0), locked(0, time.Minute, bad),
		}},
		{"failures older than failureResetTime are forgotten", []attempt{
			wrong(0), wrong(0),
			wrong(time.Hour + time.Second), wrong(0), lock(0), locked(0, time.Minute, bad),
		}},
		{"failures within failureResetTime count", []attempt{
			wrong(0), wrong(59 * time.Minute), lock(59 * time.Minute), locked(0, time.Minute, bad),
		}},
		{"login by username shares the counter", []attempt{
			wrong(0), {login: "ALICE", pw: bad, want: "wrong"}, {login: "alice", pw: bad, want: "wrong+lock"},
			{login: "Alice@Example.com", pw: good, want: "locked", retry: time.Minute},
		}},
		{"user without a password fails and counts", []attempt{
			{login: "nopass@example.com", pw: "", want: "wrong"},
			{login: "nopass@example.com", pw: "anything", want: "wrong"},
			{login: "nopass@example.com", pw: "anything", want: "wrong+lock"},
			{login: "nopass@example.com", pw: "anything", want: "locked", retry: time.Minute},
		}},
		{"disabled user, right password", []attempt{
			{login: "off@example.com", pw: good, want: realm.ErrUserDisabled.Error()},
			{login: "off@example.com", pw: bad, want: realm.ErrUserDisabled.Error()},
		}},
		{"unknown user", []attempt{
			{login: "nobody@example.com", pw: good, want: realm.ErrUnknownUser.Error()},
			{login: "", pw: good, want: realm.ErrUnknownUser.Error()},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _, clk := newDemo(t)
			runAttempts(t, r, clk, tt.steps)
		})
	}
}

// Disabled and unknown users never create a failure record: the counter is
// per existing, enabled account.
func TestAuthenticateNoCounterForUnknownOrDisabled(t *testing.T) {
	r, store, _ := newDemo(t)
	ctx := context.Background()
	off, err := store.GetUserByEmail(ctx, "demo", "off@example.com")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		_, _ = r.Authenticate(ctx, "off@example.com", "wrong password")
		_, _ = r.Authenticate(ctx, "nobody@example.com", "wrong password")
	}
	for _, key := range []string{off.ID, "nobody@example.com"} {
		if f, err := store.GetLoginFailures(ctx, "demo", key); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("login failures under %q = %+v, %v; want storage.ErrNotFound", key, f, err)
		}
	}
}

func TestAuthenticateBruteForceDisabled(t *testing.T) {
	clk := newClock()
	store := openStore(t, clk)
	yaml := strings.Replace(demoYAML(), "bruteForce: {failureFactor: 3,", "bruteForce: {enabled: false, failureFactor: 3,", 1)
	r := mustRealm(t, buildRegistry(t, yaml, store, clk), "demo")
	if r.BruteForce.Enabled {
		t.Fatal("test setup: brute-force detection still enabled")
	}
	var steps []attempt
	for range 7 {
		steps = append(steps, attempt{login: "alice@example.com", pw: "wrong password", want: "wrong"})
	}
	steps = append(steps, attempt{login: "alice@example.com", pw: testPassword, want: "ok"})
	runAttempts(t, r, clk, steps)
}

// Of 30 parallel wrong guesses against a fresh account with failureFactor 5,
// exactly 5 are evaluated (one of them starting the lockout) and 25 are
// refused as locked (SPEC §5.2).
func TestAuthenticateParallelGuesses(t *testing.T) {
	clk := newClock()
	store := openStore(t, clk)
	yaml := strings.Replace(demoYAML(), "failureFactor: 3", "failureFactor: 5", 1)
	r := mustRealm(t, buildRegistry(t, yaml, store, clk), "demo")
	const n = 30
	outcomes := make([]string, n)
	retries := make([]time.Duration, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := r.Authenticate(context.Background(), "alice@example.com", "wrong password")
			outcomes[i], retries[i] = outcome(err)
		}()
	}
	close(start)
	wg.Wait()
	counts := map[string]int{}
	for i, o := range outcomes {
		counts[o]++
		if o == "locked" && retries[i] != time.Minute {
			t.Errorf("attempt %d: RetryAfter = %s, want 1m0s", i, retries[i])
		}
	}
	want := map[string]int{"wrong": 4, "wrong+lock": 1, "locked": 25}
	for k, v := range want {
		if counts[k] != v {
			t.Errorf("%d attempts got %q, want %d (all outcomes: %v)", counts[k], k, v, counts)
		}
	}
	if len(counts) != len(want) {
		t.Errorf("unexpected outcomes: %v, want only %v", counts, want)
	}
	f, err := store.GetLoginFailures(context.Background(), "demo", mustUserID(t, r, "alice@example.com"))
	if err != nil || f.NumFailures != 5 || !f.LockedUntil.Equal(clk.Now().Add(time.Minute)) {
		t.Errorf("failure record = %+v, %v; want 5 failures, locked until %v", f, err, clk.Now().Add(time.Minute))
	}
}

func TestLockedErrorMessage(t *testing.T) {
	tests := []struct {
		retry time.Duration
		want  string
	}{
		{time.Minute, "account temporarily locked, retry after 1m0s"},
		{1500 * time.Millisecond, "account temporarily locked, retry after 2s"},
	}
	for _, tt := range tests {
		if got := (&realm.LockedError{RetryAfter: tt.retry}).Error(); got != tt.want {
			t.Errorf("LockedError{%s}.Error() = %q, want %q", tt.retry, got, tt.want)
		}
	}
}

func mustUserID(t *testing.T, r *realm.Realm, login string) string {
	t.Helper()
	u, err := r.FindUser(context.Background(), login)
	if err != nil {
		t.Fatalf("FindUser(%q): %v", login, err)
	}
	return u.ID
}
