package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/crypto/password"
	"github.com/latchkey/latchkey/internal/testkit"
	"github.com/latchkey/latchkey/storage"
)

// refresh posts a refresh_token grant of the public client web.
func refresh(t *testing.T, env *testkit.Env, token, scope string) testkit.TokenResponse {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "client_id": {"web"}, "refresh_token": {token}}
	if scope != "" {
		form.Set("scope", scope)
	}
	return env.Token(t, env.Client(), "a", form)
}

// TestCodeReplayRevokesItsGrant is defect 6 (RFC 6749 §4.1.2).
func TestCodeReplayRevokesItsGrant(t *testing.T) {
	t.Parallel()
	env := testkit.New(t, gateRealms)
	c := env.Client()
	pkce := testkit.NewPKCE()
	code := env.LoginCode(t, c, "a", "web", appCB, "alice@example.com", "alice-password", pkce)
	exchange := url.Values{"grant_type": {"authorization_code"}, "client_id": {"web"}, "code": {code},
		"redirect_uri": {appCB}, "code_verifier": {pkce.Verifier}}
	first := env.Token(t, c, "a", exchange)
	if first.AccessToken == "" {
		t.Fatalf("first exchange: %d %q", first.Status, first.Error)
	}
	if r := env.Userinfo(t, "a", first.AccessToken); r.Status != http.StatusOK {
		t.Fatalf("userinfo before the replay = %d", r.Status)
	}
	if again := env.Token(t, c, "a", exchange); again.Error != "invalid_grant" {
		t.Fatalf("replayed code = %d %q, want invalid_grant", again.Status, again.Error)
	}
	if r := env.Userinfo(t, "a", first.AccessToken); r.Status != http.StatusUnauthorized {
		t.Errorf("access token issued from a replayed code: userinfo = %d, want 401", r.Status)
	}
	if active := env.Introspect(t, "a", "svc", "svc-secret", first.AccessToken).JSON()["active"]; active != false {
		t.Errorf("introspection of that access token: active = %v, want false", active)
	}
	if tr := refresh(t, env, first.RefreshToken, ""); tr.Error != "invalid_grant" {
		t.Errorf("refresh token issued from a replayed code = %d %q, want invalid_grant", tr.Status, tr.Error)
	}
}

// TestRefreshRevocationEndsItsAccessTokens is defect 7 (RFC 7009 §2.1).
func TestRefreshRevocationEndsItsAccessTokens(t *testing.T) {
	t.Parallel()
	env := testkit.New(t, gateRealms)
	tr := codeFlowTokens(t, env, env.Client(), "alice@example.com", "alice-password")
	rotated := refresh(t, env, tr.RefreshToken, "")
	if rotated.AccessToken == "" {
		t.Fatalf("refresh: %d %q", rotated.Status, rotated.Error)
	}
	if r := env.Revoke(t, "a", "web", "", rotated.RefreshToken); r.Status != http.StatusOK {
		t.Fatalf("revoke = %d %s", r.Status, r.Body)
	}
	for name, access := range map[string]string{"first": tr.AccessToken, "after rotation": rotated.AccessToken} {
		if r := env.Userinfo(t, "a", access); r.Status != http.StatusUnauthorized {
			t.Errorf("%s access token of the revoked grant: userinfo = %d, want 401", name, r.Status)
		}
	}
	if again := refresh(t, env, rotated.RefreshToken, ""); again.Error != "invalid_grant" {
		t.Errorf("revoked refresh token = %d %q, want invalid_grant", again.Status, again.Error)
	}
}

