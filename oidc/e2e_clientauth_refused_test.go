package oidc_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// unsigned builds an "alg: none" JWT of c.
func unsigned(t testing.TB, c claims) string {
	t.Helper()
	payload, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(payload) + "."
}

// TestClientAssertionRefused is the table of client authentications that
// must fail at the token endpoint (client_credentials): each is
// invalid_client with 401, except a request using two methods at once
// (invalid_request, 400).
func TestClientAssertionRefused(t *testing.T) {
	t.Parallel()
	f := newJWTEnv(t, "https://pk.example.com/cb")
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&f.rsa.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	aud := f.url(pToken)
	now := f.env.Clock.Now()
	rs := func(c claims) string { return sign(t, jose.RS256, f.rsa, "k1", c) }
	good := func() claims { return f.claims("pkjwt", aud) }
	tests := []struct {
		name       string
		form       url.Values
		user, pass string
		wantStatus int
		wantError  string
	}{
		{"wrong signing key", assertionForm(sign(t, jose.RS256, other, "k1", good())), "", "", 401, "invalid_client"},
		{"alg none", assertionForm(unsigned(t, good())), "", "", 401, "invalid_client"},
		{"HS256 keyed with the client's public key (alg confusion)",
			assertionForm(sign(t, jose.HS256, pubPEM, "k1", good())), "", "", 401, "invalid_client"},
		{"HS256 keyed with the public key, no kid",
			assertionForm(sign(t, jose.HS256, pubPEM, "", good())), "", "", 401, "invalid_client"},
		{"unknown kid", assertionForm(sign(t, jose.RS256, f.rsa, "k9", good())), "", "", 401, "invalid_client"},
		{"iss is not sub", assertionForm(rs(good().with("iss", "someone-else"))), "", "", 401, "invalid_client"},
		{"sub of another client", assertionForm(rs(good().with("iss", "hs", "sub", "hs"))), "", "", 401, "invalid_client"},
		{"client_id is not sub", assertionForm(rs(good()), "client_id", "hs"), "", "", 401, "invalid_client"},
		{"wrong aud", assertionForm(rs(good().with("aud", "https://elsewhere.example.com/token"))), "", "", 401, "invalid_client"},
		{"aud of another realm", assertionForm(rs(good().with("aud", f.env.Issuer("other")))), "", "", 401, "invalid_client"},
		{"no aud", assertionForm(rs(good().with("aud", nil))), "", "", 401, "invalid_client"},
		{"expired", assertionForm(rs(good().with("iat", now.Add(-2*time.Minute).Unix(), "exp", now.Add(-time.Minute).Unix()))),
			"", "", 401, "invalid_client"},
		{"no exp", assertionForm(rs(good().with("exp", nil))), "", "", 401, "invalid_client"},
		{"exp far away without iat", assertionForm(rs(good().with("iat", nil, "exp", now.Add(time.Hour).Unix()))),
			"", "", 401, "invalid_client"},
		{"issued too long ago", assertionForm(rs(good().with("iat", now.Add(-5*time.Minute).Unix(), "exp", now.Add(time.Hour).Unix()))),
			"", "", 401, "invalid_client"},
		{"issued in the future", assertionForm(rs(good().with("iat", now.Add(5*time.Minute).Unix(), "exp", now.Add(6*time.Minute).Unix()))),
			"", "", 401, "invalid_client"},
		{"not yet valid", assertionForm(rs(good().with("nbf", now.Add(5*time.Minute).Unix()))), "", "", 401, "invalid_client"},
		{"no jti", assertionForm(rs(good().with("jti", nil))), "", "", 401, "invalid_client"},
		{"not a JWT", assertionForm("not-a-jwt"), "", "", 401, "invalid_client"},
		{"three garbage segments", assertionForm("a.b.c"), "", "", 401, "invalid_client"},
		{"wrong assertion type", url.Values{"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:saml2-bearer"},
			"client_assertion": {rs(good())}}, "", "", 400, "invalid_request"},
		{"unknown client", assertionForm(sign(t, jose.RS256, f.rsa, "k1", f.claims("nobody", aud))), "", "", 401, "invalid_client"},
		{"RS256 for a client_secret_jwt client", assertionForm(sign(t, jose.RS256, f.rsa, "k1", f.claims("hs", aud))),
			"", "", 401, "invalid_client"},
		{"HS256 with the wrong secret", assertionForm(sign(t, jose.HS256, []byte(strings.Repeat("x", 36)), "", f.claims("hs", aud))),
			"", "", 401, "invalid_client"},
		{"HS384 with a secret too short for it", assertionForm(sign(t, jose.HS384, []byte(hsSecret+strings.Repeat("y", 12)), "", f.claims("hs", aud))),
			"", "", 401, "invalid_client"},
		{"JWT auth for a client-secret client", assertionForm(sign(t, jose.HS256, []byte(strings.Repeat("s", 32)), "", f.claims("sec", aud))),
			"", "", 401, "invalid_client"},
		{"secret auth (Basic) for a client_secret_jwt client", url.Values{}, "hs", hsSecret, 401, "invalid_client"},
		{"secret auth (post) for a client_secret_jwt client", url.Values{"client_id": {"hs"}, "client_secret": {hsSecret}}, "", "", 401, "invalid_client"},
		{"empty secret for a private_key_jwt client", url.Values{}, "pkjwt", "", 401, "invalid_client"},
		{"jwksUri down", assertionForm(sign(t, jose.ES256, f.ec1, "u1", f.claims("downuri", aud))), "", "", 401, "invalid_client"},
		{"Basic and an assertion", assertionForm(rs(good())), "pkjwt", "x", 400, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{}
			for k, v := range tt.form {
				form[k] = v
			}
			form.Set("grant_type", "client_credentials")
			p := f.post(t, pToken, form, tt.user, tt.pass)
			if p.Status != tt.wantStatus || p.JSON(t)["error"] != tt.wantError {
				t.Errorf("token endpoint = %d %s, want %d %s", p.Status, p.Body, tt.wantStatus, tt.wantError)
			}
		})
	}
	if !strings.Contains(f.env.Logs.String(), "client JWKS fetch failed") {
		t.Errorf("log has no line about the failed jwksUri fetch")
	}

	// The control: the same client and key work.
	form := assertionForm(rs(good()), "grant_type", "client_credentials")
	if p := f.post(t, pToken, form, "", ""); p.Status != http.StatusOK {
		t.Fatalf("a valid assertion = %d %s, want 200", p.Status, p.Body)
	}
}

