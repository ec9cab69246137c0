package oidc_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/zitadel/oidc/v3/pkg/client"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/latchkey/latchkey/internal/testkit"
	oidcpkg "github.com/latchkey/latchkey/oidc"
)

// hsSecret is the client-secret-jwt client's secret: 36 bytes, enough for
// HS256 (32) but not HS384 (48).
const hsSecret = "hs-secret-0123456789abcdef0123456789"

// jwtFixture is a realm whose clients authenticate every way there is:
//   - pkjwt: private_key_jwt with an inline RSA key (kid k1), code flow too
//   - pkuri: private_key_jwt with a jwksUri served by keys (EC keys)
//   - downuri: private_key_jwt with a jwksUri nothing listens on
//   - hs: client_secret_jwt with hsSecret
//   - sec: client_secret_basic/post with "sec-secret"
//   - pub: a public client
type jwtFixture struct {
	env    *testkit.Env
	rsa    *rsa.PrivateKey
	rsaPEM []byte
	keys   *jwksServer
	ec1    *ecdsa.PrivateKey // pkuri's first key, kid u1
}

// jwksServer serves a JWK Set on loopback and counts the fetches.
type jwksServer struct {
	srv     *httptest.Server
	fetches atomic.Int32
	mu      sync.Mutex
	doc     []byte
	fail    bool
}

func newJWKSServer(t *testing.T) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.fail {
			http.Error(w, "down for maintenance", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(s.doc)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// serve makes the server publish the public halves of keys (by kid).
func (s *jwksServer) serve(t *testing.T, keys map[string]any) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.doc = jwksJSON(t, keys)
}

func (s *jwksServer) setFailing(fail bool) {
	s.mu.Lock()
	s.fail = fail
	s.mu.Unlock()
}

// jwksJSON renders a JWK Set of the public halves of keys (kid → private key).
func jwksJSON(t *testing.T, keys map[string]any) []byte {
	t.Helper()
	var set jose.JSONWebKeySet
	for kid, k := range keys {
		jwk := jose.JSONWebKey{Key: k, KeyID: kid, Use: "sig"}
		set.Keys = append(set.Keys, jwk.Public())
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newJWTEnv boots the fixture; redirect is pkjwt's redirect URI.
func newJWTEnv(t *testing.T, redirect string) *jwtFixture {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ec1, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keys := newJWKSServer(t)
	keys.serve(t, map[string]any{"u1": ec1})
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL + "/jwks"
	down.Close() // nothing listens there any more
	cfg := fmt.Sprintf(`
server: {publicURL: "https://localhost"}
realms:
  - name: jwt
    rateLimits: {perIP: "off", perAccount: "off"}
    clients:
      - clientId: pkjwt
        clientAuthenticator: client-jwt
        jwks: %s
        redirectUris: [%q]
        grantTypes: [authorization_code, refresh_token, client_credentials, password]
      - clientId: pkuri
        clientAuthenticator: client-jwt
        jwksUri: %q
        grantTypes: [client_credentials]
      - clientId: downuri
        clientAuthenticator: client-jwt
        jwksUri: %q
        grantTypes: [client_credentials]
      - clientId: hs
        clientAuthenticator: client-secret-jwt
        secret: %s
        grantTypes: [client_credentials, password]
      - clientId: sec
        secret: sec-secret
        grantTypes: [client_credentials]
      - clientId: pub
        public: true
        redirectUris: ["https://pub.example.com/cb"]
        grantTypes: [authorization_code]
    users:
      - email: alice@example.com
        password: alice-password-1
`, jwksJSON(t, map[string]any{"k1": rk}), redirect, keys.srv.URL+"/jwks", downURL, hsSecret)
	env := testkit.New(t, cfg, testkit.Options{NoMail: true})
	return &jwtFixture{env: env, rsa: rk, keys: keys, ec1: ec1,
		rsaPEM: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)})}
}

// claims are an assertion's claims.
type claims map[string]any

