package credentials_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testkit"
)

const rateConfig = `
defaultRealm: ip
realms:
  - name: ip
    rateLimits: {perIP: "3/m", perAccount: "off"}
    users:
      - email: alice@example.com
        password: "` + alicePassword + `"
  - name: account
    rateLimits: {perIP: "off", perAccount: "2/m"}
    users:
      - email: alice@example.com
        password: "` + alicePassword + `"
      - email: carol@example.com
        password: "` + carolPassword + `"
`

const (
	limitedLogin = `{"responseCode":429,"responseMessage":"Too many requests, please try again later"}`
	limitedWF    = `{"message":"Too many requests, please try again later"}`
)

// TestPerIPRateLimit checks rateLimits.perIP: every request of the client
// counts, on both APIs together, whatever its body; the refusal carries
// Retry-After and lifts when the clock moves on.
func TestPerIPRateLimit(t *testing.T) {
	env := testkit.New(t, rateConfig, testkit.Options{NoMail: true})
	c := env.Client()
	within := []struct{ path, body string }{
		{"/user/login", `{`},
		{"/wf/generate-user-token", wfBody("x@example.com", "nope")},
		{"/user/login", loginBody("alice@example.com", alicePassword)},
	}
	for _, w := range within {
		if got := postJSON(t, c, env.URL+w.path, w.body); got.status == http.StatusTooManyRequests {
			t.Fatalf("POST %s within the limit = %d %s", w.path, got.status, got.body)
		}
	}
	tests := []struct {
		path, body, want string
	}{
		{"/user/login", loginBody("alice@example.com", alicePassword), limitedLogin},
		{"/auth/realms/ip/wf/generate-user-token", wfBody("alice@example.com", alicePassword), limitedWF},
		{"/user/login", `not even JSON`, limitedLogin},
	}
	for _, tt := range tests {
		got := postJSON(t, c, env.URL+tt.path, tt.body)
		if got.status != http.StatusTooManyRequests || got.body != tt.want || got.header.Get("Retry-After") != "20" {
			t.Fatalf("POST %s over the per-IP limit = %d %s (Retry-After %q), want 429 %s (Retry-After 20)",
				tt.path, got.status, got.body, got.header.Get("Retry-After"), tt.want)
		}
	}
	env.Clock.Advance(20 * time.Second)
	login(t, env, c, "alice@example.com", alicePassword)
}

// TestPerAccountRateLimit checks rateLimits.perAccount: attempts on one
// account (spelled in any case) are limited, other accounts are not.
func TestPerAccountRateLimit(t *testing.T) {
	env := testkit.New(t, rateConfig, testkit.Options{NoMail: true})
	c := env.Client()
	base := env.URL + "/auth/realms/account"
	if got := postJSON(t, c, base+"/user/login", loginBody("alice@example.com", "wrong")); got.status != 405 {
		t.Fatalf("first attempt = %d %s, want 405", got.status, got.body)
	}
	if got := postJSON(t, c, base+"/wf/generate-user-token", wfBody("ALICE@example.com", alicePassword)); got.status != 200 {
		t.Fatalf("second attempt = %d %s, want 200", got.status, got.body)
	}
	got := postJSON(t, c, base+"/user/login", loginBody("Alice@Example.com", alicePassword))
	// The bucket refills one attempt per 30 s; the clock follows real time,
	// so under load a few seconds may already have passed.
	if wait, err := strconv.Atoi(got.header.Get("Retry-After")); got.status != http.StatusTooManyRequests || got.body != limitedLogin ||
		err != nil || wait < 1 || wait > 30 {
		t.Fatalf("third attempt within a minute = %d %s (Retry-After %q), want 429 %s (Retry-After at most 30)",
			got.status, got.body, got.header.Get("Retry-After"), limitedLogin)
	}
	got = postJSON(t, c, base+"/wf/generate-user-token", wfBody("alice@example.com", alicePassword))
	if got.status != http.StatusTooManyRequests || got.body != limitedWF {
		t.Fatalf("wf attempt over the account limit = %d %s, want 429 %s", got.status, got.body, limitedWF)
	}
	if got := postJSON(t, c, base+"/user/login", loginBody("carol@example.com", carolPassword)); got.status != 200 {
		t.Fatalf("another account = %d %s, want 200", got.status, got.body)
	}
	env.Clock.Advance(30 * time.Second)
	if got := postJSON(t, c, base+"/user/login", loginBody("alice@example.com", alicePassword)); got.status != 200 {
		t.Fatalf("after the wait = %d %s, want 200", got.status, got.body)
	}
}