// TestRefreshKeepsTheGrantsScope is defect 8 (RFC 6749 §6): a narrower scope
// narrows the access token issued then, never the grant.
func TestRefreshKeepsTheGrantsScope(t *testing.T) {
	t.Parallel()
	env := testkit.New(t, gateRealms)
	tr := codeFlowTokens(t, env, env.Client(), "alice@example.com", "alice-password")
	narrow := refresh(t, env, tr.RefreshToken, "openid")
	if narrow.AccessToken == "" {
		t.Fatalf("narrowing refresh: %d %q", narrow.Status, narrow.Error)
	}
	if got := testkit.Claims(t, narrow.AccessToken)["scope"]; got != "openid" {
		t.Errorf("narrowed access token scope = %v, want openid", got)
	}
	wide := refresh(t, env, narrow.RefreshToken, "openid email profile")
	if wide.AccessToken == "" {
		t.Fatalf("refresh with the grant's full scope after a narrower one = %d %q, want 200", wide.Status, wide.Error)
	}
	if got, _ := testkit.Claims(t, wide.AccessToken)["scope"].(string); !strings.Contains(got, "email") {
		t.Errorf("access token scope = %q, want the grant's full scope", got)
	}
	if plain := refresh(t, env, wide.RefreshToken, ""); plain.AccessToken == "" || !strings.Contains(testkit.Claims(t, plain.AccessToken)["scope"].(string), "profile") {
		t.Errorf("refresh without scope = %d %q, want the grant's full scope", plain.Status, plain.Error)
	}
}

// logoutURL is the end-session endpoint with an id_token_hint.
func logoutURL(env *testkit.Env, hint string) string {
	return env.Issuer("a") + "/protocol/openid-connect/logout?" + url.Values{"id_token_hint": {hint},
		"post_logout_redirect_uri": {"https://app.example.com/"}}.Encode()
}

// TestLogoutHintMustProveTheSession is defect 4: an id_token_hint that is not
// the browser's session's own, unexpired ID token gets the confirmation page.
func TestLogoutHintMustProveTheSession(t *testing.T) {
	t.Parallel()
	env := testkit.New(t, gateRealms)
	victim := env.Client()
	victimTokens := codeFlowTokens(t, env, victim, "alice@example.com", "alice-password")
	attacker := codeFlowTokens(t, env, env.Client(), "erin@example.com", "erin-password")
	stillSignedIn := func(step string) {
		t.Helper()
		// The victim's SSO session lives: a new authorization skips the login page.
		q := url.Values{"client_id": {"web"}, "redirect_uri": {appCB}, "response_type": {"code"}, "scope": {"openid"},
			"code_challenge": {testkit.NewPKCE().Challenge}, "code_challenge_method": {"S256"}}
		resp, _ := testkit.Get(t, victim, env.Issuer("a")+"/protocol/openid-connect/auth?"+q.Encode())
		if loc := resp.Header.Get("Location"); !strings.Contains(loc, "/auth/callback") {
			t.Fatalf("%s: the victim's session ended (authorize redirects to %q)", step, loc)
		}
	}
	askConfirmation := func(step, hint string) {
		t.Helper()
		resp, body := testkit.Get(t, victim, logoutURL(env, hint))
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.Contains(loc, "/login-actions/logout") {
			t.Errorf("%s: logout = %d Location %q %s, want 302 to the confirmation page", step, resp.StatusCode, loc, body)
		}
		stillSignedIn(step)
	}
	askConfirmation("attacker's own ID token as the hint", attacker.IDToken)
	if tr := refresh(t, env, victimTokens.RefreshToken, ""); tr.AccessToken == "" {
		t.Fatalf("victim's refresh token after the attack = %d %q, want 200", tr.Status, tr.Error)
	}
	env.Clock.Advance(6 * time.Minute) // past the ID token's lifetime, within the session's
	askConfirmation("attacker's expired ID token", attacker.IDToken)
	askConfirmation("the victim's own expired ID token", victimTokens.IDToken)

	fresh := codeFlowTokens(t, env, victim, "alice@example.com", "alice-password")
	resp, _ := testkit.Get(t, victim, logoutURL(env, fresh.IDToken))
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, "https://app.example.com/") {
		t.Fatalf("logout with the session's own ID token = %d %q, want 302 to the post-logout URI", resp.StatusCode, loc)
	}
	if tr := refresh(t, env, fresh.RefreshToken, ""); tr.Error != "invalid_grant" {
		t.Errorf("refresh after logout = %d %q, want invalid_grant", tr.Status, tr.Error)
	}
}