// claims returns valid assertion claims of clientID for aud, at the
// server's clock, with a fresh jti.
func (f *jwtFixture) claims(clientID, aud string) claims {
	now := f.env.Clock.Now()
	return claims{"iss": clientID, "sub": clientID, "aud": aud, "iat": now.Unix(),
		"exp": now.Add(time.Minute).Unix(), "jti": randomString()}
}

func (f *jwtFixture) url(path string) string { return endpoint(f.env, "jwt", path) }

// with returns a copy of c with the given claims set (nil deletes).
func (c claims) with(kv ...any) claims {
	out := claims{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

// sign signs c with key in alg, naming kid in the header when set.
func sign(t testing.TB, alg jose.SignatureAlgorithm, key any, kid string, c claims) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatalf("signer %s: %v", alg, err)
	}
	raw, err := jwt.Signed(s).Claims(map[string]any(c)).Serialize()
	if err != nil {
		t.Fatalf("sign assertion: %v", err)
	}
	return raw
}

// assertionForm is a form authenticating with the assertion.
func assertionForm(assertion string, kv ...string) url.Values {
	f := url.Values{"client_assertion_type": {zoidc.ClientAssertionTypeJWTAssertion}, "client_assertion": {assertion}}
	for i := 0; i < len(kv); i += 2 {
		f.Set(kv[i], kv[i+1])
	}
	return f
}

// post sends form to a realm endpoint, with Basic credentials when user is set.
func (f *jwtFixture) post(t testing.TB, path string, form url.Values, user, pass string) page {
	t.Helper()
	return postForm(t, f.env.Client(), f.url(path), form, user, pass)
}

// introspectWith introspects tok, the caller authenticating with form.
func (f *jwtFixture) introspectWith(t testing.TB, tok string, form url.Values) map[string]any {
	t.Helper()
	form.Set("token", tok)
	p := f.post(t, pIntrospect, form, "", "")
	if p.Status != http.StatusOK {
		t.Fatalf("introspection = %d %s, want 200", p.Status, p.Body)
	}
	return p.JSON(t)
}