// TestClientAssertionReplay shows that a jti is good once, at every
// endpoint, and that a refused assertion does not use up its jti.
func TestClientAssertionReplay(t *testing.T) {
	t.Parallel()
	f := newJWTEnv(t, "https://pk.example.com/cb")
	c := f.claims("pkjwt", f.url(pToken))

	wrongAud := assertionForm(sign(t, jose.RS256, f.rsa, "k1", c.with("aud", "https://elsewhere.example.com")),
		"grant_type", "client_credentials")
	if p := f.post(t, pToken, wrongAud, "", ""); p.Status != http.StatusUnauthorized {
		t.Fatalf("wrong aud = %d %s, want 401", p.Status, p.Body)
	}
	assertion := sign(t, jose.RS256, f.rsa, "k1", c)
	if p := f.post(t, pToken, assertionForm(assertion, "grant_type", "client_credentials"), "", ""); p.Status != http.StatusOK {
		t.Fatalf("first use (its jti was only in a refused assertion) = %d %s, want 200", p.Status, p.Body)
	}
	for _, path := range []string{pToken, pIntrospect, pRevoke} {
		form := assertionForm(assertion, "grant_type", "client_credentials", "token", "x")
		p := f.post(t, path, form, "", "")
		if p.Status != http.StatusUnauthorized || !strings.Contains(p.Body, "reuse") {
			t.Errorf("replay at %s = %d %s, want 401 naming the reuse", path, p.Status, p.Body)
		}
	}
	// A new assertion with the same jti (re-signed, later) is a replay too.
	again := sign(t, jose.RS256, f.rsa, "k1", c.with("iat", f.env.Clock.Now().Unix()+1))
	if p := f.post(t, pToken, assertionForm(again, "grant_type", "client_credentials"), "", ""); p.Status != http.StatusUnauthorized {
		t.Errorf("same jti in a new assertion = %d %s, want 401", p.Status, p.Body)
	}
}

