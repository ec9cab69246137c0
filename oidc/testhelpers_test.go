package oidc_test

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/testkit"
)

// Registered redirect URIs of the test clients. They are never fetched: the
// test client does not follow redirects and reads the Location header instead.
const (
	webRedirect  = "https://rp.example.com/cb"
	webLogout    = "https://rp.example.com/bye"
	webOrigin    = "https://rp.example.com"
	confRedirect = "https://conf.example.com/cb"
	wildPrefix   = "https://app.example.com/cb/"

	alicePassword = "alice-password-1"
	confSecret    = "conf-secret-acme"
	otherSecret   = "conf-secret-other"
)

// e2eConfig is the realm setup every end-to-end test boots: a public SPA-style
// client, a confidential client with a service account, a wildcard client, a
// second realm for isolation, realms signing with ES256 and EdDSA, and a realm
// with a small brute-force failure factor. Rate limits are off so that the
// tests may log in as often as they like.
const e2eConfig = `
server: {publicURL: "https://localhost"}
realms:
  - name: acme
    displayName: Acme Corp
    rateLimits: {perIP: "off", perAccount: "off"}
    clients:
      - clientId: web
        public: true
        redirectUris: ["https://rp.example.com/cb"]
        postLogoutRedirectUris: ["https://rp.example.com/bye"]
        webOrigins: ["https://rp.example.com"]
        grantTypes: [authorization_code, refresh_token, implicit]
        pkce: required
      - clientId: conf
        secret: conf-secret-acme
        redirectUris: ["https://conf.example.com/cb"]
        grantTypes: [authorization_code, refresh_token, client_credentials]
        serviceAccountRoles: [magic-link-sender, link-generator]
      - clientId: wild
        public: true
        wildcardRedirects: true
        redirectUris: ["https://app.example.com/cb/*"]
        webOrigins: ["+"]
        grantTypes: [authorization_code]
    users:
      - email: alice@example.com
        username: alice
        password: alice-password-1
        roles: [link-generator]
        emailVerified: true
      - email: bob@example.com
        password: bob-password-1
  - name: other
    rateLimits: {perIP: "off", perAccount: "off"}
    clients:
      - clientId: conf
        secret: conf-secret-other
        grantTypes: [client_credentials]
  - name: ec
    signingAlgorithm: ES256
    rateLimits: {perIP: "off", perAccount: "off"}
    clients:
      - clientId: svc
        secret: svc-secret
        grantTypes: [client_credentials]
  - name: ed
    signingAlgorithm: EdDSA
    rateLimits: {perIP: "off", perAccount: "off"}
    clients:
      - clientId: svc
        secret: svc-secret
        grantTypes: [client_credentials]
  - name: locked
    rateLimits: {perIP: "off", perAccount: "off"}
    bruteForce: {failureFactor: 2, waitIncrement: 1m, maxWait: 5m}
    clients:
      - clientId: web
        public: true
        redirectUris: ["https://rp.example.com/cb"]
        grantTypes: [authorization_code]
    users:
      - email: carol@example.com
        password: carol-password-1
`

// newEnv boots the real server with e2eConfig. mutate, when set, edits the
// config first (e.g. to register an httptest RP's callback URL).
func newEnv(t testing.TB, mutate func(*config.Config)) *testkit.Env {
	t.Helper()
	return testkit.New(t, e2eConfig, testkit.Options{NoMail: true, Mutate: mutate})
}

// addRedirect registers uri as an extra redirect URI of realm's client.
func addRedirect(cfg *config.Config, realmName, clientID, uri string) {
	for i := range cfg.Realms {
		if cfg.Realms[i].Name != realmName {
			continue
		}
		for j := range cfg.Realms[i].Clients {
			if c := &cfg.Realms[i].Clients[j]; c.ClientID == clientID {
				c.RedirectURIs = append(c.RedirectURIs, uri)
			}
		}
	}
}

// endpoint returns the absolute URL of a path under a realm's canonical prefix.
func endpoint(env *testkit.Env, realmName, path string) string {
	return env.Issuer(realmName) + path
}

const (
	pAuth       = "/protocol/openid-connect/auth"
	pToken      = "/protocol/openid-connect/token"
	pUserinfo   = "/protocol/openid-connect/userinfo"
	pIntrospect = "/protocol/openid-connect/token/introspect"
	pRevoke     = "/protocol/openid-connect/revoke"
	pLogout     = "/protocol/openid-connect/logout"
	pCerts      = "/protocol/openid-connect/certs"
	pDiscovery  = "/.well-known/openid-configuration"
)

// page is a fetched response with its body read.
type page struct {
	Status int
	Header http.Header
	Body   string
}

// Location returns the parsed Location header (nil when absent).
func (p page) Location(t testing.TB) *url.URL {
	t.Helper()
	loc := p.Header.Get("Location")
	if loc == "" {
		return nil
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatalf("parse Location %q: %v", loc, err)
	}
	return u
}

// do sends req with c and reads the answer (testkit.Do).
func do(t testing.TB, c *http.Client, req *http.Request) page {
	t.Helper()
	return page(testkit.Do(t, c, req))
}

