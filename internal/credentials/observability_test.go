package credentials_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/testkit"
)

// TestMetricsAndLogs checks that logins, failures, lockouts and tokens are
// counted, that the lockout is logged, and that no password, token or API
// key ever reaches the log.
func TestMetricsAndLogs(t *testing.T) {
	env := testkit.New(t, testConfig, testkit.Options{NoMail: true})
	c := env.Client()
	ok := login(t, env, c, "alice@example.com", alicePassword)
	wf := postJSON(t, c, env.URL+"/wf/generate-user-token", wfBody("alice@example.com", alicePassword))
	wfToken := between(wf.body, `"token":"`, `"`)
	for range 6 {
		postJSON(t, c, env.URL+"/user/login", loginBody("erin@example.com", "a wrong password"))
	}
	postJSON(t, c, env.URL+"/user/login", loginBody("nobody@example.com", "another secret guess"))

	got := call(t, c, http.MethodGet, env.URL+"/metrics", "", nil)
	for _, want := range []string{
		`latchkey_password_logins_total{api="user_login",outcome="success",realm="acme"}`,
		`latchkey_password_logins_total{api="wf_token",outcome="success",realm="acme"}`,
		`latchkey_password_logins_total{api="user_login",outcome="wrong_password",realm="acme"}`,
		`latchkey_password_logins_total{api="user_login",outcome="locked",realm="acme"}`,
		`latchkey_password_logins_total{api="user_login",outcome="unknown_user",realm="acme"}`,
		`latchkey_account_lockouts_total{api="user_login",realm="acme"}`,
		`latchkey_tokens_issued_total{grant="user_login",realm="acme"}`,
		`latchkey_tokens_issued_total{grant="wf_token",realm="acme"}`,
	} {
		if !strings.Contains(got.body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	logs := env.Logs.String()
	if !strings.Contains(logs, "account temporarily locked") {
		t.Error("the lockout was not logged")
	}
	for name, secret := range map[string]string{
		"alice's password": alicePassword, "a wrong password": "a wrong password", "a guess": "another secret guess",
		"the login token": ok.ResponseData.Token, "the wf token": wfToken, "the API key": ok.ResponseData.APIKey,
	} {
		if secret == "" {
			t.Fatalf("%s is empty", name)
		}
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %s", name)
		}
	}
}