// TestClientAssertionConcurrentReplay sends one assertion in parallel:
// exactly one request is authenticated (the store's insert is the arbiter,
// as it is across replicas).
func TestClientAssertionConcurrentReplay(t *testing.T) {
	t.Parallel()
	f := newJWTEnv(t, "https://pk.example.com/cb")
	form := assertionForm(sign(t, jose.RS256, f.rsa, "k1", f.claims("pkjwt", f.url(pToken))), "grant_type", "client_credentials")
	const n = 8
	statuses := make(chan int, n)
	c := f.env.Client()
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() { // no t.Fatal off the test goroutine: a transport error counts as status 0
			defer wg.Done()
			resp, err := c.PostForm(f.url(pToken), form)
			if err != nil {
				statuses <- 0
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[http.StatusOK] != 1 || count[http.StatusUnauthorized] != n-1 {
		t.Errorf("statuses of %d parallel uses of one assertion = %v, want one 200 and %d 401", n, count, n-1)
	}
}

// TestClientJWKSURI follows a jwksUri client through its key server's life:
// the set is fetched once and cached; a rotated key (unknown kid) is fetched
// again, but never more than once per 10 s whatever kids arrive; the set
// is fetched again after 5 min; while the key server fails, the last set
// keeps working.
func TestClientJWKSURI(t *testing.T) {
	t.Parallel()
	f := newJWTEnv(t, "https://pk.example.com/cb")
	clk := f.env.Clock
	ec2, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cc := func(key *ecdsa.PrivateKey, kid string) page {
		t.Helper()
		form := assertionForm(sign(t, jose.ES256, key, kid, f.claims("pkuri", f.url(pToken))), "grant_type", "client_credentials")
		return f.post(t, pToken, form, "", "")
	}
	steps := []struct {
		name        string
		before      func()
		key         *ecdsa.PrivateKey
		kid         string
		wantStatus  int
		wantFetches int32
	}{
		{"first use fetches the set", nil, f.ec1, "u1", 200, 1},
		{"second use is served from the cache", nil, f.ec1, "u1", 200, 1},
		{"the client rotates: the new kid is unknown, but the set was fetched just now",
			func() { f.keys.serve(t, map[string]any{"u2": ec2}) }, ec2, "u2", 401, 1},
		{"11 s later the unknown kid fetches the set again", func() { clk.Advance(11 * time.Second) }, ec2, "u2", 200, 2},
		{"the old key is gone from the set", nil, f.ec1, "u1", 401, 2},
		{"made-up kids do not make the server fetch again", nil, ec2, "forged", 401, 2},
		{"after 5 min the set is fetched again", func() { clk.Advance(5*time.Minute + time.Second) }, ec2, "u2", 200, 3},
		{"the key server fails: the last set is still used", func() {
			f.keys.setFailing(true)
			clk.Advance(5*time.Minute + time.Second)
		}, ec2, "u2", 200, 4},
		{"and is not fetched again within 10 s", nil, ec2, "u2", 200, 4},
		{"the key server is back", func() {
			f.keys.setFailing(false)
			clk.Advance(11 * time.Second)
		}, ec2, "u2", 200, 5},
		{"down for a day: stale keys are no longer used", func() {
			f.keys.setFailing(true)
			clk.Advance(24*time.Hour + time.Minute)
		}, ec2, "u2", 401, 6},
		{"back again: the set is fetched and used", func() {
			f.keys.setFailing(false)
			clk.Advance(11 * time.Second)
		}, ec2, "u2", 200, 7},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		p := cc(st.key, st.kid)
		if p.Status != st.wantStatus {
			t.Errorf("%s: token endpoint = %d %s, want %d", st.name, p.Status, p.Body, st.wantStatus)
		}
		if got := f.keys.fetches.Load(); got != st.wantFetches {
			t.Errorf("%s: JWKS fetched %d times, want %d", st.name, got, st.wantFetches)
		}
	}
}

// TestClientAuthMalformedRequests sends broken client authentication to
// every endpoint that takes it: each is a 4xx in OAuth's shape, never a
// 5xx or a panic.
func TestClientAuthMalformedRequests(t *testing.T) {
	t.Parallel()
	f := newJWTEnv(t, "https://pk.example.com/cb")
	huge := strings.Repeat("a", 20000) + "." + strings.Repeat("b", 100) + ".c"
	cases := []struct {
		name   string
		form   url.Values
		header string
	}{
		{"nothing", url.Values{}, ""},
		{"malformed Basic", url.Values{}, "Basic !!!not-base64"},
		{"Basic with a bad escape", url.Values{}, "Basic " + base64.StdEncoding.EncodeToString([]byte("pk%zz:secret"))},
		{"Basic without a colon", url.Values{}, "Basic " + base64.StdEncoding.EncodeToString([]byte("pkjwt"))},
		{"assertion type without an assertion", url.Values{"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}}, ""},
		{"huge assertion", assertionForm(huge), ""},
		{"assertion with a JSON array payload", assertionForm("eyJhbGciOiJSUzI1NiJ9.WzEsMl0.c2ln"), ""},
		{"assertion with bad base64", assertionForm("eyJhbGciOiJSUzI1NiJ9.%%%.sig"), ""},
		{"secret and assertion", assertionForm("a.b.c", "client_id", "sec", "client_secret", "sec-secret"), ""},
		{"public client with a secret", url.Values{"client_id": {"pub"}, "client_secret": {"x"}}, ""},
		{"secret client with a wrong secret", url.Values{"client_id": {"sec"}, "client_secret": {"nope"}}, ""},
		{"client_id with control characters", url.Values{"client_id": {"se\x00c\n"}, "client_secret": {"x"}}, ""},
	}
	for _, path := range []string{pToken, pIntrospect, pRevoke, pLogout} {
		for _, tc := range cases {
			form := url.Values{"grant_type": {"client_credentials"}, "token": {"t"}, "refresh_token": {"r"}}
			for k, v := range tc.form {
				form[k] = v
			}
			req, err := http.NewRequest(http.MethodPost, f.url(path), strings.NewReader(form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			p := do(t, f.env.Client(), req)
			var body map[string]any
			if p.Status < 400 || p.Status >= 500 || json.Unmarshal([]byte(p.Body), &body) != nil || body["error"] == nil {
				t.Errorf("%s at %s = %d %s, want a 4xx OAuth error", tc.name, path, p.Status, p.Body)
			}
		}
	}
}
