package credentials_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/latchkey/latchkey/internal/crypto/password"
	"github.com/latchkey/latchkey/internal/testkit"
)

// parallelConfig is a realm with failureFactor 3 whose users' hashes are
// cheap, so that many parallel logins under -race stay fast: the argon2id
// cost is not what these tests are about.
func parallelConfig(t *testing.T) string {
	t.Helper()
	h, err := password.HashWith(carolPassword, password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatalf("hash test password: %v", err)
	}
	return `
defaultRealm: acme
realms:
  - name: acme
    bruteForce: {failureFactor: 3, waitIncrement: 1m, maxWait: 15m}
    rateLimits: {perIP: "off", perAccount: "off"}
    users:
      - email: worker@example.com
        passwordHash: "` + h + `"
      - email: target@example.com
        passwordHash: "` + h + `"
`
}

// fire posts n copies of body to url at once and returns the answers.
// (postJSON is not used in the goroutines: it may call t.Fatalf, which must
// run on the test's own goroutine.)
func fire(t *testing.T, c *http.Client, url, body string, n int) []response {
	t.Helper()
	out := make([]response, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			resp, err := c.Post(url, "application/json", strings.NewReader(body))
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			out[i], errs[i] = response{status: resp.StatusCode, header: resp.Header, body: string(b)}, err
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	return out
}

// TestLockoutParallelLogins is SPEC §5.2 end to end, on both password APIs:
// 32 workers of one service account logging in at once with the right
// password all get 200, round after round (no login in flight counts as a
// failure); and of 32 parallel wrong guesses at a fresh account exactly
// failureFactor (3) are answered "wrong password" — one of them starting the
// lockout, logged once — and the other 29 get 429 with Retry-After.
func TestLockoutParallelLogins(t *testing.T) {
	const n, factor, rounds = 32, 3, 3
	for _, a := range apis {
		t.Run(a.name, func(t *testing.T) {
			env := testkit.New(t, parallelConfig(t), testkit.Options{NoMail: true})
			c := env.Client()

			for round := range rounds {
				for i, r := range fire(t, c, env.URL+a.path, a.body("worker@example.com", carolPassword), n) {
					if r.status != http.StatusOK {
						t.Fatalf("round %d, login %d with the right password = %d %s, want 200", round, i, r.status, r.body)
					}
				}
			}

			wrong, locked := 0, 0
			for _, r := range fire(t, c, env.URL+a.path, a.body("target@example.com", "wrong guess"), n) {
				switch {
				case r.status == a.wrong && r.body == a.wrongBody:
					wrong++
				case r.status == http.StatusTooManyRequests && r.body == a.lockedBody && r.header.Get("Retry-After") == "60":
					locked++
				default:
					t.Errorf("parallel wrong guess = %d %s (Retry-After %q), want %d or 429 (Retry-After 60)", r.status, r.body, r.header.Get("Retry-After"), a.wrong)
				}
			}
			if wrong != factor || locked != n-factor {
				t.Fatalf("of %d parallel wrong guesses %d were answered %d and %d got 429, want %d and %d", n, wrong, a.wrong, locked, factor, n-factor)
			}
			if got := strings.Count(env.Logs.String(), "account temporarily locked after repeated failed logins"); got != 1 {
				t.Errorf("lockout logged %d times, want once", got)
			}
			if r := postJSON(t, c, env.URL+a.path, a.body("target@example.com", carolPassword)); r.status != http.StatusTooManyRequests || r.body != a.lockedBody {
				t.Fatalf("right password while locked = %d %s, want 429 %s", r.status, r.body, a.lockedBody)
			}
			// The other account was never touched by the guesses.
			if r := postJSON(t, c, env.URL+a.path, a.body("worker@example.com", carolPassword)); r.status != http.StatusOK {
				t.Fatalf("other account's login = %d %s, want 200", r.status, r.body)
			}
		})
	}
}