// TestLogoutByRefreshToken is defect 15: Keycloak's back-channel logout form.
func TestLogoutByRefreshToken(t *testing.T) {
	t.Parallel()
	env := testkit.New(t, gateRealms)
	tr := codeFlowTokens(t, env, env.Client(), "alice@example.com", "alice-password")
	post := func(form url.Values) testkit.Call {
		req, _ := http.NewRequest(http.MethodPost, env.Issuer("a")+"/protocol/openid-connect/logout", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return testkit.Do(t, env.Client(), req)
	}
	if r := post(url.Values{"client_id": {"svc"}, "client_secret": {"wrong"}, "refresh_token": {tr.RefreshToken}}); r.Status != http.StatusUnauthorized {
		t.Errorf("bad client credentials = %d %s, want 401", r.Status, r.Body)
	}
	if r := post(url.Values{"client_id": {"svc"}, "client_secret": {"svc-secret"}, "refresh_token": {tr.RefreshToken}}); r.Status != http.StatusBadRequest || r.JSON()["error"] != "invalid_grant" {
		t.Errorf("another client's refresh token = %d %s, want 400 invalid_grant", r.Status, r.Body)
	}
	if r := post(url.Values{"client_id": {"web"}, "refresh_token": {"unknown-token"}}); r.Status != http.StatusBadRequest || r.JSON()["error"] != "invalid_grant" {
		t.Errorf("unknown refresh token = %d %s, want 400 invalid_grant", r.Status, r.Body)
	}
	if r := post(url.Values{"client_id": {"web"}, "refresh_token": {tr.RefreshToken}}); r.Status != http.StatusNoContent || r.Body != "" {
		t.Fatalf("logout by refresh token = %d %s, want 204", r.Status, r.Body)
	}
	if again := refresh(t, env, tr.RefreshToken, ""); again.Error != "invalid_grant" {
		t.Errorf("refresh after logout = %d %q, want invalid_grant", again.Status, again.Error)
	}
	if r := env.Userinfo(t, "a", tr.AccessToken); r.Status != http.StatusUnauthorized {
		t.Errorf("the session's access token after logout: userinfo = %d, want 401", r.Status)
	}
}

// TestKeycloakTokenResponse is defect 16.
func TestKeycloakTokenResponse(t *testing.T) {
	t.Parallel()
	env := testkit.New(t, gateRealms)
	c := env.Client()
	pkce := testkit.NewPKCE()
	code := env.LoginCode(t, c, "a", "web", appCB, "alice@example.com", "alice-password", pkce)
	resp, body := testkit.PostForm(t, c, env.Issuer("a")+"/protocol/openid-connect/token", url.Values{"grant_type": {"authorization_code"},
		"client_id": {"web"}, "code": {code}, "redirect_uri": {appCB}, "code_verifier": {pkce.Verifier}})
	m := testkit.Call{Status: resp.StatusCode, Body: body}.JSON()
	if m["token_type"] != "Bearer" || m["not-before-policy"] != 0.0 {
		t.Errorf("token_type %v, not-before-policy %v; want Bearer, 0", m["token_type"], m["not-before-policy"])
	}
	if exp, _ := m["refresh_expires_in"].(float64); exp <= 0 {
		t.Errorf("refresh_expires_in = %v, want the refresh token's remaining lifetime", m["refresh_expires_in"])
	}
	access, _ := m["access_token"].(string)
	if sid := testkit.Claims(t, access)["sid"]; sid == nil || m["session_state"] != sid {
		t.Errorf("session_state = %v, want the sid %v", m["session_state"], sid)
	}
}

// TestCORSDenyByDefault is defect 9: a realm without webOrigins allows no
// cross-origin calls.
func TestCORSDenyByDefault(t *testing.T) {
	t.Parallel()
	env := testkit.New(t, gateRealms)
	for _, path := range []string{"/protocol/openid-connect/token", "/protocol/openid-connect/userinfo"} {
		req, _ := http.NewRequest(http.MethodOptions, env.Issuer("a")+path, nil)
		req.Header.Set("Origin", "https://evil.example")
		req.Header.Set("Access-Control-Request-Method", http.MethodPost)
		r := testkit.Do(t, env.Client(), req)
		if got := r.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("preflight %s from another origin: Access-Control-Allow-Origin %q, want none", path, got)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, env.Issuer("a")+"/protocol/openid-connect/userinfo", nil)
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Authorization", "Bearer "+env.ServiceToken(t, "a", "svc", "svc-secret"))
	if got := testkit.Do(t, env.Client(), req).Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("userinfo from another origin: Access-Control-Allow-Origin %q, want none", got)
	}
}

