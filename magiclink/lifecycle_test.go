package magiclink_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/testkit"
)

// wantPage checks a friendly landing page: status and a phrase, and never a code.
func wantPage(t testing.TB, p page, status int, phrase string) {
	t.Helper()
	if p.status != status || !strings.Contains(p.body, phrase) {
		t.Fatalf("got %d, want %d with %q:\n%s", p.status, status, phrase, p.body)
	}
	if loc := p.header.Get("Location"); loc != "" {
		t.Fatalf("unusable link redirected to %s", loc)
	}
	if ct := p.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("Content-Type = %q, want an HTML page", ct)
	}
}

const (
	usedPhrase     = "was already used"
	expiredPhrase  = "has expired"
	replacedPhrase = "A newer sign-in link was sent to you"
	unknownPhrase  = "is not valid"
)

func TestConfirmPageDoesNotConsume(t *testing.T) {
	env := testkit.New(t, testConfig)
	link := sendLink(t, env, "acme", env.ServiceToken(t, "acme", "svc", "svc-secret"), linkRequest("erin@example.com", nil))
	c := env.Client()
	for i := range 3 { // a mail scanner, a preview, the user
		p := get(t, c, link)
		if p.status != http.StatusOK || !strings.Contains(p.body, "Continue as erin@example.com") {
			t.Fatalf("GET %d = %d, want the confirm page:\n%s", i, p.status, p.body)
		}
		for h, want := range map[string]string{"Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY", "Cache-Control": "no-store"} {
			if got := p.header.Get(h); got != want {
				t.Fatalf("%s = %q, want %q", h, got, want)
			}
		}
		// The confirmation redirects to the client: form-action must allow its origin.
		if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' https://app.example.com") {
			t.Fatalf("CSP %q does not let the form's redirect reach the client", csp)
		}
	}
	// Without the CSRF token the POST consumes nothing.
	p := get(t, c, link)
	noCSRF := cloneValues(p.fields)
	noCSRF.Del("csrf_token")
	if got := post(t, c, p.action, noCSRF); got.status != http.StatusForbidden || !strings.Contains(got.body, `id="confirm"`) {
		t.Fatalf("POST without CSRF = %d, want 403 with the confirm page again:\n%s", got.status, got.body)
	}
	// A CSRF token from another browser does not work either.
	if got := post(t, env.Client(), p.action, p.fields); got.status != http.StatusForbidden {
		t.Fatalf("POST from a browser without the CSRF cookie = %d, want 403", got.status)
	}
	if got := post(t, c, p.action, p.fields); got.status != http.StatusFound {
		t.Fatalf("POST = %d, want 302:\n%s", got.status, got.body)
	}
	wantPage(t, get(t, c, link), http.StatusGone, usedPhrase)
	wantPage(t, post(t, c, p.action, p.fields), http.StatusGone, usedPhrase)
}

func TestConcurrentUseHasOneWinner(t *testing.T) {
	env := testkit.New(t, testConfig)
	link := sendLink(t, env, "acme", env.ServiceToken(t, "acme", "svc", "svc-secret"), linkRequest("frank@example.com", nil))
	c := env.Client()
	p := get(t, c, link)
	const n = 30
	statuses := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			resp, err := c.PostForm(p.action, p.fields)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		})
	}
	close(start)
	wg.Wait()
	count := map[int]int{}
	for _, s := range statuses {
		count[s]++
	}
	if count[http.StatusFound] != 1 || count[http.StatusGone] != n-1 {
		t.Fatalf("statuses %v, want exactly one 302 and %d × 410", count, n-1)
	}
}

func TestLinkExpires(t *testing.T) {
	env := testkit.New(t, testConfig)
	tok := env.ServiceToken(t, "acme", "svc", "svc-secret")
	link := sendLink(t, env, "acme", tok, linkRequest("gina@example.com", map[string]any{"lifespanSeconds": 60}))
	c := env.Client()
	p := get(t, c, link) // the page was opened in time ...
	if msg := env.Mail.WaitFor(t, "gina@example.com", time.Second); !strings.Contains(msg.Text, "expires in 1 minute") {
		t.Fatalf("mail does not state the lifetime:\n%s", msg.Text)
	}
	env.Clock.Advance(61 * time.Second)
	wantPage(t, get(t, c, link), http.StatusGone, expiredPhrase)
	wantPage(t, post(t, c, p.action, p.fields), http.StatusGone, expiredPhrase) // ... but confirmed too late

	// The realm default (15m) applies without lifespanSeconds.
	link = sendLink(t, env, "acme", tok, linkRequest("gina@example.com", nil))
	env.Clock.Advance(14 * time.Minute)
	if p := get(t, c, link); p.status != http.StatusOK {
		t.Fatalf("after 14m = %d, want 200", p.status)
	}
	env.Clock.Advance(time.Minute)
	wantPage(t, get(t, c, link), http.StatusGone, expiredPhrase)
}