func get(t testing.TB, c *http.Client, rawURL string) page {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatalf("new request %q: %v", rawURL, err)
	}
	return do(t, c, req)
}

// postForm POSTs form to rawURL, with HTTP Basic client authentication when user is set.
func postForm(t testing.TB, c *http.Client, rawURL string, form url.Values, user, pass string) page {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatalf("new request %q: %v", rawURL, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	return do(t, c, req)
}

// jsonBody decodes a JSON response body into a map.
func (p page) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(p.Body), &m); err != nil {
		t.Fatalf("decode JSON body %q (status %d): %v", p.Body, p.Status, err)
	}
	return m
}

var (
	formActionRE = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	csrfRE       = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)
	inputRE      = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
)

// loginForm extracts the form action and CSRF token of the login page.
func loginForm(t testing.TB, body string) (action, csrf string) {
	t.Helper()
	a, c := formActionRE.FindStringSubmatch(body), csrfRE.FindStringSubmatch(body)
	if a == nil || c == nil {
		t.Fatalf("login page has no form action or csrf_token field:\n%s", body)
	}
	return html.UnescapeString(a[1]), html.UnescapeString(c[1])
}

// authURL is the authorization endpoint URL of realm with q.
func authURL(env *testkit.Env, realmName string, q url.Values) string {
	return endpoint(env, realmName, pAuth) + "?" + q.Encode()
}

// startLogin GETs the authorization URL and expects to be sent to the login
// page, which it fetches. It returns the login page.
func startLogin(t testing.TB, c *http.Client, rawAuthURL string) page {
	t.Helper()
	p := get(t, c, rawAuthURL)
	loc := p.Location(t)
	if p.Status != http.StatusFound || loc == nil || !strings.Contains(loc.Path, "/login-actions/authenticate") {
		t.Fatalf("GET authorization URL = %d Location %q, want 302 to the login page; body: %s", p.Status, p.Header.Get("Location"), p.Body)
	}
	lp := get(t, c, loc.String())
	if lp.Status != http.StatusOK {
		t.Fatalf("GET login page = %d, want 200; body: %s", lp.Status, lp.Body)
	}
	return lp
}

// submitLogin posts the login form of loginPage with the given credentials
// and returns the raw answer (302 to the callback on success).
func submitLogin(t testing.TB, c *http.Client, loginPage page, username, password string) page {
	t.Helper()
	action, csrf := loginForm(t, loginPage.Body)
	return postForm(t, c, action, url.Values{
		"username": {username}, "password": {password}, "csrf_token": {csrf}, "action": {"password"},
	}, "", "")
}

// finishLogin follows the successful login POST's redirect to the callback
// and returns the callback's answer: the authorization response.
func finishLogin(t testing.TB, c *http.Client, posted page) page {
	t.Helper()
	loc := posted.Location(t)
	if posted.Status != http.StatusFound || loc == nil || !strings.HasSuffix(loc.Path, pAuth+"/callback") {
		t.Fatalf("POST login = %d Location %q, want 302 to the auth callback; body: %s", posted.Status, posted.Header.Get("Location"), posted.Body)
	}
	return get(t, c, loc.String())
}

// browserLogin runs the whole browserless login: authorization URL → login
// page → form POST → callback. It returns the authorization response.
func browserLogin(t testing.TB, c *http.Client, rawAuthURL, username, password string) page {
	t.Helper()
	lp := startLogin(t, c, rawAuthURL)
	return finishLogin(t, c, submitLogin(t, c, lp, username, password))
}

// authResponse is a parsed authorization response.
type authResponse struct {
	// Target is the redirect URI the response goes to (without query or fragment).
	Target string
	// Mode is where the parameters were: query, fragment or form_post.
	Mode   string
	Params url.Values
}

// parseAuthResponse reads an authorization response: a 302 carrying the
// parameters in the query or the fragment, or a form_post page.
func parseAuthResponse(t testing.TB, p page) authResponse {
	t.Helper()
	switch p.Status {
	case http.StatusFound, http.StatusSeeOther:
		loc := p.Location(t)
		if loc == nil {
			t.Fatalf("redirect without Location")
		}
		target := *loc
		target.RawQuery, target.Fragment, target.RawFragment = "", "", ""
		if loc.Fragment != "" {
			params, err := url.ParseQuery(loc.Fragment)
			if err != nil {
				t.Fatalf("parse fragment %q: %v", loc.Fragment, err)
			}
			return authResponse{Target: target.String(), Mode: "fragment", Params: params}
		}
		return authResponse{Target: target.String(), Mode: "query", Params: loc.Query()}
	case http.StatusOK:
		a := formActionRE.FindStringSubmatch(p.Body)
		if a == nil {
			t.Fatalf("200 answer is not a form_post page:\n%s", p.Body)
		}
		params := url.Values{}
		for _, m := range inputRE.FindAllStringSubmatch(p.Body, -1) {
			params.Add(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
		}
		return authResponse{Target: html.UnescapeString(a[1]), Mode: "form_post", Params: params}
	}
	t.Fatalf("authorization response = %d, want 302 or a 200 form_post page; headers %v body %s", p.Status, p.Header, p.Body)
	return authResponse{}
}
