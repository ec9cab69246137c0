package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/backchannel"
	"github.com/latchkey/latchkey/internal/testkit"
)

// backchannelRealm has a client that takes back-channel logouts ("web"),
// one that takes them but never takes part in a session ("bystander") and
// an admin service account.
const backchannelRealm = `
server: {publicURL: "https://localhost"}
realms:
  - name: a
    bruteForce: {enabled: false}
    rateLimits: {perIP: "off", perAccount: "off"}
    clients:
      - clientId: web
        public: true
        redirectUris: ["https://app.example.com/cb"]
        postLogoutRedirectUris: ["https://app.example.com/"]
        grantTypes: [authorization_code, refresh_token]
        backchannelLogoutUri: "https://127.0.0.1/replaced-by-the-test"
      - clientId: bystander
        secret: bystander-secret
        redirectUris: ["https://by.example.com/cb"]
        grantTypes: [authorization_code]
        backchannelLogoutUri: "https://127.0.0.1/replaced-by-the-test"
      - clientId: admin
        secret: admin-secret
        grantTypes: [client_credentials]
        serviceAccountRoles: [manage-users]
    users:
      - {email: alice@example.com, password: "alice-password"}
      - {email: bob@example.com, password: "bob-password"}
      - {email: carol@example.com, password: "carol-password"}
      - {email: dave@example.com, password: "dave-password"}
`

// logoutReceiver is a relying party's back-channel logout endpoint over TLS.
type logoutReceiver struct {
	*httptest.Server
	tokens chan string
	// failures is how many requests to refuse with 503 before accepting.
	failures atomic.Int32
}

func newLogoutReceiver(t *testing.T) *logoutReceiver {
	rcv := &logoutReceiver{tokens: make(chan string, 16)}
	rcv.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			http.Error(w, "want a form POST", http.StatusBadRequest)
			return
		}
		if rcv.failures.Add(-1) >= 0 {
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		rcv.tokens <- r.PostFormValue("logout_token")
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rcv.Close)
	return rcv
}

// next waits for the next logout token (the outbox delivers within its poll
// interval; the bound only keeps a broken delivery from hanging the test).
func (rcv *logoutReceiver) next(t *testing.T) string {
	t.Helper()
	select {
	case tok := <-rcv.tokens:
		return tok
	case <-time.After(15 * time.Second):
		t.Fatal("no logout token arrived")
		return ""
	}
}

