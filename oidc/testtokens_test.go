package oidc_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/internal/testkit"
)

// tokenResponse is the token endpoint's JSON answer.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope"`
	Error        string `json:"error"`
	ErrorDesc    string `json:"error_description"`
}

// token POSTs form to realm's token endpoint (Basic auth when user is set) and decodes the answer.
func token(t testing.TB, env *testkit.Env, c *http.Client, realmName string, form url.Values, user, pass string) (int, tokenResponse) {
	t.Helper()
	p := postForm(t, c, endpoint(env, realmName, pToken), form, user, pass)
	var tr tokenResponse
	if err := json.Unmarshal([]byte(p.Body), &tr); err != nil {
		t.Fatalf("token endpoint answered %d with non-JSON %q", p.Status, p.Body)
	}
	return p.Status, tr
}

// introspect calls realm's introspection endpoint as the confidential client
// and fails the test unless it answers 200.
func introspect(t testing.TB, env *testkit.Env, realmName, tok, id, secret string) map[string]any {
	t.Helper()
	p := env.Introspect(t, realmName, id, secret, tok)
	if p.Status != http.StatusOK {
		t.Fatalf("introspection in realm %q = %d %s, want 200", realmName, p.Status, p.Body)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(p.Body), &m); err != nil {
		t.Fatalf("decode introspection answer %q: %v", p.Body, err)
	}
	return m
}

// pkcePair returns a fresh verifier and its S256 challenge.
func pkcePair() (verifier, challenge string) {
	v := oauth2.GenerateVerifier()
	return v, s256(v)
}

// codeFlow logs alice in through the public client "web" with PKCE and
// returns the code and its verifier.
func codeFlow(t testing.TB, env *testkit.Env, c *http.Client, extra url.Values) (code, verifier string) {
	t.Helper()
	verifier, challenge := pkcePair()
	q := url.Values{
		"client_id": {"web"}, "redirect_uri": {webRedirect}, "response_type": {"code"},
		"scope": {"openid profile email"}, "state": {"st-" + randomString()[:8]},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}
	for k, v := range extra {
		q[k] = v
	}
	ar := parseAuthResponse(t, browserLogin(t, c, authURL(env, "acme", q), "alice@example.com", alicePassword))
	if got := ar.Params.Get("code"); got == "" {
		t.Fatalf("authorization response %+v has no code", ar)
	}
	if got, want := ar.Params.Get("state"), q.Get("state"); got != want {
		t.Fatalf("state = %q, want %q", got, want)
	}
	return ar.Params.Get("code"), verifier
}

// exchange redeems a code of the public client "web".
func exchange(t testing.TB, env *testkit.Env, c *http.Client, code, verifier string) (int, tokenResponse) {
	t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webRedirect}, "client_id": {"web"}}
	if verifier != "" {
		form.Set("code_verifier", verifier)
	}
	return token(t, env, c, "acme", form, "", "")
}

// loginTokens runs codeFlow and exchange and fails unless tokens come back.
func loginTokens(t testing.TB, env *testkit.Env, c *http.Client) tokenResponse {
	t.Helper()
	code, verifier := codeFlow(t, env, c, nil)
	status, tr := exchange(t, env, c, code, verifier)
	if status != http.StatusOK || tr.AccessToken == "" {
		t.Fatalf("code exchange = %d %+v, want 200 with tokens", status, tr)
	}
	return tr
}

// hasCookie reports whether the client's jar would send the named cookie to rawURL.
func hasCookie(c *http.Client, rawURL, name string) bool {
	u, _ := url.Parse(rawURL)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == name {
			return true
		}
	}
	return false
}

// randomString returns 32 random bytes, base64url-encoded (states, nonces).
func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// s256 is the PKCE S256 challenge of a verifier.
func s256(verifier string) string { return oauth2.S256ChallengeFromVerifier(verifier) }

// tlsClient is a plain TLS-trusting client (no cookie jar, follows
// redirects) for RP libraries' back-channel calls.
func tlsClient(env *testkit.Env) *http.Client {
	c := env.Client()
	c.Jar, c.CheckRedirect = nil, nil
	return c
}

// oidcCtx carries the TLS-trusting client for go-oidc and x/oauth2.
func oidcCtx(env *testkit.Env) context.Context {
	return gooidc.ClientContext(context.Background(), tlsClient(env))
}
