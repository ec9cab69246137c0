package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/backchannel"
	"github.com/latchkey/latchkey/internal/crypto/tokens"
	"github.com/latchkey/latchkey/internal/testkit"
	"github.com/latchkey/latchkey/realm"
)

// gateRealms has every kind of caller: a service account with both API
// roles (svc), one with only link-generator (linker), users holding both
// roles, and a second realm with the same client.
const gateRealms = `
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
        postLogoutRedirectUris: ["https://app.example.com/"]
        grantTypes: [authorization_code, refresh_token]
      - clientId: svc
        secret: svc-secret
        grantTypes: [client_credentials]
        serviceAccountRoles: [magic-link-sender, link-generator]
      - clientId: linker
        secret: linker-secret
        grantTypes: [client_credentials]
        serviceAccountRoles: [link-generator]
    users:
      - {email: alice@example.com, password: "alice-password", roles: [magic-link-sender, link-generator]}
      - {email: dora@example.com, password: "dora-password", roles: [magic-link-sender, link-generator]}
      - {email: erin@example.com, password: "erin-password", roles: [magic-link-sender, link-generator]}
    sites:
      - {name: shop, appURL: "https://shop.example.com/app"}
  - name: b
    bruteForce: {enabled: false}
    rateLimits: {perIP: "off", perAccount: "off"}
    clients:
      - clientId: svc
        secret: svc-secret
        grantTypes: [client_credentials]
        serviceAccountRoles: [magic-link-sender, link-generator]
`

const (
	magicLinkBody = `{"email":"alice@example.com","clientId":"web","redirectUri":"https://app.example.com/cb","scope":"openid","responseMode":"query","responseType":"code"}`
	genLinkBody   = `{"metadata":"m","workflows_list":"","site":"shop","emails":["alice@example.com"]}`
)

// codeFlowTokens logs user in through the real login page and exchanges the code.
func codeFlowTokens(t *testing.T, env *testkit.Env, c *http.Client, user, password string) testkit.TokenResponse {
	t.Helper()
	pkce := testkit.NewPKCE()
	code := env.LoginCode(t, c, "a", "web", appCB, user, password, pkce)
	tr := env.Token(t, c, "a", url.Values{"grant_type": {"authorization_code"}, "client_id": {"web"}, "code": {code},
		"redirect_uri": {appCB}, "code_verifier": {pkce.Verifier}})
	if tr.AccessToken == "" || tr.RefreshToken == "" || tr.IDToken == "" {
		t.Fatalf("code exchange for %s: %d %q", user, tr.Status, tr.Error)
	}
	return tr
}

// apiToken is /user/login's token for a user of realm a.
func apiToken(t *testing.T, env *testkit.Env, email, password string) string {
	t.Helper()
	r := testkit.PostJSON(t, env.Client(), env.Issuer("a")+"/user/login", "", `{"emailId":"`+email+`","password":"`+password+`"}`)
	var body struct {
		ResponseData struct{ Token string } `json:"responseData"`
	}
	if err := json.Unmarshal([]byte(r.Body), &body); err != nil || body.ResponseData.Token == "" {
		t.Fatalf("/user/login %s = %d %s", email, r.Status, r.Body)
	}
	return body.ResponseData.Token
}

// linkToken generates an application link for email with bearer and
// returns the token it carries.
func linkToken(t *testing.T, env *testkit.Env, bearer, email string) string {
	t.Helper()
	r := testkit.PostJSON(t, env.Client(), env.Issuer("a")+"/generate-link-api/", bearer,
		`{"metadata":"","workflows_list":"","site":"shop","emails":["`+email+`"]}`)
	var links []struct{ GeneratedMessage string }
	if err := json.Unmarshal([]byte(r.Body), &links); err != nil || len(links) != 1 {
		t.Fatalf("generate link = %d %s", r.Status, r.Body)
	}
	u, err := url.Parse(links[0].GeneratedMessage)
	if err != nil || u.Query().Get("token") == "" {
		t.Fatalf("link %q carries no token", links[0].GeneratedMessage)
	}
	return u.Query().Get("token")
}

