package admin_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/testkit"
)

const adminRealms = `
server: {publicURL: "https://localhost"}
defaultRealm: a
realms:
  - name: a
    bruteForce: {failureFactor: 3, waitIncrement: 1m, maxWait: 15m}
    rateLimits: {perIP: "off", perAccount: "off"}
    passwordPolicy: {minLength: 8}
    clients:
      - {clientId: admin, secret: admin-secret, grantTypes: [client_credentials], serviceAccountRoles: [realm-admin]}
      - {clientId: viewer, secret: viewer-secret, grantTypes: [client_credentials], serviceAccountRoles: [view-users]}
      - {clientId: plain, secret: plain-secret, grantTypes: [client_credentials], serviceAccountRoles: [link-generator]}
      - clientId: web
        public: true
        redirectUris: ["https://app.example.com/cb"]
        grantTypes: [authorization_code, refresh_token]
    users:
      - {email: alice@example.com, password: "alice-password", roles: [link-generator]}
  - name: b
    clients:
      - {clientId: admin, secret: admin-secret, grantTypes: [client_credentials], serviceAccountRoles: [realm-admin]}
`

type adminAPI struct {
	env   *testkit.Env
	token string
	base  string
}

func (a adminAPI) do(t *testing.T, method, path, body string) testkit.Call {
	t.Helper()
	return testkit.SendJSON(t, a.env.Client(), method, a.base+path, a.token, body)
}

