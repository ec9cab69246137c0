package credentials_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/latchkey/latchkey/internal/testkit"
)

// apiToken obtains a token for alice from one of the two APIs of a realm.
func apiToken(t *testing.T, env *testkit.Env, c *http.Client, realmName, api string) string {
	t.Helper()
	base := env.URL + "/auth/realms/" + realmName
	if api == "user/login" {
		got := postJSON(t, c, base+"/user/login", loginBody("alice@example.com", alicePassword))
		var ok loginOK
		if err := json.Unmarshal([]byte(got.body), &ok); err != nil || got.status != 200 {
			t.Fatalf("POST %s/user/login = %d %s", base, got.status, got.body)
		}
		return ok.ResponseData.Token
	}
	got := postJSON(t, c, base+"/wf/generate-user-token", wfBody("alice@example.com", alicePassword))
	var ok wfOK
	if err := json.Unmarshal([]byte(got.body), &ok); err != nil || got.status != 200 {
		t.Fatalf("POST %s/wf/generate-user-token = %d %s", base, got.status, got.body)
	}
	if ok.Response.Expires != 3600 {
		t.Errorf("expires = %v, want 3600", ok.Response.Expires)
	}
	return ok.Response.Token
}

// verifyWithJWKS checks the token's signature with go-jose against the keys
// the realm publishes over HTTP, and returns its claims.
func verifyWithJWKS(t *testing.T, env *testkit.Env, c *http.Client, realmName, raw string) map[string]any {
	t.Helper()
	got := call(t, c, http.MethodGet, env.Issuer(realmName)+"/protocol/openid-connect/certs", "", nil)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(got.body), &set); err != nil || got.status != 200 {
		t.Fatalf("GET certs = %d %s (%v)", got.status, got.body, err)
	}
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		t.Fatalf("parse token: %v", err)
	}
	kid := jws.Signatures[0].Header.KeyID
	keys := set.Key(kid)
	if len(keys) != 1 {
		t.Fatalf("JWKS has %d keys with kid %q, want 1", len(keys), kid)
	}
	if alg := jws.Signatures[0].Header.Algorithm; alg != keys[0].Algorithm {
		t.Errorf("token alg = %s, JWKS key alg = %s", alg, keys[0].Algorithm)
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		t.Fatalf("verify token with the realm's JWKS: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatalf("decode claims: %v", err)
	}
	return claims
}

// userinfo calls the realm's userinfo endpoint with the bearer token.
func userinfo(t *testing.T, env *testkit.Env, c *http.Client, realmName, raw string) response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, env.Issuer(realmName)+"/protocol/openid-connect/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+raw)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read userinfo: %v", err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// clientPost posts a form to a realm endpoint as the confidential client svc.
func clientPost(t *testing.T, env *testkit.Env, c *http.Client, realmName, path string, form url.Values) response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, env.Issuer(realmName)+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("svc", "s3cret")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	var m json.RawMessage
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return response{status: resp.StatusCode, header: resp.Header, body: string(m)}
}

func TestTokensVerifyAndRevoke(t *testing.T) {
	env := testkit.New(t, testConfig, testkit.Options{NoMail: true})
	c := env.Client()
	for _, realmName := range []string{"acme", "ec"} {
		for _, api := range []string{"user/login", "wf/generate-user-token"} {
			t.Run(realmName+"/"+api, func(t *testing.T) {
				u, err := env.Store.GetUserByEmail(context.Background(), realmName, "alice@example.com")
				if err != nil {
					t.Fatal(err)
				}
				raw := apiToken(t, env, c, realmName, api)
				claims := verifyWithJWKS(t, env, c, realmName, raw)
				for k, want := range map[string]any{
					"iss": env.Issuer(realmName), "sub": u.ID, "user_id": u.ID, "email": "alice@example.com",
					"preferred_username": "alice@example.com", "azp": "latchkey-api", "typ": "Bearer",
					"token_type": "access", "scope": "openid profile email", "email_verified": u.EmailVerified,
				} {
					if claims[k] != want {
						t.Errorf("claim %s = %v, want %v", k, claims[k], want)
					}
				}
				if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != 3600 {
					t.Errorf("exp - iat = %v, want 3600 (apiTokenLifespan)", exp-iat)
				}
				if jti, _ := claims["jti"].(string); jti == "" {
					t.Error("token has no jti")
				}
				ra, _ := claims["realm_access"].(map[string]any)
				var roles []string
				if list, ok := ra["roles"].([]any); ok {
					for _, r := range list {
						roles = append(roles, r.(string))
					}
				} else {
					t.Errorf("realm_access.roles missing: %v", claims["realm_access"])
				}
				if realmName == "acme" && !slices.Contains(roles, "link-generator") {
					t.Errorf("roles = %v, want link-generator", roles)
				}

				if got := userinfo(t, env, c, realmName, raw); got.status != 200 || !strings.Contains(got.body, `"sub":"`+u.ID+`"`) {
					t.Fatalf("userinfo = %d %s, want 200 with sub %s", got.status, got.body, u.ID)
				}
				intro := clientPost(t, env, c, realmName, "/protocol/openid-connect/token/introspect", url.Values{"token": {raw}})
				if intro.status != 200 || !strings.Contains(intro.body, `"active":true`) || !strings.Contains(intro.body, `"sub":"`+u.ID+`"`) {
					t.Fatalf("introspect = %d %s, want active with sub", intro.status, intro.body)
				}
				rev := clientPost(t, env, c, realmName, "/protocol/openid-connect/revoke", url.Values{"token": {raw}})
				if rev.status != 200 {
					t.Fatalf("revoke = %d %s, want 200", rev.status, rev.body)
				}
				if got := userinfo(t, env, c, realmName, raw); got.status != http.StatusUnauthorized {
					t.Fatalf("userinfo after revocation = %d %s, want 401", got.status, got.body)
				}
				intro = clientPost(t, env, c, realmName, "/protocol/openid-connect/token/introspect", url.Values{"token": {raw}})
				if intro.body != `{"active":false}` {
					t.Fatalf("introspect after revocation = %d %s, want {\"active\":false}", intro.status, intro.body)
				}
			})
		}
	}
}

