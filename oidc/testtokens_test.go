package oidc_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
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

// clientCredentials fetches a service-account token; it fails the test unless it gets one.
func clientCredentials(t testing.TB, env *testkit.Env, c *http.Client, realmName, id, secret string) string {
	t.Helper()
	status, tr := token(t, env, c, realmName, url.Values{"grant_type": {"client_credentials"}}, id, secret)
	if status != http.StatusOK || tr.AccessToken == "" {
		t.Fatalf("client_credentials in realm %q = %d %+v, want 200 with an access token", realmName, status, tr)
	}
	return tr.AccessToken
}

// userinfo calls realm's userinfo endpoint with a bearer token.
func userinfo(t testing.TB, env *testkit.Env, c *http.Client, realmName, accessToken string) page {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, endpoint(env, realmName, pUserinfo), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	return do(t, c, req)
}

// introspect calls realm's introspection endpoint as the confidential client.
func introspect(t testing.TB, env *testkit.Env, c *http.Client, realmName, tok, id, secret string) map[string]any {
	t.Helper()
	p := postForm(t, c, endpoint(env, realmName, pIntrospect), url.Values{"token": {tok}}, id, secret)
	if p.Status != http.StatusOK {
		t.Fatalf("introspection in realm %q = %d %s, want 200", realmName, p.Status, p.Body)
	}
	return p.JSON(t)
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

// jwtClaims decodes a JWT's payload without verifying it (tests verify
// signatures separately, with go-oidc or go-jose).
func jwtClaims(t testing.TB, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("%q is not a compact JWS", raw)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("decode JWT payload: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decode JWT claims: %v", err)
	}
	return m
}

// jwtHeader decodes a JWT's protected header.
func jwtHeader(t testing.TB, raw string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.SplitN(raw, ".", 2)[0])
	if err != nil {
		t.Fatalf("decode JWT header: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decode JWT header: %v", err)
	}
	return m
}

// fetchJWKS downloads realm's key set.
func fetchJWKS(t testing.TB, env *testkit.Env, c *http.Client, realmName string) jose.JSONWebKeySet {
	t.Helper()
	p := get(t, c, endpoint(env, realmName, pCerts))
	if p.Status != http.StatusOK {
		t.Fatalf("GET JWKS of %q = %d %s", realmName, p.Status, p.Body)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(p.Body), &set); err != nil {
		t.Fatalf("decode JWKS of %q: %v", realmName, err)
	}
	return set
}

// verifyWithJWKS verifies a compact JWS against a key set with go-jose and
// returns its claims, or an error when no key of the set verifies it.
func verifyWithJWKS(set jose.JSONWebKeySet, raw string) (map[string]any, error) {
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		return nil, fmt.Errorf("parse JWS: %w", err)
	}
	kid := jws.Signatures[0].Header.KeyID
	keys := set.Key(kid)
	if len(keys) == 0 {
		return nil, fmt.Errorf("no key with kid %q in the set", kid)
	}
	payload, err := jws.Verify(keys[0].Key)
	if err != nil {
		return nil, fmt.Errorf("verify with kid %q: %w", kid, err)
	}
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		return nil, fmt.Errorf("decode claims: %w", err)
	}
	return m, nil
}

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
