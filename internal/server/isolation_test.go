package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testkit"
)

// twoRealms has the same clients and the same user (different passwords) in
// realms a and b, so that only the realm tells them apart.
const twoRealms = `
server: {publicURL: "https://localhost"}
defaultRealm: a
realms:
  - name: a
    magicLink: {resendInterval: 0s}
    bruteForce: {enabled: false}
    rateLimits: {perIP: "off", perAccount: "off"}
    clients:
      - clientId: web
        public: true
        redirectUris: ["https://app.example.com/cb"]
        grantTypes: [authorization_code, refresh_token]
      - clientId: svc
        secret: svc-secret
        grantTypes: [client_credentials]
        serviceAccountRoles: [magic-link-sender, link-generator]
    users:
      - {email: alice@example.com, password: "alice-in-a", roles: [link-generator]}
    sites:
      - {name: shop, appURL: "https://shop.example.com/app"}
  - name: b
    magicLink: {resendInterval: 0s}
    bruteForce: {enabled: false}
    rateLimits: {perIP: "off", perAccount: "off"}
    clients:
      - clientId: web
        public: true
        redirectUris: ["https://app.example.com/cb"]
        grantTypes: [authorization_code, refresh_token]
      - clientId: svc
        secret: svc-secret
        grantTypes: [client_credentials]
        serviceAccountRoles: [magic-link-sender, link-generator]
    users:
      - {email: alice@example.com, password: "alice-in-b", roles: [link-generator]}
    sites:
      - {name: shop, appURL: "https://shop.example.com/app"}
`

const appCB = "https://app.example.com/cb"

// doJSON sends body as JSON with an optional bearer token and returns status
// and body.
func doJSON(t *testing.T, c *http.Client, method, u, bearer, body string) (int, string) {
	t.Helper()
	r := testkit.SendJSON(t, c, method, u, bearer, body)
	return r.Status, r.Body
}