// TestClientMistakesAreNot5xx is defect 11.
func TestClientMistakesAreNot5xx(t *testing.T) {
	t.Parallel()
	env := testkit.New(t, gateRealms, testkit.Options{Mutate: func(cfg *config.Config) {
		cfg.Realms[0].Clients[0].RedirectURIs = append(cfg.Realms[0].Clients[0].RedirectURIs, "https://app.example.com/wild/*")
		cfg.Realms[0].Clients[0].WildcardRedirects = true
	}})
	c := env.Client()
	if resp, body := testkit.Get(t, c, env.Issuer("a")+"/protocol/openid-connect/logout?client_id=nope"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("logout?client_id=nope = %d %s, want 400", resp.StatusCode, body)
	}
	codeFlowTokens(t, env, c, "alice@example.com", "alice-password") // a session, so that a code would be issued at once
	for _, bad := range []string{"https://app.example.com/wild/a\x01b", "https://app.example.com/wild/a\nb", "https://app.example.com/wild/a b"} {
		q := url.Values{"client_id": {"web"}, "redirect_uri": {bad}, "response_type": {"code"}, "scope": {"openid"},
			"code_challenge": {testkit.NewPKCE().Challenge}, "code_challenge_method": {"S256"}}
		resp, body := testkit.Get(t, c, env.Issuer("a")+"/protocol/openid-connect/auth?"+q.Encode())
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("redirect_uri %q = %d Location %q %s, want 400 and no redirect", bad, resp.StatusCode, resp.Header.Get("Location"), body)
		}
	}
}

// TestEmailVerifiedAlwaysSent is defect 12.
func TestEmailVerifiedAlwaysSent(t *testing.T) {
	t.Parallel()
	env := testkit.New(t, gateRealms)
	tr := codeFlowTokens(t, env, env.Client(), "alice@example.com", "alice-password")
	if v, ok := testkit.Claims(t, tr.IDToken)["email_verified"]; !ok || v != false {
		t.Errorf("ID token email_verified = %v (present %v), want false", v, ok)
	}
	if v, ok := env.Userinfo(t, "a", tr.AccessToken).JSON()["email_verified"]; !ok || v != false {
		t.Errorf("userinfo email_verified = %v (present %v), want false", v, ok)
	}
	if typ := testkit.Claims(t, tr.IDToken)["typ"]; typ != "ID" {
		t.Errorf("ID token typ = %v, want ID", typ)
	}
}