// TestTokenDiesWithUser checks that a token stops working when its user is
// disabled, and that the user then cannot obtain a new one.
func TestTokenDiesWithUser(t *testing.T) {
	env := testkit.New(t, testConfig, testkit.Options{NoMail: true})
	c := env.Client()
	raw := apiToken(t, env, c, "acme", "user/login")
	alice := user(t, env, "alice@example.com")
	if err := acme(t, env).SetEnabled(context.Background(), alice.ID, false); err != nil {
		t.Fatal(err)
	}
	if got := userinfo(t, env, c, "acme", raw); got.status != http.StatusUnauthorized {
		t.Fatalf("userinfo for a disabled user = %d %s, want 401", got.status, got.body)
	}
	got := postJSON(t, c, env.URL+"/user/login", loginBody("alice@example.com", alicePassword))
	if want := loginError(404, "Please provide valid user details"); got.status != 404 || got.body != want {
		t.Fatalf("login of a disabled user = %d %s, want 404 %s", got.status, got.body, want)
	}
	got = postJSON(t, c, env.URL+"/wf/generate-user-token", wfBody("alice@example.com", alicePassword))
	if want := wfMessage("Invalid email or password"); got.status != 401 || got.body != want {
		t.Fatalf("wf token of a disabled user = %d %s, want 401 %s", got.status, got.body, want)
	}
}

// TestTokenExpires checks the token's lifetime with the injected clock.
func TestTokenExpires(t *testing.T) {
	env := testkit.New(t, testConfig, testkit.Options{NoMail: true})
	c := env.Client()
	raw := apiToken(t, env, c, "acme", "wf/generate-user-token")
	env.Clock.Advance(3599e9)
	if got := userinfo(t, env, c, "acme", raw); got.status != 200 {
		t.Fatalf("userinfo 1s before expiry = %d %s, want 200", got.status, got.body)
	}
	env.Clock.Advance(2e9)
	if got := userinfo(t, env, c, "acme", raw); got.status != http.StatusUnauthorized {
		t.Fatalf("userinfo after expiry = %d %s, want 401", got.status, got.body)
	}
}

// TestTokensAuthorizeOtherAPIs checks that the tokens are accepted as Bearer
// tokens by the realm's magic-link and link-generation APIs when the user has
// the role: a user with the role gets past authentication (the empty body is
// then refused in the API's own way), one without is turned away.
func TestTokensAuthorizeOtherAPIs(t *testing.T) {
	env := testkit.New(t, testConfig, testkit.Options{NoMail: true})
	c := env.Client()
	withRole := apiToken(t, env, c, "acme", "user/login") // alice: link-generator, magic-link-sender
	got := postJSON(t, c, env.URL+"/user/login", loginBody("carol@example.com", carolPassword))
	withoutRole := between(got.body, `"token":"`, `"`)
	for _, path := range []string{"/auth/realms/acme/kobil-magic-link/access-link", "/auth/realms/acme/generate-link-api/"} {
		for _, tt := range []struct {
			who, token string
			refused    bool
		}{{"alice (has the role)", withRole, false}, {"carol (lacks the role)", withoutRole, true}} {
			req, _ := http.NewRequest(http.MethodPost, env.URL+path, strings.NewReader(`{}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+tt.token)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			denied := resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden
			if denied != tt.refused || resp.StatusCode == http.StatusNotFound || resp.StatusCode >= 500 {
				t.Errorf("POST %s as %s = %d %s, want refused=%v", path, tt.who, resp.StatusCode, b, tt.refused)
			}
		}
	}
}