// TestRealmIsolation shows that a token, code, refresh token, session or
// magic link of realm a is useless in realm b.
func TestRealmIsolation(t *testing.T) {
	env := testkit.New(t, twoRealms)
	c := env.Client()
	svcA := env.ServiceToken(t, "a", "svc", "svc-secret")

	pkce := testkit.NewPKCE()
	code := env.LoginCode(t, c, "a", "web", appCB, "alice@example.com", "alice-in-a", pkce)
	exchange := url.Values{"grant_type": {"authorization_code"}, "client_id": {"web"}, "code": {code},
		"redirect_uri": {appCB}, "code_verifier": {pkce.Verifier}}
	if tr := env.Token(t, c, "b", exchange); tr.Status != http.StatusBadRequest || tr.Error != "invalid_grant" {
		t.Errorf("realm a's code at realm b = %d %q, want 400 invalid_grant", tr.Status, tr.Error)
	}
	tokA := env.Token(t, c, "a", exchange)
	if tokA.AccessToken == "" || tokA.RefreshToken == "" {
		t.Fatalf("code exchange in realm a = %d %q, want tokens", tokA.Status, tokA.Error)
	}
	refresh := url.Values{"grant_type": {"refresh_token"}, "client_id": {"web"}, "refresh_token": {tokA.RefreshToken}}
	if tr := env.Token(t, c, "b", refresh); tr.Error != "invalid_grant" {
		t.Errorf("realm a's refresh token at realm b = %d %q, want invalid_grant", tr.Status, tr.Error)
	}

	apiTokA := apiToken(t, env, "alice@example.com", "alice-in-a")

	for name, tok := range map[string]string{"service token": svcA, "user access token": tokA.AccessToken, "API token": apiTokA} {
		t.Run(name, func(t *testing.T) {
			if r := env.Userinfo(t, "b", tok); r.Status != http.StatusUnauthorized {
				t.Errorf("userinfo of b = %d %s, want 401", r.Status, r.Body)
			}
			intro := url.Values{"token": {tok}, "client_id": {"svc"}, "client_secret": {"svc-secret"}}
			if _, body := testkit.PostForm(t, c, env.Issuer("b")+"/protocol/openid-connect/token/introspect", intro); !strings.Contains(body, `"active":false`) {
				t.Errorf("introspection at b = %s, want active:false", body)
			}
			if st, body := doJSON(t, c, "POST", env.Issuer("b")+"/kobil-magic-link/access-link", tok,
				`{"email":"alice@example.com","clientId":"web","redirectUri":"`+appCB+`","scope":"openid","responseMode":"query","responseType":"code"}`); st != http.StatusUnauthorized {
				t.Errorf("magic-link API of b = %d %s, want 401", st, body)
			}
			if st, body := doJSON(t, c, "POST", env.Issuer("b")+"/generate-link-api/", tok,
				`{"metadata":"m","workflows_list":"","site":"shop","emails":["x@example.com"]}`); st != http.StatusUnauthorized {
				t.Errorf("generate-link API of b = %d %s, want 401", st, body)
			}
		})
	}

	// The browser's session of realm a does not log it into realm b.
	q := url.Values{"client_id": {"web"}, "redirect_uri": {appCB}, "response_type": {"code"}, "scope": {"openid"},
		"prompt": {"none"}, "code_challenge": {pkce.Challenge}, "code_challenge_method": {"S256"}}
	resp, _ := testkit.Get(t, c, env.Issuer("b")+"/protocol/openid-connect/auth?"+q.Encode())
	if loc := resp.Header.Get("Location"); !strings.Contains(loc, "error=login_required") {
		t.Errorf("prompt=none at b with a's session redirected to %q, want error=login_required", loc)
	}
	resp, _ = testkit.Get(t, c, env.Issuer("a")+"/protocol/openid-connect/auth?"+q.Encode())
	resp, _ = testkit.Get(t, c, resp.Header.Get("Location")) // SSO: straight to the callback
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, appCB) || !strings.Contains(loc, "code=") {
		t.Errorf("prompt=none at a with a's session redirected to %q, want a code", loc)
	}

	// A magic link of realm a does not exist in realm b.
	st, body := doJSON(t, c, "POST", env.Issuer("a")+"/kobil-magic-link/access-link", svcA,
		`{"email":"alice@example.com","clientId":"web","redirectUri":"`+appCB+`","scope":"openid","responseMode":"query","responseType":"code","codeChallenge":"`+pkce.Challenge+`","codeChallengeMethod":"S256"}`)
	if st != http.StatusOK {
		t.Fatalf("magic link in realm a = %d %s", st, body)
	}
	link := env.Mail.WaitFor(t, "alice@example.com", 5*time.Second).FindLink("/kobil-magic-link/login")
	inB := strings.Replace(link, "/auth/realms/a/", "/auth/realms/b/", 1)
	if resp, body := testkit.Get(t, env.Client(), inB); resp.StatusCode != http.StatusNotFound {
		t.Errorf("realm a's link at realm b = %d, want 404; page:\n%s", resp.StatusCode, body)
	}
	if resp, _ := testkit.Get(t, env.Client(), link); resp.StatusCode != http.StatusOK {
		t.Errorf("the link in its own realm = %d, want 200 (still usable)", resp.StatusCode)
	}
}