func TestAdminAPI(t *testing.T) {
	env := testkit.New(t, adminRealms)
	adm := adminAPI{env: env, token: env.ServiceToken(t, "a", "admin", "admin-secret"), base: env.URL + "/admin/realms/a"}
	viewer := adm
	viewer.token = env.ServiceToken(t, "a", "viewer", "viewer-secret")
	plain := adm
	plain.token = env.ServiceToken(t, "a", "plain", "plain-secret")
	otherRealm := adm
	otherRealm.token = env.ServiceToken(t, "b", "admin", "admin-secret")

	t.Run("authorization", func(t *testing.T) {
		anon := adm
		anon.token = ""
		for _, tt := range []struct {
			name   string
			api    adminAPI
			method string
			path   string
			want   int
		}{
			{"no token", anon, "GET", "/users", 401},
			{"garbage token", adminAPI{env: env, token: "x.y.z", base: adm.base}, "GET", "/users", 401},
			{"another realm's admin", otherRealm, "GET", "/users", 401},
			{"no admin role", plain, "GET", "/users", 403},
			{"view-users reads", viewer, "GET", "/users", 200},
			{"view-users cannot create", viewer, "POST", "/users", 403},
			{"view-users cannot read the realm", viewer, "GET", "", 403},
			{"realm-admin reads the realm", adm, "GET", "", 200},
			{"unknown realm", adminAPI{env: env, token: adm.token, base: env.URL + "/admin/realms/nope"}, "GET", "/users", 404},
		} {
			if r := tt.api.do(t, tt.method, tt.path, `{}`); r.Status != tt.want || r.JSON()["error"] == nil && tt.want >= 400 {
				t.Errorf("%s: %s %s = %d %s, want %d with an error body", tt.name, tt.method, tt.path, r.Status, r.Body, tt.want)
			}
		}
		if r := adm.do(t, "GET", "", ""); r.JSON()["realm"] != "a" || r.JSON()["bruteForceProtected"] != true || r.JSON()["failureFactor"] != 3.0 {
			t.Errorf("realm = %s", r.Body)
		}
	})

	var kimID string
	t.Run("users: create, read, list, update, conflicts, policy", func(t *testing.T) {
		r := adm.do(t, "POST", "/users/", `{"username":"Kim","email":"kim@example.com","enabled":true,"emailVerified":true,
			"firstName":"Kim","lastName":"Lee","attributes":{"dept":["eng"]},
			"credentials":[{"type":"password","value":"kim-password","temporary":false}]}`)
		loc := r.Header.Get("Location")
		if r.Status != http.StatusCreated || !strings.HasPrefix(loc, env.URL+"/admin/realms/a/users/") {
			t.Fatalf("create = %d %s Location %q", r.Status, r.Body, loc)
		}
		kimID = loc[strings.LastIndex(loc, "/")+1:]
		got := adm.do(t, "GET", "/users/"+kimID, "").JSON()
		if got["username"] != "kim" || got["email"] != "kim@example.com" || got["enabled"] != true || got["emailVerified"] != true {
			t.Errorf("GET user = %v", got)
		}
		if r := testkit.PostJSON(t, env.Client(), env.Issuer("a")+"/user/login", "", `{"emailId":"kim@example.com","password":"kim-password"}`); r.Status != 200 {
			t.Errorf("the new user's password login = %d %s", r.Status, r.Body)
		}
		if r := adm.do(t, "POST", "/users", `{"username":"other","email":"KIM@example.com"}`); r.Status != http.StatusConflict || r.JSON()["errorMessage"] != "User exists with same email" {
			t.Errorf("duplicate email = %d %s, want 409 errorMessage", r.Status, r.Body)
		}
		if r := adm.do(t, "POST", "/users", `{"username":"short","credentials":[{"type":"password","value":"x"}]}`); r.Status != 400 || r.JSON()["error_description"] == nil {
			t.Errorf("short password = %d %s, want 400 {error, error_description}", r.Status, r.Body)
		}
		var list []map[string]any
		if err := json.Unmarshal([]byte(adm.do(t, "GET", "/users?email=kim@example.com&exact=true", "").Body), &list); err != nil || len(list) != 1 || list[0]["id"] != kimID {
			t.Errorf("search by exact email = %v, %v", list, err)
		}
		if r := adm.do(t, "GET", "/users/count?search=example.com", ""); r.Body != "2" {
			t.Errorf("count = %s, want 2", r.Body)
		}
		if r := adm.do(t, "GET", "/users?first=1&max=1", ""); strings.Count(r.Body, `"id"`) != 1 {
			t.Errorf("first=1&max=1 = %s, want one user", r.Body)
		}
		if r := adm.do(t, "PUT", "/users/"+kimID, `{"email":"kim2@example.com"}`); r.Status != http.StatusNoContent {
			t.Fatalf("PUT email = %d %s", r.Status, r.Body)
		}
		if got := adm.do(t, "GET", "/users/"+kimID, "").JSON(); got["email"] != "kim2@example.com" || got["username"] != "kim" || got["enabled"] != true ||
			got["firstName"] != "Kim" || got["lastName"] != "Lee" || jsonString(got["attributes"]) != `{"dept":["eng"]}` {
			t.Errorf("after a partial update = %v, want the new email and the rest unchanged", got)
		}
		if r := adm.do(t, "PUT", "/users/"+kimID, `{"lastName":"Park"}`); r.Status != http.StatusNoContent {
			t.Fatalf("PUT lastName = %d", r.Status)
		}
		if got := adm.do(t, "GET", "/users/"+kimID, "").JSON(); got["firstName"] != "Kim" || got["lastName"] != "Park" {
			t.Errorf("after a lastName update = %v", got)
		}
		if r := adm.do(t, "PUT", "/users/"+kimID+"/reset-password", `{"type":"password","value":"x","temporary":false}`); r.Status != 400 || r.JSON()["error"] == nil || r.JSON()["error_description"] == nil {
			t.Errorf("reset to a short password = %d %s", r.Status, r.Body)
		}
		if r := adm.do(t, "PUT", "/users/"+kimID+"/reset-password", `{"type":"password","value":"kim-new-password","temporary":false}`); r.Status != http.StatusNoContent {
			t.Errorf("reset password = %d %s", r.Status, r.Body)
		}
		if r := adm.do(t, "GET", "/users/no-such-id", ""); r.Status != 404 || r.JSON()["error"] != "User not found" {
			t.Errorf("unknown user = %d %s", r.Status, r.Body)
		}
	})

	t.Run("role mappings take effect for new tokens", func(t *testing.T) {
		if r := adm.do(t, "POST", "/users/"+kimID+"/role-mappings/realm", `[{"id":"link-generator","name":"link-generator"}]`); r.Status != http.StatusNoContent {
			t.Fatalf("add role = %d %s", r.Status, r.Body)
		}
		if r := adm.do(t, "GET", "/users/"+kimID+"/role-mappings/realm", ""); !strings.Contains(r.Body, `"name":"link-generator"`) {
			t.Errorf("role mappings = %s", r.Body)
		}
		if r := adm.do(t, "DELETE", "/users/"+kimID+"/role-mappings/realm", `[{"name":"link-generator"}]`); r.Status != http.StatusNoContent {
			t.Errorf("remove role = %d", r.Status)
		}
		if r := adm.do(t, "GET", "/roles", ""); !strings.Contains(r.Body, `"name":"realm-admin"`) || !strings.Contains(r.Body, `"name":"link-generator"`) {
			t.Errorf("roles = %s", r.Body)
		}
	})

	t.Run("disable, brute force, logout and delete take effect at once", func(t *testing.T) {
		login := func() testkit.Call {
			return testkit.PostJSON(t, env.Client(), env.Issuer("a")+"/user/login", "", `{"emailId":"kim2@example.com","password":"kim-new-password"}`)
		}
		r := login()
		var body struct {
			ResponseData struct{ Token string } `json:"responseData"`
		}
		_ = json.Unmarshal([]byte(r.Body), &body)
		tok := body.ResponseData.Token
		if env.Userinfo(t, "a", tok).Status != 200 {
			t.Fatal("the user's token does not work before the change")
		}
		if r := adm.do(t, "PUT", "/users/"+kimID, `{"enabled":false}`); r.Status != http.StatusNoContent {
			t.Fatalf("disable = %d", r.Status)
		}
		if r := env.Userinfo(t, "a", tok); r.Status != http.StatusUnauthorized {
			t.Errorf("a disabled user's token at userinfo = %d, want 401", r.Status)
		}
		if r := adm.do(t, "PUT", "/users/"+kimID, `{"enabled":true}`); r.Status != http.StatusNoContent {
			t.Fatalf("enable = %d", r.Status)
		}
		for range 3 {
			testkit.PostJSON(t, env.Client(), env.Issuer("a")+"/user/login", "", `{"emailId":"kim2@example.com","password":"wrong-password"}`)
		}
		if got := adm.do(t, "GET", "/attack-detection/brute-force/users/"+kimID, "").JSON(); got["disabled"] != true || got["numFailures"] != 3.0 {
			t.Errorf("brute-force status = %v, want locked after 3", got)
		}
		if r := adm.do(t, "DELETE", "/attack-detection/brute-force/users/"+kimID, ""); r.Status != http.StatusNoContent {
			t.Errorf("unlock = %d", r.Status)
		}
		if r := login(); r.Status != 200 {
			t.Errorf("login after the unlock = %d %s", r.Status, r.Body)
		}

		c := env.Client()
		pkce := testkit.NewPKCE()
		code := env.LoginCode(t, c, "a", "web", "https://app.example.com/cb", "kim2@example.com", "kim-new-password", pkce)
		tr := env.Token(t, c, "a", url.Values{"grant_type": {"authorization_code"}, "client_id": {"web"}, "code": {code},
			"redirect_uri": {"https://app.example.com/cb"}, "code_verifier": {pkce.Verifier}})
		if r := adm.do(t, "GET", "/users/"+kimID+"/sessions", ""); r.Status != 200 || strings.Count(r.Body, `"userId":"`+kimID+`"`) != 1 ||
			!strings.Contains(r.Body, `"clients":{"web":"web"}`) {
			t.Errorf("sessions = %d %s, want the one browser session, with its client", r.Status, r.Body)
		}
		// An offline grant in the same browser session is an offline session.
		offline := testkit.NewPKCE()
		q := url.Values{"client_id": {"web"}, "redirect_uri": {"https://app.example.com/cb"}, "response_type": {"code"},
			"scope": {"openid offline_access"}, "code_challenge": {offline.Challenge}, "code_challenge_method": {"S256"}}
		resp, _ := testkit.Get(t, c, env.Issuer("a")+"/protocol/openid-connect/auth?"+q.Encode())
		resp, _ = testkit.Get(t, c, resp.Header.Get("Location"))
		cb, _ := url.Parse(resp.Header.Get("Location"))
		otr := env.Token(t, c, "a", url.Values{"grant_type": {"authorization_code"}, "client_id": {"web"}, "code": {cb.Query().Get("code")},
			"redirect_uri": {"https://app.example.com/cb"}, "code_verifier": {offline.Verifier}})
		if otr.RefreshToken == "" {
			t.Fatalf("offline grant = %d %q", otr.Status, otr.Error)
		}
		if r := adm.do(t, "GET", "/users/"+kimID+"/offline-sessions/web", ""); r.Status != 200 || strings.Count(r.Body, `"userId":"`+kimID+`"`) != 1 {
			t.Errorf("offline sessions = %d %s, want the one offline grant", r.Status, r.Body)
		}
		if r := adm.do(t, "GET", "/users/"+kimID+"/offline-sessions/nope", ""); r.Status != http.StatusNotFound {
			t.Errorf("offline sessions of an unknown client = %d, want 404", r.Status)
		}
		if r := adm.do(t, "POST", "/users/"+kimID+"/logout", ""); r.Status != http.StatusNoContent {
			t.Fatalf("logout = %d", r.Status)
		}
		if r := adm.do(t, "GET", "/users/"+kimID+"/sessions", ""); r.Body != "[]" {
			t.Errorf("sessions after the logout = %s, want []", r.Body)
		}
		if again := env.Token(t, c, "a", url.Values{"grant_type": {"refresh_token"}, "client_id": {"web"}, "refresh_token": {tr.RefreshToken}}); again.Error != "invalid_grant" {
			t.Errorf("refresh after the admin logout = %d %q, want invalid_grant", again.Status, again.Error)
		}
		if r := env.Userinfo(t, "a", tr.AccessToken); r.Status != http.StatusUnauthorized {
			t.Errorf("the session's access token after the admin logout = %d, want 401", r.Status)
		}

		tok = env.ServiceToken(t, "a", "admin", "admin-secret") // still fine: a service account
		r = login()
		_ = json.Unmarshal([]byte(r.Body), &body)
		if r := adm.do(t, "DELETE", "/users/"+kimID, ""); r.Status != http.StatusNoContent {
			t.Fatalf("delete = %d %s", r.Status, r.Body)
		}
		if r := env.Userinfo(t, "a", body.ResponseData.Token); r.Status != http.StatusUnauthorized {
			t.Errorf("a deleted user's token = %d, want 401", r.Status)
		}
		if r := adm.do(t, "GET", "/users/"+kimID, ""); r.Status != 404 {
			t.Errorf("GET deleted user = %d, want 404", r.Status)
		}
		if r := adm.do(t, "DELETE", "/users/"+kimID, ""); r.Status != 404 {
			t.Errorf("DELETE again = %d, want 404", r.Status)
		}
		_ = tok
	})

	t.Run("clients never show a secret; keys rotate and are used at once", func(t *testing.T) {
		r := adm.do(t, "GET", "/clients", "")
		// No secret or hash: neither as a member nor as a value from the config.
		if r.Status != 200 || strings.Contains(r.Body, `"secret`) || strings.Contains(r.Body, "admin-secret") ||
			strings.Contains(r.Body, "$argon2") || !strings.Contains(r.Body, `"clientId":"web"`) {
			t.Errorf("clients = %d %s", r.Status, r.Body)
		}
		if r := adm.do(t, "GET", "/clients/admin", ""); r.JSON()["serviceAccountsEnabled"] != true || r.JSON()["publicClient"] != false ||
			r.JSON()["clientAuthenticatorType"] != "client-secret" || r.JSON()["directAccessGrantsEnabled"] != false {
			t.Errorf("client = %s", r.Body)
		}
		if r := adm.do(t, "GET", "/clients/nope", ""); r.Status != 404 {
			t.Errorf("unknown client = %d", r.Status)
		}
		if r := viewer.do(t, "POST", "/keys/rotate", ""); r.Status != 403 {
			t.Errorf("rotate without manage-realm = %d, want 403", r.Status)
		}
		r = adm.do(t, "POST", "/keys/rotate", "")
		kid, _ := r.JSON()["kid"].(string)
		if r.Status != 200 || kid == "" {
			t.Fatalf("rotate = %d %s", r.Status, r.Body)
		}
		if h := testkit.Header(t, env.ServiceToken(t, "a", "admin", "admin-secret")); h["kid"] != kid {
			t.Errorf("new tokens signed with %v, want %s at once", h["kid"], kid)
		}
		keys := adm.do(t, "GET", "/keys", "").JSON()
		if active, _ := keys["active"].(map[string]any); active["RS256"] != kid {
			t.Errorf("keys = %v, want %s active", keys, kid)
		}
		if claims := testkit.Claims(t, adm.token); !strings.Contains(jsonString(claims["resource_access"]), `"realm-management":{"roles":["realm-admin"]}`) {
			t.Errorf("admin token resource_access = %v", claims["resource_access"])
		}
	})

	t.Run("every change is audited, never with a secret", func(t *testing.T) {
		logs := env.Logs.String()
		for _, action := range []string{"CREATE user", "UPDATE user", "UPDATE user password", "CREATE role mapping",
			"DELETE role mapping", "DELETE brute-force lock", "ACTION logout user", "DELETE user", "ACTION rotate keys"} {
			if !strings.Contains(logs, `action="`+action+`"`) {
				t.Errorf("no audit line for %q", action)
			}
		}
		for _, secret := range []string{"kim-password", "kim-new-password", "admin-secret"} {
			if strings.Contains(logs, secret) {
				t.Errorf("the log holds the secret %q", secret)
			}
		}
	})

	t.Run("the /auth prefix answers alike", func(t *testing.T) {
		old := adm
		old.base = env.URL + "/auth/admin/realms/a"
		if r := old.do(t, "GET", "/users/count", ""); r.Status != 200 {
			t.Errorf("GET /auth/admin/realms/a/users/count = %d %s", r.Status, r.Body)
		}
	})
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func jsonDecode(s string, v any) error { return json.Unmarshal([]byte(s), v) }
