package credentials_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

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
				claims := env.VerifyJWT(t, realmName, raw)
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

				if got := env.Userinfo(t, realmName, raw); got.Status != 200 || !strings.Contains(got.Body, `"sub":"`+u.ID+`"`) {
					t.Fatalf("userinfo = %d %s, want 200 with sub %s", got.Status, got.Body, u.ID)
				}
				intro := env.Introspect(t, realmName, "svc", "s3cret", raw)
				if intro.Status != 200 || !strings.Contains(intro.Body, `"active":true`) || !strings.Contains(intro.Body, `"sub":"`+u.ID+`"`) {
					t.Fatalf("introspect = %d %s, want active with sub", intro.Status, intro.Body)
				}
				rev := env.Revoke(t, realmName, "svc", "s3cret", raw)
				if rev.Status != 200 {
					t.Fatalf("revoke = %d %s, want 200", rev.Status, rev.Body)
				}
				if got := env.Userinfo(t, realmName, raw); got.Status != http.StatusUnauthorized {
					t.Fatalf("userinfo after revocation = %d %s, want 401", got.Status, got.Body)
				}
				intro = env.Introspect(t, realmName, "svc", "s3cret", raw)
				if strings.TrimSpace(intro.Body) != `{"active":false}` {
					t.Fatalf("introspect after revocation = %d %s, want {\"active\":false}", intro.Status, intro.Body)
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
	if got := env.Userinfo(t, "acme", raw); got.Status != http.StatusUnauthorized {
		t.Fatalf("userinfo for a disabled user = %d %s, want 401", got.Status, got.Body)
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
	before := env.Clock.Now()
	raw := apiToken(t, env, c, "acme", "wf/generate-user-token")
	after := env.Clock.Now()
	// exp is in whole seconds: an hour after the issue, which lies between
	// before and after, with the fraction of a second dropped.
	exp := time.Unix(int64(testkit.Claims(t, raw)["exp"].(float64)), 0)
	if exp.Before(before.Truncate(time.Second).Add(time.Hour)) || exp.After(after.Add(time.Hour)) {
		t.Fatalf("exp = %s, want an hour after the issue (between %s and %s)", exp, before, after)
	}
	// 1s before expiry counted from exp, so that the dropped fraction does
	// not eat into the second (the clock follows real time).
	env.Clock.Advance(exp.Add(-time.Second).Sub(env.Clock.Now()))
	if got := env.Userinfo(t, "acme", raw); got.Status != 200 {
		t.Fatalf("userinfo 1s before expiry = %d %s, want 200", got.Status, got.Body)
	}
	env.Clock.Advance(2e9)
	if got := env.Userinfo(t, "acme", raw); got.Status != http.StatusUnauthorized {
		t.Fatalf("userinfo after expiry = %d %s, want 401", got.Status, got.Body)
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
			r := testkit.PostJSON(t, c, env.URL+path, tt.token, `{}`)
			denied := r.Status == http.StatusUnauthorized || r.Status == http.StatusForbidden
			if denied != tt.refused || r.Status == http.StatusNotFound || r.Status >= 500 {
				t.Errorf("POST %s as %s = %d %s, want refused=%v", path, tt.who, r.Status, r.Body, tt.refused)
			}
		}
	}
}