// offlineToken is an offline token (scope offline_access) of user for "web".
func offlineToken(t *testing.T, env *testkit.Env, user, password string) string {
	t.Helper()
	c := env.Client()
	codeFlowTokens(t, env, c, user, password) // the browser's session
	pkce := testkit.NewPKCE()
	q := url.Values{"client_id": {"web"}, "redirect_uri": {appCB}, "response_type": {"code"}, "scope": {"openid offline_access"},
		"code_challenge": {pkce.Challenge}, "code_challenge_method": {"S256"}}
	resp, _ := testkit.Get(t, c, env.Issuer("a")+"/protocol/openid-connect/auth?"+q.Encode())
	resp, _ = testkit.Get(t, c, resp.Header.Get("Location"))
	cb, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || cb.Query().Get("code") == "" {
		t.Fatalf("offline authorization ended at %q", resp.Header.Get("Location"))
	}
	tr := env.Token(t, c, "a", url.Values{"grant_type": {"authorization_code"}, "client_id": {"web"}, "code": {cb.Query().Get("code")},
		"redirect_uri": {appCB}, "code_verifier": {pkce.Verifier}})
	if tr.RefreshToken == "" || testkit.Claims(t, tr.RefreshToken)["typ"] != "Offline" {
		t.Fatalf("offline grant = %d %q, want an offline token", tr.Status, tr.Error)
	}
	return tr.RefreshToken
}

// logoutToken is a back-channel logout token of the session of access, as
// the realm signs them (with its published key).
func logoutToken(t *testing.T, rl *realm.Realm, access string) string {
	t.Helper()
	c := testkit.Claims(t, access)
	tok, err := backchannel.Mint(rl, realm.LogoutNotice{ClientID: "web", SessionID: c["sid"].(string), UserID: c["sub"].(string)})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestTokenGateMatrix presents every kind of token to every endpoint that
// takes a bearer token and checks the answer and its shape (SPEC §7).
func TestTokenGateMatrix(t *testing.T) {
	t.Parallel()
	env := testkit.New(t, gateRealms)
	ctx := context.Background()

	svc := env.ServiceToken(t, "a", "svc", "svc-secret")
	alice := codeFlowTokens(t, env, env.Client(), "alice@example.com", "alice-password")
	erin := codeFlowTokens(t, env, env.Client(), "erin@example.com", "erin-password")
	dora := apiToken(t, env, "dora@example.com", "dora-password")
	revoked := env.ServiceToken(t, "a", "svc", "svc-secret")
	if r := env.Revoke(t, "a", "svc", "svc-secret", revoked); r.Status != http.StatusOK {
		t.Fatalf("revoke = %d %s", r.Status, r.Body)
	}
	rl, _ := env.Server.Realms.Get("a")
	expired, _, err := rl.Tokens.Mint(ctx, tokens.Spec{Subject: "service-account-svc", AuthorizedParty: "svc",
		Audience: []string{"svc"}, Lifespan: -time.Minute, Roles: []string{"magic-link-sender", "link-generator"}})
	if err != nil {
		t.Fatal(err)
	}
	kinds := []struct {
		name  string
		token string
		good  bool // carries authority over the realm's APIs
		info  bool // userinfo and introspection accept it
	}{
		{"service account access token", svc, true, true},
		{"user access token", alice.AccessToken, true, true},
		{"API token", apiToken(t, env, "alice@example.com", "alice-password"), true, true},
		{"link token", linkToken(t, env, env.ServiceToken(t, "a", "linker", "linker-secret"), "alice@example.com"), false, true},
		{"ID token", alice.IDToken, false, false},
		{"refresh token", alice.RefreshToken, false, false},
		{"offline token", offlineToken(t, env, "alice@example.com", "alice-password"), false, false},
		{"logout token", logoutToken(t, rl, alice.AccessToken), false, false},
		{"expired token", expired, false, false},
		{"other realm's token", env.ServiceToken(t, "b", "svc", "svc-secret"), false, false},
		{"revoked token", revoked, false, false},
		{"disabled user's API token", dora, false, false},
		{"ended session's access token", erin.AccessToken, false, false},
		{"garbage", "not.a.token", false, false},
	}
	env.SetUserEnabled(t, "a", "dora@example.com", false)
	erinUser, _ := env.Store.GetUserByEmail(ctx, "a", "erin@example.com")
	if err := env.Store.DeleteUserSessions(ctx, "a", erinUser.ID); err != nil {
		t.Fatal(err)
	}

	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			if r := env.Userinfo(t, "a", k.token); k.info != (r.Status == http.StatusOK) ||
				!k.info && (r.Status != http.StatusUnauthorized || r.JSON()["error"] == nil) {
				t.Errorf("userinfo = %d %s, want 200: %v (else 401 with an OAuth error)", r.Status, r.Body, k.info)
			}
			r := env.Introspect(t, "a", "svc", "svc-secret", k.token)
			active, _ := r.JSON()["active"].(bool)
			// RFC 7662 and Keycloak describe refresh and offline tokens too.
			wantActive := k.info || k.name == "refresh token" || k.name == "offline token"
			if r.Status != http.StatusOK || active != wantActive {
				t.Errorf("introspection = %d %s, want 200 active=%v", r.Status, r.Body, wantActive)
			}
			r = testkit.PostJSON(t, env.Client(), env.Issuer("a")+"/kobil-magic-link/access-link", k.token, magicLinkBody)
			if k.good {
				if r.Status != http.StatusOK {
					t.Errorf("magic-link API = %d %s, want 200", r.Status, r.Body)
				}
			} else if r.Status != http.StatusUnauthorized || r.JSON()["status"] != "Unauthorized" || r.JSON()["subSystem"] != 5.0 {
				t.Errorf("magic-link API = %d %s, want 401 in the seed's shape", r.Status, r.Body)
			}
			// The admin API: a token the gate accepts reaches the role check
			// (403: no realm-management role here); any other is 401.
			if r := testkit.SendJSON(t, env.Client(), http.MethodGet, env.URL+"/admin/realms/a/users", k.token, ""); k.good && r.Status != http.StatusForbidden ||
				!k.good && r.Status != http.StatusUnauthorized {
				t.Errorf("admin API = %d %s, want %d", r.Status, r.Body, map[bool]int{true: 403, false: 401}[k.good])
			}
			r = testkit.PostJSON(t, env.Client(), env.Issuer("a")+"/generate-link-api/", k.token, genLinkBody)
			if k.good {
				if r.Status != http.StatusOK {
					t.Errorf("generate-link API = %d %s, want 200", r.Status, r.Body)
				}
			} else if r.Status != http.StatusUnauthorized || r.JSON()["error"] == nil {
				t.Errorf("generate-link API = %d %s, want 401 {\"error\"}", r.Status, r.Body)
			}
		})
	}
	// Revocation last: it changes state. It answers 200 for every token,
	// including the ones it cannot use (RFC 7009 §2.2), and never a 5xx.
	for _, k := range kinds {
		if r := env.Revoke(t, "a", "svc", "svc-secret", k.token); r.Status != http.StatusOK {
			t.Errorf("revoke %s = %d %s, want 200", k.name, r.Status, r.Body)
		}
	}
	if r := env.Userinfo(t, "a", svc); r.Status != http.StatusUnauthorized {
		t.Errorf("userinfo after revoking the service token = %d, want 401", r.Status)
	}
}

