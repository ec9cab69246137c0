package credentials_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/testkit"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
)

// Test users' passwords.
const (
	alicePassword = "correct horse battery"
	bobPassword   = "bob's own password"
	carolPassword = "carol's password 1"
)

// testConfig has a default realm with brute-force protection (factor 5) and
// no rate limits (tested on their own), an ES256 realm, a disabled realm and a
// confidential client for introspection and revocation.
const testConfig = `
defaultRealm: acme
realms:
  - name: acme
    bruteForce: {failureFactor: 5, waitIncrement: 1m, maxWait: 15m}
    rateLimits: {perIP: "off", perAccount: "off"}
    clients:
      - clientId: svc
        secret: s3cret
        grantTypes: [client_credentials]
    users:
      - email: alice@example.com
        password: "` + alicePassword + `"
        roles: [link-generator, magic-link-sender]
        emailVerified: true
      - email: bob@example.com
        password: "` + bobPassword + `"
        enabled: false
      - email: carol@example.com
        password: "` + carolPassword + `"
      - email: dave@example.com
        password: "` + carolPassword + `"
      - email: erin@example.com
        password: "` + carolPassword + `"
      - email: nopass@example.com
  - name: ec
    signingAlgorithm: ES256
    rateLimits: {perIP: "off", perAccount: "off"}
    clients:
      - clientId: svc
        secret: s3cret
        grantTypes: [client_credentials]
    users:
      - email: alice@example.com
        password: "` + alicePassword + `"
  - name: closed
    enabled: false
    users:
      - email: alice@example.com
        password: "` + alicePassword + `"
`

// response is what a test needs of an HTTP answer.
type response struct {
	status int
	header http.Header
	body   string
}

// call sends one request with the given method, content type and body.
func call(t testing.TB, c *http.Client, method, url, contentType string, body io.Reader) response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	r := testkit.Do(t, c, req)
	return response{status: r.Status, header: r.Header, body: r.Body}
}

// postJSON posts body as application/json.
func postJSON(t testing.TB, c *http.Client, url, body string) response {
	t.Helper()
	return call(t, c, http.MethodPost, url, "application/json", strings.NewReader(body))
}

// loginBody and wfBody build request bodies with proper JSON escaping.
func loginBody(email, pw string) string {
	b, _ := json.Marshal(map[string]string{"emailId": email, "password": pw})
	return string(b)
}

func wfBody(email, pw string) string {
	b, _ := json.Marshal(map[string]string{"email": email, "password": pw})
	return string(b)
}

// loginOK is /user/login's 200 body.
type loginOK struct {
	ResponseCode    int    `json:"responseCode"`
	ResponseMessage string `json:"responseMessage"`
	ResponseData    struct {
		Token   string `json:"token"`
		APIKey  string `json:"apiKey"`
		Expiry  string `json:"expiry"`
		EmailID string `json:"emailId"`
	} `json:"responseData"`
}

// wfOK is /wf/generate-user-token's 200 body.
type wfOK struct {
	Status   string `json:"status"`
	Response struct {
		UserID  string  `json:"user_id"`
		Token   string  `json:"token"`
		Expires float64 `json:"expires"`
	} `json:"response"`
}

// login logs in through /user/login of the default realm and returns the body.
func login(t testing.TB, env *testkit.Env, c *http.Client, email, pw string) loginOK {
	t.Helper()
	got := postJSON(t, c, env.URL+"/user/login", loginBody(email, pw))
	if got.status != http.StatusOK {
		t.Fatalf("POST /user/login %s = %d %s, want 200", email, got.status, got.body)
	}
	var ok loginOK
	if err := json.Unmarshal([]byte(got.body), &ok); err != nil {
		t.Fatalf("decode /user/login answer %s: %v", got.body, err)
	}
	return ok
}

// acme returns the default test realm.
func acme(t testing.TB, env *testkit.Env) *realm.Realm {
	t.Helper()
	r, ok := env.Server.Realms.Get("acme")
	if !ok {
		t.Fatal("realm acme missing")
	}
	return r
}

// user returns a stored user of realm acme by email.
func user(t testing.TB, env *testkit.Env, email string) storage.User {
	t.Helper()
	u, err := env.Store.GetUserByEmail(context.Background(), "acme", email)
	if err != nil {
		t.Fatalf("get user %s: %v", email, err)
	}
	return u
}

// paths returns an API's path under both realm prefixes and the root alias.
func paths(api string) []string {
	return []string{"/auth/realms/acme" + api, "/realms/acme" + api, api}
}