// TestKeycloak17IssuerWithStrictClient is defect 14: go-oidc's NewProvider
// insists that discovery's issuer equals the URL it was given, and verifies
// the ID token's iss against it.
func TestKeycloak17IssuerWithStrictClient(t *testing.T) {
	t.Parallel()
	env := testkit.New(t, gateRealms)
	c := env.Client()
	ctx := gooidc.ClientContext(context.Background(), c)
	for _, issuer := range []string{env.URL + "/realms/a", env.URL + "/auth/realms/a"} {
		provider, err := gooidc.NewProvider(ctx, issuer)
		if err != nil {
			t.Fatalf("go-oidc discovery of %s: %v", issuer, err)
		}
		pkce := testkit.NewPKCE()
		code := env.LoginCodeAt(t, env.Client(), issuer, "web", appCB, "alice@example.com", "alice-password", pkce)
		conf := oauth2.Config{ClientID: "web", Endpoint: provider.Endpoint(), RedirectURL: appCB}
		tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(pkce.Verifier))
		if err != nil {
			t.Fatalf("exchange at %s: %v", issuer, err)
		}
		raw, _ := tok.Extra("id_token").(string)
		idt, err := provider.Verifier(&gooidc.Config{ClientID: "web"}).Verify(ctx, raw)
		if err != nil {
			t.Fatalf("verify ID token of %s: %v", issuer, err)
		}
		if idt.Issuer != issuer {
			t.Errorf("ID token iss = %s, want %s", idt.Issuer, issuer)
		}
		// Either issuer's token is good throughout the realm.
		if r := env.Userinfo(t, "a", tok.AccessToken); r.Status != http.StatusOK {
			t.Errorf("userinfo (other prefix) with a token of %s = %d", issuer, r.Status)
		}
	}
}

// postLoginPage starts an authorization in a fresh browser and posts the
// login page's form with the given action ("password" or "email-link").
func postLoginPage(t *testing.T, env *testkit.Env, user, password, action string) (*http.Response, string) {
	t.Helper()
	c := env.Client()
	return postLogin(t, c, loginPageForm(t, env, c), user, password, action)
}

// loginPageForm starts an authorization of "web" in realm a with c and
// returns the login page's form.
func loginPageForm(t *testing.T, env *testkit.Env, c *http.Client) testkit.Form {
	t.Helper()
	q := url.Values{"client_id": {"web"}, "redirect_uri": {appCB}, "response_type": {"code"}, "scope": {"openid"},
		"code_challenge": {testkit.NewPKCE().Challenge}, "code_challenge_method": {"S256"}}
	resp, body := testkit.Get(t, c, env.Issuer("a")+"/protocol/openid-connect/auth?"+q.Encode())
	resp, body = testkit.Get(t, c, resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login page = %d %s", resp.StatusCode, body)
	}
	return testkit.ParseForm(t, body)
}

// postLogin posts a login page's form with c.
func postLogin(t *testing.T, c *http.Client, f testkit.Form, user, password, action string) (*http.Response, string) {
	t.Helper()
	f.Fields.Set("username", user)
	f.Fields.Set("password", password)
	f.Fields.Set("action", action)
	return testkit.PostForm(t, c, f.Action, f.Fields)
}