// TestConcurrentUseHasExactlyOneWinner hammers single-use secrets: one
// authorization code, one refresh token, and the creation of one user.
func TestConcurrentUseHasExactlyOneWinner(t *testing.T) {
	env := testkit.New(t, twoRealms)
	const n = 20
	run := func(f func(i int) bool) (wins int) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				if f(i) {
					mu.Lock()
					wins++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		return wins
	}

	c := env.Client()
	pkce := testkit.NewPKCE()
	code := env.LoginCode(t, c, "a", "web", appCB, "alice@example.com", "alice-in-a", pkce)
	exchange := url.Values{"grant_type": {"authorization_code"}, "client_id": {"web"}, "code": {code},
		"redirect_uri": {appCB}, "code_verifier": {pkce.Verifier}}
	var tokens []testkit.TokenResponse
	var mu sync.Mutex
	if wins := run(func(int) bool {
		tr := env.Token(t, env.Client(), "a", exchange)
		if tr.AccessToken != "" {
			mu.Lock()
			tokens = append(tokens, tr)
			mu.Unlock()
		}
		return tr.AccessToken != ""
	}); wins != 1 {
		t.Fatalf("%d concurrent exchanges of one code: %d won, want exactly 1", n, wins)
	}

	// The losers replayed the code: its grant is revoked (RFC 6749 §4.1.2),
	// so even the winner's refresh token no longer works.
	stale := url.Values{"grant_type": {"refresh_token"}, "client_id": {"web"}, "refresh_token": {tokens[0].RefreshToken}}
	if tr := env.Token(t, c, "a", stale); tr.Error != "invalid_grant" {
		t.Errorf("winner's refresh token after code replays = %d %q, want invalid_grant (grant revoked)", tr.Status, tr.Error)
	}

	pkce = testkit.NewPKCE()
	c = env.Client()
	code = env.LoginCode(t, c, "a", "web", appCB, "alice@example.com", "alice-in-a", pkce)
	fresh := env.Token(t, c, "a", url.Values{"grant_type": {"authorization_code"}, "client_id": {"web"}, "code": {code},
		"redirect_uri": {appCB}, "code_verifier": {pkce.Verifier}})
	refresh := url.Values{"grant_type": {"refresh_token"}, "client_id": {"web"}, "refresh_token": {fresh.RefreshToken}}
	var rotated []string
	if wins := run(func(int) bool {
		tr := env.Token(t, env.Client(), "a", refresh)
		if tr.RefreshToken != "" {
			mu.Lock()
			rotated = append(rotated, tr.RefreshToken)
			mu.Unlock()
		}
		return tr.RefreshToken != ""
	}); wins != 1 {
		t.Fatalf("%d concurrent rotations of one refresh token: %d won, want exactly 1", n, wins)
	}
	// The losers replayed a rotated token: Keycloak-style, the session and
	// everything bound to it are revoked, including the winner's new token.
	next := url.Values{"grant_type": {"refresh_token"}, "client_id": {"web"}, "refresh_token": {rotated[0]}}
	if tr := env.Token(t, c, "a", next); tr.Error != "invalid_grant" {
		t.Errorf("winner's token after the replays = %d %q, want invalid_grant (session revoked)", tr.Status, tr.Error)
	}
	if r := env.Userinfo(t, "a", tokens[0].AccessToken); r.Status != http.StatusUnauthorized {
		t.Errorf("access token of the revoked session at userinfo = %d, want 401", r.Status)
	}

	r, _ := env.Server.Realms.Get("a")
	var ids sync.Map
	if created := run(func(int) bool {
		u, created, err := r.EnsureUser(t.Context(), "Same.Person@example.com")
		if err != nil {
			t.Errorf("EnsureUser: %v", err)
			return false
		}
		ids.Store(u.ID, true)
		return created
	}); created != 1 {
		t.Errorf("%d concurrent EnsureUser calls for one email created %d users, want 1", n, created)
	}
	distinct := 0
	ids.Range(func(any, any) bool { distinct++; return true })
	if distinct != 1 {
		t.Errorf("concurrent EnsureUser calls returned %d distinct users, want 1", distinct)
	}

	svc := env.ServiceToken(t, "a", "svc", "svc-secret")
	body := `{"email":"new.person@example.com","clientId":"web","redirectUri":"` + appCB + `","scope":"openid","responseMode":"query","responseType":"code","forceCreate":true,"codeChallenge":"` + pkce.Challenge + `","codeChallengeMethod":"S256"}`
	if ok := run(func(int) bool {
		st, _ := doJSON(t, env.Client(), "POST", env.Issuer("a")+"/kobil-magic-link/access-link", svc, body)
		return st == http.StatusOK
	}); ok != n {
		t.Errorf("%d concurrent forceCreate sends for one new email: %d answered 200, want all", n, ok)
	}
	if _, err := r.Store.GetUserByEmail(t.Context(), "a", "new.person@example.com"); err != nil {
		t.Errorf("user created by concurrent forceCreate: %v", err)
	}
	users, _ := r.Store.ListUsers(t.Context(), "a", "", 0)
	count := 0
	for _, u := range users {
		if strings.EqualFold(u.Email, "new.person@example.com") {
			count++
		}
	}
	if count != 1 {
		t.Errorf("concurrent forceCreate left %d users with the email, want 1", count)
	}
}