// TestPrivateKeyJWTWithZitadelRP drives private_key_jwt with zitadel's own
// relying party and its JWT-profile signer: code exchange (its callback
// handler signs the assertion), refresh, client_credentials, revocation;
// plus introspection and Keycloak's logout by refresh token with assertions
// of our own. The client has no secret at all.
func TestPrivateKeyJWTWithZitadelRP(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	rpSrv := httptest.NewServer(mux)
	t.Cleanup(rpSrv.Close)
	redirect := rpSrv.URL + "/callback"
	f := newJWTEnv(t, redirect)
	env := f.env
	ctx := context.Background()

	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	cookies := httphelper.NewCookieHandler(key, key, httphelper.WithUnsecure())
	party, err := rp.NewRelyingPartyOIDC(ctx, env.Issuer("jwt"), "pkjwt", "", redirect,
		[]string{zoidc.ScopeOpenID, zoidc.ScopeEmail}, rp.WithPKCE(cookies), rp.WithHTTPClient(tlsClient(env)),
		rp.WithJWTProfile(rp.SignerFromKeyAndKeyID(f.rsaPEM, "k1")))
	if err != nil {
		t.Fatalf("NewRelyingPartyOIDC: %v", err)
	}
	var (
		mu     sync.Mutex
		gotTok *zoidc.Tokens[*zoidc.IDTokenClaims]
	)
	mux.Handle("/login", rp.AuthURLHandler(func() string { return "st-" + randomString()[:8] }, party))
	mux.Handle("/callback", rp.CodeExchangeHandler(func(w http.ResponseWriter, _ *http.Request,
		tokens *zoidc.Tokens[*zoidc.IDTokenClaims], _ string, _ rp.RelyingParty) {
		mu.Lock()
		gotTok = tokens
		mu.Unlock()
		_, _ = w.Write([]byte("signed in"))
	}, party))

	browser := env.Client()
	start := get(t, browser, rpSrv.URL+"/login")
	back := browserLogin(t, browser, start.Header.Get("Location"), "alice@example.com", "alice-password-1")
	if done := get(t, browser, back.Header.Get("Location")); done.Status != http.StatusOK || done.Body != "signed in" {
		t.Fatalf("RP callback (code exchange with private_key_jwt) = %d %q, want 200 signed in", done.Status, done.Body)
	}
	mu.Lock()
	first := gotTok
	mu.Unlock()
	if first == nil || first.RefreshToken == "" || first.IDTokenClaims.AuthorizedParty != "pkjwt" {
		t.Fatalf("code exchange tokens = %+v, want an ID token for pkjwt and a refresh token", first)
	}

	refreshed, err := rp.RefreshTokens[*zoidc.IDTokenClaims](ctx, party, first.RefreshToken, "", "")
	if err != nil || refreshed.RefreshToken == "" {
		t.Fatalf("RefreshTokens with private_key_jwt = %+v, %v; want new tokens", refreshed, err)
	}
	if got := f.introspectWith(t, refreshed.AccessToken, assertionForm(sign(t, jose.RS256, f.rsa, "k1",
		f.claims("pkjwt", f.url(pIntrospect))))); got["active"] != true {
		t.Errorf("introspection of the refreshed access token = %v, want active", got)
	}

	// Keycloak's logout by refresh token, the client proving itself with an
	// assertion for the alternative issuer (/realms/jwt) this time.
	logout := f.post(t, pLogout, assertionForm(sign(t, jose.RS256, f.rsa, "k1", f.claims("pkjwt", env.URL+"/realms/jwt")),
		"refresh_token", refreshed.RefreshToken), "", "")
	if logout.Status != http.StatusNoContent {
		t.Fatalf("logout by refresh token with private_key_jwt = %d %s, want 204", logout.Status, logout.Body)
	}
	if _, err := rp.RefreshTokens[*zoidc.IDTokenClaims](ctx, party, refreshed.RefreshToken, "", ""); err == nil {
		t.Errorf("refresh after logout succeeded, want the session's refresh token dead")
	}

	assertion, err := client.SignedJWTProfileAssertion("pkjwt", []string{env.Issuer("jwt")}, time.Hour, party.Signer())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := rp.ClientCredentials(ctx, party, assertionForm(assertion))
	if err != nil || svc.AccessToken == "" {
		t.Fatalf("ClientCredentials with private_key_jwt = %+v, %v; want an access token", svc, err)
	}
	if sub := testkit.Claims(t, svc.AccessToken)["sub"]; sub != "service-account-pkjwt" {
		t.Errorf("service token sub = %v, want service-account-pkjwt", sub)
	}
	if err := rp.RevokeToken(ctx, party, svc.AccessToken, "access_token"); err != nil {
		t.Fatalf("RevokeToken with private_key_jwt: %v", err)
	}
	if got := f.introspectWith(t, svc.AccessToken, assertionForm(sign(t, jose.RS256, f.rsa, "k1",
		f.claims("pkjwt", f.url(pToken))))); got["active"] != false {
		t.Errorf("introspection after revocation = %v, want active false", got)
	}
}

// TestClientSecretJWT authenticates with HS256 assertions keyed by the
// client secret at the token, introspection and revocation endpoints.
func TestClientSecretJWT(t *testing.T) {
	t.Parallel()
	f := newJWTEnv(t, "https://pk.example.com/cb")
	hs := func(aud string) url.Values {
		return assertionForm(sign(t, jose.HS256, []byte(hsSecret), "", f.claims("hs", aud)))
	}
	form := hs(f.url(pToken))
	form.Set("grant_type", "client_credentials")
	p := f.post(t, pToken, form, "", "")
	if p.Status != http.StatusOK {
		t.Fatalf("client_credentials with client_secret_jwt = %d %s, want 200", p.Status, p.Body)
	}
	tok, _ := p.JSON(t)["access_token"].(string)
	if got := f.introspectWith(t, tok, hs(f.url(pIntrospect))); got["active"] != true || got["client_id"] != "hs" {
		t.Errorf("introspection = %v, want active for client hs", got)
	}
	rev := hs(f.url(pRevoke))
	rev.Set("token", tok)
	if p := f.post(t, pRevoke, rev, "", ""); p.Status != http.StatusOK {
		t.Fatalf("revocation with client_secret_jwt = %d %s, want 200", p.Status, p.Body)
	}
	if got := f.introspectWith(t, tok, hs(f.env.Issuer("jwt"))); got["active"] != false {
		t.Errorf("introspection after revocation = %v, want active false", got)
	}
}