// TestLoginPageRateLimits is defect 10: the login page's posts are rate
// limited per account and per IP like the JSON APIs, with a 429 page.
func TestLoginPageRateLimits(t *testing.T) {
	t.Parallel()
	t.Run("per account", func(t *testing.T) {
		env := testkit.New(t, gateRealms, testkit.Options{Mutate: func(cfg *config.Config) {
			cfg.Realms[0].RateLimits.PerAccount = "2/m"
		}})
		for i := range 2 {
			if resp, _ := postLoginPage(t, env, "alice@example.com", "wrong", "password"); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("attempt %d = %d, want 401", i+1, resp.StatusCode)
			}
		}
		resp, body := postLoginPage(t, env, "ALICE@example.com", "alice-password", "password")
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "Too many") {
			t.Errorf("third attempt on the account = %d (Retry-After %q), want 429 with Retry-After and a page", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		// The budget is the account's, shared with the JSON API.
		r := testkit.PostJSON(t, env.Client(), env.Issuer("a")+"/user/login", "", `{"emailId":"alice@example.com","password":"alice-password"}`)
		if r.Status != http.StatusTooManyRequests {
			t.Errorf("/user/login after the page used the account's budget = %d, want 429", r.Status)
		}
	})
	t.Run("per IP, email me a link", func(t *testing.T) {
		env := testkit.New(t, gateRealms, testkit.Options{Mutate: func(cfg *config.Config) {
			cfg.Realms[0].RateLimits.PerIP = "2/m"
		}})
		// One login page (starting authorizations has a budget of its own).
		c := env.Client()
		form := loginPageForm(t, env, c)
		for i, user := range []string{"alice@example.com", "erin@example.com"} {
			if resp, body := postLogin(t, c, form, user, "", "email-link"); resp.StatusCode != http.StatusOK {
				t.Fatalf("link request %d = %d %s, want 200", i+1, resp.StatusCode, body)
			}
		}
		if resp, _ := postLogin(t, c, form, "dora@example.com", "", "email-link"); resp.StatusCode != http.StatusTooManyRequests {
			t.Errorf("third link request from one IP = %d, want 429", resp.StatusCode)
		}
		if n := env.Mail.CountTo("dora@example.com"); n != 0 {
			t.Errorf("%d mails sent past the limit, want 0", n)
		}
	})
	t.Run("per IP, starting authorizations", func(t *testing.T) {
		env := testkit.New(t, gateRealms, testkit.Options{Mutate: func(cfg *config.Config) {
			cfg.Realms[0].RateLimits.PerIP = "2/m"
		}})
		q := url.Values{"client_id": {"web"}, "redirect_uri": {appCB}, "response_type": {"code"}, "scope": {"openid"},
			"code_challenge": {testkit.NewPKCE().Challenge}, "code_challenge_method": {"S256"}, "state": {"s"}}
		var locs []string
		for range 3 {
			resp, _ := testkit.Get(t, env.Client(), env.Issuer("a")+"/protocol/openid-connect/auth?"+q.Encode())
			locs = append(locs, resp.Header.Get("Location"))
		}
		for i, loc := range locs[:2] {
			if !strings.Contains(loc, "/login-actions/authenticate") {
				t.Errorf("authorization %d within the budget went to %q, want the login page", i+1, loc)
			}
		}
		if u, err := url.Parse(locs[2]); err != nil || !strings.HasPrefix(locs[2], appCB) ||
			u.Query().Get("error") != "temporarily_unavailable" || u.Query().Get("state") != "s" {
			t.Errorf("third authorization from one IP went to %q, want the client with error=temporarily_unavailable", locs[2])
		}
	})
}

