package oidc_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/testkit"
)

const (
	deviceGrant   = "urn:ietf:params:oauth:grant-type:device_code"
	pDeviceAuth   = "/protocol/openid-connect/auth/device"
	pDevice       = "/device"
	consoleSecret = "console-secret-1"
)

// deviceConfig is the realm setup of the device flow tests: a public TV app
// and a confidential console with the device grant (the TV also with
// refresh_token), a browser client without it, a short polling interval so
// that x/oauth2's real-time polling is quick, and a realm with a tight
// per-IP rate limit.
const deviceConfig = `
server: {publicURL: "https://localhost"}
realms:
  - name: tvland
    displayName: TV Land
    rateLimits: {perIP: "off", perAccount: "off"}
    magicLink: {resendInterval: 0}
    deviceFlow: {lifespan: 10m, pollInterval: 1s}
    clients:
      - clientId: tv
        name: Living Room TV
        public: true
        grantTypes: ["urn:ietf:params:oauth:grant-type:device_code", refresh_token]
      - clientId: console
        secret: console-secret-1
        grantTypes: ["urn:ietf:params:oauth:grant-type:device_code"]
      - clientId: web
        public: true
        redirectUris: ["https://rp.example.com/cb"]
        grantTypes: [authorization_code]
    users:
      - email: alice@example.com
        password: alice-password-1
        emailVerified: true
  - name: limited
    rateLimits: {perIP: "3/m", perAccount: "off"}
    clients:
      - clientId: tv
        public: true
        grantTypes: ["urn:ietf:params:oauth:grant-type:device_code"]
`

// newDeviceEnv boots the real server with deviceConfig and a mail server.
func newDeviceEnv(t testing.TB) *testkit.Env {
	t.Helper()
	return testkit.New(t, deviceConfig)
}

// deviceAuthorization is the device authorization endpoint's answer.
type deviceAuthorization struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int    `json:"expires_in"`
	Interval                int    `json:"interval"`
}

// startDevice asks realm's device authorization endpoint for a grant as
// clientID (HTTP Basic when secret is set) and fails unless it gets one.
func startDevice(t testing.TB, env *testkit.Env, realmName, clientID, secret, scope string) deviceAuthorization {
	t.Helper()
	p := deviceAuthCall(t, env, env.Issuer(realmName), clientID, secret, scope)
	var da deviceAuthorization
	if err := json.Unmarshal([]byte(p.Body), &da); err != nil || p.Status != http.StatusOK || da.DeviceCode == "" {
		t.Fatalf("device authorization of %s in %s = %d %s, want 200 with a device code", clientID, realmName, p.Status, p.Body)
	}
	return da
}

// deviceAuthCall posts a device authorization request under issuer.
func deviceAuthCall(t testing.TB, env *testkit.Env, issuer, clientID, secret, scope string) page {
	t.Helper()
	form := url.Values{"scope": {scope}}
	user := clientID
	if secret == "" {
		form.Set("client_id", clientID)
		user = ""
	}
	return postForm(t, env.Client(), issuer+pDeviceAuth, form, user, secret)
}

// poll is one device access token request of clientID.
func poll(t testing.TB, env *testkit.Env, realmName, clientID, secret, deviceCode string) page {
	t.Helper()
	form := url.Values{"grant_type": {deviceGrant}, "device_code": {deviceCode}}
	user := clientID
	if secret == "" {
		form.Set("client_id", clientID)
		user = ""
	}
	return postForm(t, env.Client(), endpoint(env, realmName, pToken), form, user, secret)
}

// wantOAuthError fails t unless p is a 400 OAuth error answer with code want.
func wantOAuthError(t testing.TB, what string, p page, want string) {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal([]byte(p.Body), &e)
	if p.Status != http.StatusBadRequest || e.Error != want {
		t.Errorf("%s = %d %s, want 400 %s", what, p.Status, p.Body, want)
	}
}

// enterCode opens the verification page with c and submits code; it returns
// the answer (the approval page for a live code).
func enterCode(t testing.TB, env *testkit.Env, c *http.Client, realmName, code string) page {
	t.Helper()
	entry := get(t, c, env.Issuer(realmName)+pDevice)
	if entry.Status != http.StatusOK {
		t.Fatalf("GET verification page = %d %s", entry.Status, entry.Body)
	}
	f := testkit.ParseForm(t, entry.Body)
	f.Fields.Set("user_code", code)
	f.Fields.Set("action", "code")
	return postForm(t, c, f.Action, f.Fields, "", "")
}

// answer presses Yes ("approve") or No ("deny") on an approval page.
func answer(t testing.TB, c *http.Client, confirm page, action string) page {
	t.Helper()
	if confirm.Status != http.StatusOK || !strings.Contains(confirm.Body, `id="approve"`) {
		t.Fatalf("expected the approval page, got %d:\n%s", confirm.Status, confirm.Body)
	}
	f := testkit.ParseForm(t, confirm.Body)
	f.Fields.Set("action", action)
	return postForm(t, c, f.Action, f.Fields, "", "")
}

// approveWithLogin runs the user's side for a browser without a session:
// enter the code, press Yes, sign in on the login page; it returns the page
// the sign-in ends on.
func approveWithLogin(t testing.TB, env *testkit.Env, c *http.Client, realmName, code, user, password string) page {
	t.Helper()
	yes := answer(t, c, enterCode(t, env, c, realmName, code), "approve")
	loc := yes.Location(t)
	if yes.Status != http.StatusFound || loc == nil || !strings.Contains(loc.Path, "/login-actions/authenticate") {
		t.Fatalf("Yes without a session = %d Location %q, want 302 to the login page; body %s", yes.Status, yes.Header.Get("Location"), yes.Body)
	}
	lp := get(t, c, loc.String())
	if lp.Status != http.StatusOK {
		t.Fatalf("login page = %d %s", lp.Status, lp.Body)
	}
	return finishLogin(t, c, submitLogin(t, c, lp, user, password))
}

// wantConnected fails t unless p is the "device connected" page.
func wantConnected(t testing.TB, what string, p page) {
	t.Helper()
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "Device connected") {
		t.Fatalf("%s = %d, want 200 \"Device connected\":\n%s", what, p.Status, p.Body)
	}
	if p.Header.Get("Location") != "" {
		t.Errorf("%s redirects to %q; a device grant must not redirect anywhere", what, p.Header.Get("Location"))
	}
}

// tokenOf decodes a successful token response.
func tokenOf(t testing.TB, p page) map[string]any {
	t.Helper()
	if p.Status != http.StatusOK {
		t.Fatalf("token response = %d %s, want 200", p.Status, p.Body)
	}
	return p.JSON(t)
}
