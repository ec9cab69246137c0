package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testkit"
)

// TestNoSecretInLogs drives every API of a realm once — code flow, refresh,
// client credentials, introspection, revocation, /user/login,
// /wf/generate-user-token, a magic link from mail to landing, generate-link —
// with debug logging on, and then searches everything the server logged for
// every secret it handed out or received.
func TestNoSecretInLogs(t *testing.T) {
	env := testkit.New(t, twoRealms)
	c := env.Client()
	var secrets []string
	keep := func(s ...string) {
		for _, x := range s {
			if len(x) >= 8 {
				secrets = append(secrets, x)
			}
		}
	}
	keep("alice-in-a", "svc-secret")

	svc := env.ServiceToken(t, "a", "svc", "svc-secret")
	keep(svc)
	pkce := testkit.NewPKCE()
	code := env.LoginCode(t, c, "a", "web", appCB, "alice@example.com", "alice-in-a", pkce)
	keep(code, pkce.Verifier)
	tok := env.Token(t, c, "a", url.Values{"grant_type": {"authorization_code"}, "client_id": {"web"}, "code": {code},
		"redirect_uri": {appCB}, "code_verifier": {pkce.Verifier}})
	keep(tok.AccessToken, tok.RefreshToken, tok.IDToken)
	rot := env.Token(t, c, "a", url.Values{"grant_type": {"refresh_token"}, "client_id": {"web"}, "refresh_token": {tok.RefreshToken}})
	keep(rot.AccessToken, rot.RefreshToken, rot.IDToken)
	for _, cookie := range c.Jar.Cookies(mustURL(t, env.URL)) {
		keep(cookie.Value)
	}
	testkit.PostForm(t, c, env.Issuer("a")+"/protocol/openid-connect/token/introspect",
		url.Values{"token": {rot.AccessToken}, "client_id": {"svc"}, "client_secret": {"svc-secret"}})
	testkit.PostForm(t, c, env.Issuer("a")+"/protocol/openid-connect/revoke",
		url.Values{"token": {rot.RefreshToken}, "client_id": {"web"}})

	_, body := doJSON(t, c, "POST", env.Issuer("a")+"/user/login", "", `{"emailId":"alice@example.com","password":"alice-in-a"}`)
	var login struct {
		ResponseData struct{ Token, APIKey string } `json:"responseData"`
	}
	_ = json.Unmarshal([]byte(body), &login)
	keep(login.ResponseData.Token, login.ResponseData.APIKey)
	doJSON(t, c, "POST", env.Issuer("a")+"/user/login", "", `{"emailId":"alice@example.com","password":"wrong-password-123"}`)
	keep("wrong-password-123")
	_, body = doJSON(t, c, "POST", env.Issuer("a")+"/wf/generate-user-token", "", `{"email":"alice@example.com","password":"alice-in-a"}`)
	var wf struct {
		Response struct{ Token string } `json:"response"`
	}
	_ = json.Unmarshal([]byte(body), &wf)
	keep(wf.Response.Token)

	st, body := doJSON(t, c, "POST", env.Issuer("a")+"/kobil-magic-link/access-link", svc,
		`{"email":"alice@example.com","clientId":"web","redirectUri":"`+appCB+`","scope":"openid","responseMode":"query","responseType":"code","codeChallenge":"`+pkce.Challenge+`","codeChallengeMethod":"S256"}`)
	if st != http.StatusOK {
		t.Fatalf("magic link = %d %s", st, body)
	}
	link := env.Mail.WaitFor(t, "alice@example.com", 5*time.Second).FindLink("/kobil-magic-link/login")
	keep(mustURL(t, link).Query().Get("key"))
	browser := env.Client()
	_, page := testkit.Get(t, browser, link)
	form := testkit.ParseForm(t, page)
	resp, _ := testkit.PostForm(t, browser, form.Action, form.Fields)
	if loc, err := url.Parse(resp.Header.Get("Location")); err == nil {
		keep(loc.Query().Get("code"))
	}

	_, body = doJSON(t, c, "POST", env.Issuer("a")+"/generate-link-api/", svc,
		`{"metadata":"m","workflows_list":"email","site":"shop","emails":["bob@example.com"]}`)
	var links []struct{ GeneratedMessage string }
	_ = json.Unmarshal([]byte(body), &links)
	if len(links) != 1 {
		t.Fatalf("generate-link = %s", body)
	}
	keep(mustURL(t, links[0].GeneratedMessage).Query().Get("token"))
	env.Mail.WaitFor(t, "bob@example.com", 5*time.Second)

	logs := env.Logs.String()
	if len(logs) < 200 {
		t.Fatalf("captured only %d bytes of logs; the test would prove nothing", len(logs))
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("a secret (%.12s…) appears in the server log", s)
		}
	}
	t.Logf("checked %d secrets against %d bytes of debug logs", len(secrets), len(logs))
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return u
}