// TestClientAuthenticationRateLimit: a secret checked against a client's
// argon2id secretHash (and not yet known good) spends the IP's budget, so
// guessing secrets, or burning CPU with them, is bounded per IP; a secret
// that matched before costs nothing and is never refused for the limit.
func TestClientAuthenticationRateLimit(t *testing.T) {
	t.Parallel()
	hash, err := password.Hash("hashed-secret")
	if err != nil {
		t.Fatal(err)
	}
	env := testkit.New(t, gateRealms, testkit.Options{Mutate: func(cfg *config.Config) {
		cfg.Realms[0].RateLimits.PerIP = "3/m"
		cfg.Realms[0].Clients = append(cfg.Realms[0].Clients, config.Client{
			ClientID: "hashed", SecretHash: hash, GrantTypes: []string{config.GrantClientCredentials},
			ServiceAccountRoles: []string{"link-generator"}})
	}})
	cc := func(secret string) testkit.Call {
		req, _ := http.NewRequest(http.MethodPost, env.Issuer("a")+"/protocol/openid-connect/token",
			strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("hashed", secret)
		return testkit.Do(t, env.Client(), req)
	}
	if r := cc("hashed-secret"); r.Status != http.StatusOK {
		t.Fatalf("right secret = %d %s", r.Status, r.Body)
	}
	for i := range 2 {
		if r := cc("guess-" + strconv.Itoa(i)); r.Status != http.StatusUnauthorized {
			t.Fatalf("guess %d = %d, want 401", i+1, r.Status)
		}
	}
	if r := cc("guess-3"); r.Status != http.StatusTooManyRequests || r.JSON()["error"] != "invalid_client" {
		t.Errorf("guess past the IP's budget = %d %s, want 429 invalid_client", r.Status, r.Body)
	}
	for range 3 { // known good: no argon2id, no budget
		if r := cc("hashed-secret"); r.Status != http.StatusOK {
			t.Errorf("right secret after the budget ran out = %d, want 200", r.Status)
		}
	}
}

// TestUserinfoFollowsScopes: userinfo answers what the token's scopes grant
// (OIDC Core §5.4), so a token narrowed to openid gets the subject alone.
func TestUserinfoFollowsScopes(t *testing.T) {
	t.Parallel()
	env := testkit.New(t, gateRealms)
	tr := codeFlowTokens(t, env, env.Client(), "alice@example.com", "alice-password")
	if m := env.Userinfo(t, "a", tr.AccessToken).JSON(); m["email"] != "alice@example.com" || m["email_verified"] == nil {
		t.Errorf("userinfo with the email scope = %v", m)
	}
	narrow := refresh(t, env, tr.RefreshToken, "openid")
	m := env.Userinfo(t, "a", narrow.AccessToken).JSON()
	if m["sub"] == nil || m["email"] != nil || m["email_verified"] != nil || m["preferred_username"] != nil {
		t.Errorf("userinfo with scope openid = %v, want the subject alone", m)
	}
}

// TestRemovedClientsRefreshTokenIsDead: a refresh token of a client removed
// from the config is refused and inactive, like its access tokens.
func TestRemovedClientsRefreshTokenIsDead(t *testing.T) {
	t.Parallel()
	env := testkit.New(t, gateRealms)
	tr := codeFlowTokens(t, env, env.Client(), "alice@example.com", "alice-password")
	clients := env.Config.Realms[0].Clients
	for i, c := range clients {
		if c.ClientID == "web" {
			env.Config.Realms[0].Clients = append(clients[:i:i], clients[i+1:]...)
			break
		}
	}
	env.Restart()
	for name, tok := range map[string]string{"access": tr.AccessToken, "refresh": tr.RefreshToken} {
		if active := env.Introspect(t, "a", "svc", "svc-secret", tok).JSON()["active"]; active != false {
			t.Errorf("the removed client's %s token: active = %v, want false", name, active)
		}
	}
}

// TestAccountLimitSharedBySpellings: the per-account budget is the account's,
// whether the login page gets its username or its email.
func TestAccountLimitSharedBySpellings(t *testing.T) {
	t.Parallel()
	env := testkit.New(t, gateRealms, testkit.Options{Mutate: func(cfg *config.Config) {
		cfg.Realms[0].RateLimits.PerAccount = "2/m"
		cfg.Realms[0].BruteForce.Enabled = new(bool)
	}})
	u, err := env.Store.GetUserByEmail(context.Background(), "a", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Store.UpdateUser(context.Background(), "a", u.ID, func(u storage.User) (storage.User, error) {
		u.Username = "alice"
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if resp, _ := postLoginPage(t, env, "alice", "wrong", "password"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d by username = %d, want 401", i+1, resp.StatusCode)
		}
	}
	if resp, _ := postLoginPage(t, env, "alice@example.com", "wrong", "password"); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("third attempt by email = %d, want 429 (one budget per account)", resp.StatusCode)
	}
}

// TestRequestURIRefused: request_uri is not supported, and an
// authorization request carrying one is refused with
// request_uri_not_supported (OIDC Core §6.3) rather than served without
// the parameters it points to.
func TestRequestURIRefused(t *testing.T) {
	t.Parallel()
	env := testkit.New(t, gateRealms)
	q := url.Values{"client_id": {"web"}, "redirect_uri": {appCB}, "response_type": {"code"}, "scope": {"openid"},
		"code_challenge": {testkit.NewPKCE().Challenge}, "code_challenge_method": {"S256"}, "state": {"s"},
		"request_uri": {"https://app.example.com/request.jwt"}}
	resp, _ := testkit.Get(t, env.Client(), env.Issuer("a")+"/protocol/openid-connect/auth?"+q.Encode())
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(u.String(), appCB) || u.Query().Get("error") != "request_uri_not_supported" || u.Query().Get("state") != "s" {
		t.Errorf("authorization with request_uri = %d %q, want the client with error=request_uri_not_supported", resp.StatusCode, resp.Header.Get("Location"))
	}
}