// TestLinkTokenIsNoCredential is defect 1: a caller with only link-generator
// generates a link for a user who holds magic-link-sender; the link's token
// must not open the magic-link or generate-link APIs.
func TestLinkTokenIsNoCredential(t *testing.T) {
	t.Parallel()
	env := testkit.New(t, gateRealms)
	link := linkToken(t, env, env.ServiceToken(t, "a", "linker", "linker-secret"), "alice@example.com")
	if r := testkit.PostJSON(t, env.Client(), env.Issuer("a")+"/kobil-magic-link/access-link", link, magicLinkBody); r.Status != http.StatusUnauthorized {
		t.Errorf("magic-link API with a link token = %d %s, want 401", r.Status, r.Body)
	}
	if r := testkit.PostJSON(t, env.Client(), env.Issuer("a")+"/generate-link-api/", link, genLinkBody); r.Status != http.StatusUnauthorized {
		t.Errorf("generate-link API with a link token = %d %s, want 401", r.Status, r.Body)
	}
	if n := env.Mail.CountTo("alice@example.com"); n != 0 {
		t.Errorf("%d magic-link mails sent on a link token's authority, want 0", n)
	}
	// The link's token still names its user where that is all it is for.
	if r := env.Userinfo(t, "a", link); r.Status != http.StatusOK || !strings.Contains(r.Body, "alice@example.com") {
		t.Errorf("userinfo with the link token = %d %s, want 200 for alice", r.Status, r.Body)
	}
}