func TestLatestLinkWins(t *testing.T) {
	env := testkit.New(t, testConfig)
	tok := env.ServiceToken(t, "acme", "svc", "svc-secret")
	first := sendLink(t, env, "acme", tok, linkRequest("hank@example.com", nil))
	otherClient := sendLink(t, env, "acme", tok, linkRequest("hank@example.com", map[string]any{"clientId": "web"}))
	second := sendLink(t, env, "acme", tok, linkRequest("hank@example.com", nil))
	c := env.Client()
	wantPage(t, get(t, c, first), http.StatusGone, replacedPhrase)
	if p := get(t, c, otherClient); p.status != http.StatusOK {
		t.Fatalf("link for another client = %d, want 200 (links are per user and client)", p.status)
	}
	authResponse(t, confirm(t, c, second), "query")
}

func TestDisablingUserKillsLink(t *testing.T) {
	env := testkit.New(t, testConfig)
	link := sendLink(t, env, "acme", env.ServiceToken(t, "acme", "svc", "svc-secret"), linkRequest("ivy@example.com", nil))
	c := env.Client()
	p := get(t, c, link)
	rl, _ := env.Server.Realms.Get("acme")
	u, err := env.Store.GetUserByEmail(context.Background(), "acme", "ivy@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := rl.SetEnabled(context.Background(), u.ID, false); err != nil {
		t.Fatal(err)
	}
	wantPage(t, post(t, c, p.action, p.fields), http.StatusForbidden, "This account is disabled")
	// Enabling the user again does not revive the revoked link.
	if err := rl.SetEnabled(context.Background(), u.ID, true); err != nil {
		t.Fatal(err)
	}
	wantPage(t, get(t, c, link), http.StatusGone, usedPhrase)
}

func TestUnknownKeysAndRealms(t *testing.T) {
	env := testkit.New(t, testConfig)
	c := env.Client()
	valid := strings.Repeat("A", 43)
	tests := []struct {
		name, path string
		status     int
		phrase     string
	}{
		{"no key", "/auth/realms/acme/kobil-magic-link/login", 404, unknownPhrase},
		{"malformed key", "/auth/realms/acme/kobil-magic-link/login?key=%3Cscript%3E", 404, unknownPhrase},
		{"unknown key", "/auth/realms/acme/kobil-magic-link/login?key=" + valid, 404, unknownPhrase},
		{"unknown realm", "/auth/realms/nope/kobil-magic-link/login?key=" + valid, 404, unknownPhrase},
		{"alias prefix", "/realms/acme/kobil-magic-link/login?key=" + valid, 404, unknownPhrase},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := get(t, c, env.URL+tt.path)
			wantPage(t, p, tt.status, tt.phrase)
			if strings.Contains(p.body, "<script>") {
				t.Fatal("the key was reflected unescaped")
			}
		})
	}
	resp, err := c.Do(mustRequest(t, http.MethodPut, env.URL+"/auth/realms/acme/kobil-magic-link/login?key="+valid))
	if err != nil {
		t.Fatal(err)
	}
	if p := parsePage(t, resp); p.status != http.StatusMethodNotAllowed {
		t.Fatalf("PUT = %d, want 405", p.status)
	}
}

func mustRequest(t testing.TB, method, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestWithoutConfirmPageGETConsumes(t *testing.T) {
	env := testkit.New(t, testConfig, testkit.Options{Mutate: func(c *config.Config) {
		off := false
		c.Realms[0].MagicLink.ConfirmPage = &off
	}})
	link := sendLink(t, env, "acme", env.ServiceToken(t, "acme", "svc", "svc-secret"), linkRequest("jack@example.com", nil))
	c := env.Client()
	authResponse(t, get(t, c, link), "query")
	wantPage(t, get(t, c, link), http.StatusGone, usedPhrase)
}

// TestLoginPageEmailLink drives the login page's "email me a sign-in link":
// the mailed link completes the original authorization request.
func TestLoginPageEmailLink(t *testing.T) {
	env := testkit.New(t, testConfig)
	c := env.Client()
	login, loginURL := loginPage(t, env, c, "login-page-state")
	fields := cloneValues(login.fields)
	fields.Set("username", "alice@example.com")
	fields.Set("action", "email-link")
	if p := post(t, c, login.action, fields); p.status != http.StatusOK || !strings.Contains(p.body, "Check your email") {
		t.Fatalf("email-link POST = %d:\n%s", p.status, p.body)
	}
	msg := env.Mail.WaitFor(t, "alice@example.com", 5*time.Second)
	resp2 := authResponse(t, confirm(t, c, msg.FindLink("/kobil-magic-link/login?key=")), "query")
	if resp2.Get("state") != "login-page-state" {
		t.Fatalf("state = %q, want the original request's", resp2.Get("state"))
	}
	newRP(t, env, "acme", "conf", "conf-secret").exchange(t, resp2.Get("code"))

	// Unknown users get the same page and no mail.
	fields.Set("username", "stranger@example.com")
	login = get(t, c, loginURL)
	fields.Set("csrf_token", login.fields.Get("csrf_token"))
	if p := post(t, c, login.action, fields); p.status != http.StatusOK || !strings.Contains(p.body, "Check your email") {
		t.Fatalf("email-link POST for an unknown user = %d", p.status)
	}
	if n := env.Mail.CountTo("stranger@example.com"); n != 0 {
		t.Fatalf("unknown user got %d mails, want 0", n)
	}
}