// TestBackchannelLogout ends sessions each way Keycloak sends back-channel
// logouts for — RP-initiated logout, refresh-token replay, admin logout,
// disabling the user — and checks that the client that took part gets a
// logout token (OIDC Back-Channel Logout 1.0 §2.4) that verifies with the
// realm's JWKS and names the session, that a client outside the session
// hears nothing, and that a receiver that is down gets it on a retry.
func TestBackchannelLogout(t *testing.T) {
	t.Parallel()
	rcv := newLogoutReceiver(t)
	bystander := newLogoutReceiver(t)
	env := testkit.New(t, backchannelRealm, testkit.Options{
		OutboundHTTP: rcv.Client(), // trusts both httptest servers' certificate
		Mutate: func(c *config.Config) {
			c.Realms[0].Clients[0].BackchannelLogoutURI = rcv.URL + "/backchannel"
			c.Realms[0].Clients[1].BackchannelLogoutURI = bystander.URL + "/backchannel"
		},
	})
	jwks := env.JWKS(t, "a")
	admin := env.ServiceToken(t, "a", "admin", "admin-secret")

	// login signs a user in to "web" in a browser of their own and returns
	// the browser, the tokens and the session id.
	login := func(issuer, email, password string) (*http.Client, testkit.TokenResponse, string) {
		c := env.Client()
		pkce := testkit.NewPKCE()
		code := env.LoginCodeAt(t, c, issuer, "web", appCB, email, password, pkce)
		resp, body := testkit.PostForm(t, c, issuer+"/protocol/openid-connect/token", url.Values{"grant_type": {"authorization_code"},
			"client_id": {"web"}, "code": {code}, "redirect_uri": {appCB}, "code_verifier": {pkce.Verifier}})
		var tr testkit.TokenResponse
		if err := json.Unmarshal([]byte(body), &tr); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("code exchange under %s = %d %s", issuer, resp.StatusCode, body)
		}
		return c, tr, testkit.Claims(t, tr.AccessToken)["sid"].(string)
	}
	legacy, modern := env.Issuer("a"), env.URL+"/realms/a"
	userID := func(email string) string {
		u, err := env.Store.GetUserByEmail(context.Background(), "a", email)
		if err != nil {
			t.Fatal(err)
		}
		return u.ID
	}

	for _, tc := range []struct {
		name, issuer, email, password string
		failFirst                     int32
		end                           func(t *testing.T, browser *http.Client, tr testkit.TokenResponse)
	}{
		{"RP-initiated logout, client of the /realms/ issuer", modern, "alice@example.com", "alice-password", 0, func(t *testing.T, browser *http.Client, tr testkit.TokenResponse) {
			resp, body := testkit.Get(t, browser, modern+"/protocol/openid-connect/logout?"+url.Values{"id_token_hint": {tr.IDToken}}.Encode())
			if resp.StatusCode >= 400 {
				t.Fatalf("logout = %d %s", resp.StatusCode, body)
			}
		}},
		{"refresh token replay", legacy, "bob@example.com", "bob-password", 0, func(t *testing.T, browser *http.Client, tr testkit.TokenResponse) {
			form := url.Values{"grant_type": {"refresh_token"}, "client_id": {"web"}, "refresh_token": {tr.RefreshToken}}
			if r := env.Token(t, browser, "a", form); r.Status != http.StatusOK {
				t.Fatalf("refresh = %d %s", r.Status, r.Error)
			}
			if r := env.Token(t, browser, "a", form); r.Error != "invalid_grant" {
				t.Fatalf("replay = %d %s, want invalid_grant", r.Status, r.Error)
			}
		}},
		{"admin logout, receiver down at first", legacy, "carol@example.com", "carol-password", 2, func(t *testing.T, _ *http.Client, _ testkit.TokenResponse) {
			r := testkit.SendJSON(t, env.Client(), http.MethodPost, env.URL+"/admin/realms/a/users/"+userID("carol@example.com")+"/logout", admin, "")
			if r.Status != http.StatusNoContent {
				t.Fatalf("admin logout = %d %s", r.Status, r.Body)
			}
		}},
		{"user disabled", legacy, "dave@example.com", "dave-password", 0, func(t *testing.T, _ *http.Client, _ testkit.TokenResponse) {
			r := testkit.SendJSON(t, env.Client(), http.MethodPut, env.URL+"/admin/realms/a/users/"+userID("dave@example.com"), admin, `{"enabled":false}`)
			if r.Status != http.StatusNoContent {
				t.Fatalf("disable user = %d %s", r.Status, r.Body)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			browser, tr, sid := login(tc.issuer, tc.email, tc.password)
			rcv.failures.Store(tc.failFirst)
			tc.end(t, browser, tr)
			raw := rcv.next(t)
			claims, err := testkit.VerifyJWS(jwks, raw)
			if err != nil {
				t.Fatalf("logout token does not verify with the realm's JWKS: %v", err)
			}
			events, _ := claims["events"].(map[string]any)
			if _, ok := events[backchannel.EventLogout]; !ok || claims["sid"] != sid || claims["aud"] != "web" ||
				claims["iss"] != tc.issuer || claims["sub"] != userID(tc.email) || claims["jti"] == "" || claims["iat"] == nil {
				t.Errorf("logout token claims = %v, want the logout event, sid %s, aud web, iss %s, sub, jti, iat", claims, sid, tc.issuer)
			}
			if _, ok := claims["nonce"]; ok {
				t.Error("a logout token must not carry a nonce")
			}
			if left := rcv.failures.Load(); tc.failFirst > 0 && left >= 0 {
				t.Errorf("receiver refusals left = %d, want every refusal used before the delivery", left)
			}
		})
	}
	select {
	case tok := <-bystander.tokens:
		t.Errorf("a client that took part in no session got a logout token: %v", testkit.Claims(t, tok))
	default:
	}
}