// TestPasswordGrantWithClientJWT: the direct access grant authenticates
// its client like the token endpoint's other grants.
func TestPasswordGrantWithClientJWT(t *testing.T) {
	t.Parallel()
	f := newJWTEnv(t, "https://pk.example.com/cb")
	user := []string{"grant_type", "password", "username", "alice@example.com", "password", "alice-password-1"}
	tests := []struct {
		name       string
		form       url.Values
		user, pass string
		wantStatus int
	}{
		{"private_key_jwt", assertionForm(sign(t, jose.RS256, f.rsa, "k1", f.claims("pkjwt", f.url(pToken))), user...), "", "", 200},
		{"client_secret_jwt", assertionForm(sign(t, jose.HS256, []byte(hsSecret), "", f.claims("hs", f.url(pToken))), user...), "", "", 200},
		{"the client_secret_jwt client's secret", assertionForm("", user...), "hs", hsSecret, 401},
		{"an assertion signed with another key", assertionForm(sign(t, jose.HS256, []byte(hsSecret), "", f.claims("pkjwt", f.url(pToken))), user...),
			"", "", 401},
	}
	for _, tt := range tests {
		if tt.user != "" {
			tt.form.Del("client_assertion")
			tt.form.Del("client_assertion_type")
		}
		p := f.post(t, pToken, tt.form, tt.user, tt.pass)
		if p.Status != tt.wantStatus {
			t.Errorf("%s: password grant = %d %s, want %d", tt.name, p.Status, p.Body, tt.wantStatus)
			continue
		}
		if tt.wantStatus == http.StatusOK && p.JSON(t)["id_token"] == nil {
			t.Errorf("%s: password grant answer %s has no ID token", tt.name, p.Body)
		}
		if tt.wantStatus == http.StatusUnauthorized && p.JSON(t)["error"] != "invalid_client" {
			t.Errorf("%s: password grant = %s, want invalid_client", tt.name, p.Body)
		}
	}
}

// TestClientAuthDiscoveryLists checks what the lead's discovery will list:
// the JWT methods and their algorithms only where a client uses them.
func TestClientAuthDiscoveryLists(t *testing.T) {
	t.Parallel()
	f := newJWTEnv(t, "https://pk.example.com/cb")
	plain := newEnv(t, nil)
	tests := []struct {
		name        string
		env         *testkit.Env
		realm       string
		wantMethods string
		wantAlgs    string
	}{
		{"JWT clients", f.env, "jwt", "client_secret_basic client_secret_post private_key_jwt client_secret_jwt",
			"RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA HS256 HS384 HS512"},
		{"secrets only", plain, "acme", "client_secret_basic client_secret_post", ""},
	}
	for _, tt := range tests {
		p, ok := tt.env.Server.OIDC.Get(tt.realm)
		if !ok {
			t.Fatalf("%s: no provider for realm %s", tt.name, tt.realm)
		}
		var methods []string
		for _, m := range oidcpkg.ClientAuthMethods(p) {
			methods = append(methods, string(m))
		}
		if got := strings.Join(methods, " "); got != tt.wantMethods {
			t.Errorf("%s: methods = %q, want %q", tt.name, got, tt.wantMethods)
		}
		if got := strings.Join(oidcpkg.ClientAuthSigningAlgs(p), " "); got != tt.wantAlgs {
			t.Errorf("%s: algs = %q, want %q", tt.name, got, tt.wantAlgs)
		}
	}
}
