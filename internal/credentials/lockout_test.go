package credentials_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testkit"
)

const (
	lockedLogin = `{"responseCode":429,"responseMessage":"Too many failed login attempts, please try again later"}`
	lockedWF    = `{"message":"Too many failed login attempts, please try again later"}`
)

// api describes one of the two APIs for tests that run against both.
type api struct {
	name       string
	path       string
	body       func(email, pw string) string
	wrong      int    // status of a wrong password
	wrongBody  string // body of a wrong password
	lockedBody string
}

var apis = []api{
	{"user/login", "/user/login", loginBody, 405, loginError(405, "Please provide valid password"), lockedLogin},
	{"wf", "/wf/generate-user-token", wfBody, 401, wfMessage("Invalid email or password"), lockedWF},
}

// TestLockoutUnderConcurrency fires 20 parallel wrong guesses at a fresh
// account with failureFactor 5: failures are recorded atomically when the
// answer is decided, so exactly 5 answer "wrong password" and the other 15
// are refused as locked.
func TestLockoutUnderConcurrency(t *testing.T) {
	env := testkit.New(t, testConfig, testkit.Options{NoMail: true})
	c := env.Client()
	for i, a := range apis {
		t.Run(a.name, func(t *testing.T) {
			email := []string{"carol@example.com", "dave@example.com"}[i]
			const n = 20
			results := make([]response, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for j := range n {
				wg.Go(func() {
					<-start
					results[j] = postJSON(t, c, env.URL+a.path, a.body(email, "wrong guess"))
				})
			}
			close(start)
			wg.Wait()
			evaluated, locked := 0, 0
			for _, r := range results {
				switch {
				case r.status == a.wrong && r.body == a.wrongBody:
					evaluated++
				case r.status == http.StatusTooManyRequests && r.body == a.lockedBody && r.header.Get("Retry-After") != "":
					locked++
				default:
					t.Errorf("parallel wrong guess = %d %s (Retry-After %q), want %d or 429", r.status, r.body, r.header.Get("Retry-After"), a.wrong)
				}
			}
			if evaluated != 5 || locked != n-5 {
				t.Fatalf("of %d parallel wrong guesses %d were evaluated and %d refused, want 5 and %d", n, evaluated, locked, n-5)
			}
			got := postJSON(t, c, env.URL+a.path, a.body(email, carolPassword))
			if got.status != http.StatusTooManyRequests || got.body != a.lockedBody {
				t.Fatalf("right password while locked = %d %s, want 429 %s", got.status, got.body, a.lockedBody)
			}
		})
	}
}

// TestLockoutSequenceAndExpiry walks Keycloak's model with the injected clock:
// the failure that reaches the factor still answers "wrong password", then
// everything is 429 until the wait is over; a success resets the counter; the
// wait grows by waitIncrement per lockout.
func TestLockoutSequenceAndExpiry(t *testing.T) {
	for i, a := range apis {
		t.Run(a.name, func(t *testing.T) {
			env := testkit.New(t, testConfig, testkit.Options{NoMail: true})
			c := env.Client()
			email := []string{"carol@example.com", "dave@example.com"}[i]
			try := func(pw string, wantStatus int, wantBody, wantRetry string) {
				t.Helper()
				got := postJSON(t, c, env.URL+a.path, a.body(email, pw))
				if wantStatus == http.StatusOK {
					if got.status != http.StatusOK {
						t.Fatalf("right password = %d %s, want 200", got.status, got.body)
					}
					return
				}
				if got.status != wantStatus || got.body != wantBody || got.header.Get("Retry-After") != wantRetry {
					t.Fatalf("attempt = %d %s (Retry-After %q), want %d %s (Retry-After %q)",
						got.status, got.body, got.header.Get("Retry-After"), wantStatus, wantBody, wantRetry)
				}
			}
			for range 5 { // the 5th reaches failureFactor and still answers "wrong password"
				try("wrong", a.wrong, a.wrongBody, "")
			}
			try(carolPassword, 429, a.lockedBody, "60")
			try("wrong", 429, a.lockedBody, "60")
			env.Clock.Advance(30 * time.Second)
			try(carolPassword, 429, a.lockedBody, "30")
			env.Clock.Advance(31 * time.Second)
			try(carolPassword, 200, "", "")

			// The success reset the counter: five more failures lock again for 1m.
			for range 5 {
				try("wrong", a.wrong, a.wrongBody, "")
			}
			try("wrong", 429, a.lockedBody, "60")
			// Without a success in between, a lockout that ran out buys one
			// guess, which locks again at once (Keycloak's model): the 6th
			// to 9th failures wait 1m each, the 10th 2 × waitIncrement.
			for range 4 {
				env.Clock.Advance(61 * time.Second)
				try("wrong", a.wrong, a.wrongBody, "")
				try(carolPassword, 429, a.lockedBody, "60")
			}
			env.Clock.Advance(61 * time.Second)
			try("wrong", a.wrong, a.wrongBody, "")
			try(carolPassword, 429, a.lockedBody, "120")
		})
	}
}

// TestLockoutSharedAcrossAPIs checks that failures on either API count
// towards one lockout, which then holds on both.
func TestLockoutSharedAcrossAPIs(t *testing.T) {
	env := testkit.New(t, testConfig, testkit.Options{NoMail: true})
	c := env.Client()
	for range 3 {
		postJSON(t, c, env.URL+"/user/login", loginBody("carol@example.com", "wrong"))
	}
	for range 2 {
		postJSON(t, c, env.URL+"/auth/realms/acme/wf/generate-user-token", wfBody("carol@example.com", "wrong"))
	}
	for _, a := range apis {
		got := postJSON(t, c, env.URL+a.path, a.body("carol@example.com", carolPassword))
		if got.status != http.StatusTooManyRequests || got.body != a.lockedBody {
			t.Errorf("%s after 5 failures across both APIs = %d %s, want 429 %s", a.name, got.status, got.body, a.lockedBody)
		}
	}
}

// TestAdminUnlock checks that an admin's unlock (what `latchkey user unlock`
// runs; the command itself is tested in cmd/latchkey) ends a lockout at once.
func TestAdminUnlock(t *testing.T) {
	env := testkit.New(t, testConfig, testkit.Options{NoMail: true})
	c := env.Client()
	for range 5 {
		postJSON(t, c, env.URL+"/user/login", loginBody("carol@example.com", "wrong"))
	}
	if got := postJSON(t, c, env.URL+"/user/login", loginBody("carol@example.com", carolPassword)); got.status != 429 {
		t.Fatalf("login while locked = %d %s, want 429", got.status, got.body)
	}
	if err := acme(t, env).ResetLoginFailures(context.Background(), user(t, env, "carol@example.com").ID); err != nil {
		t.Fatalf("ResetLoginFailures() = %v", err)
	}
	login(t, env, c, "carol@example.com", carolPassword)
}
