package oidc_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testkit"
)

// refreshGrant refreshes a token of the public client "web".
func refreshGrant(t testing.TB, env *testkit.Env, refresh string) (int, tokenResponse) {
	t.Helper()
	return token(t, env, env.Client(), "acme", url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {"web"}}, "", "")
}

// TestRefreshTokensAreJWTs checks the shape Keycloak's JavaScript adapter
// reads: refresh and offline tokens are HS512 JWTs (never signed with the
// realm's published keys) whose typ says which they are, with exp, sid and
// the grant's scope; refresh_expires_in is 0 for offline tokens.
func TestRefreshTokensAreJWTs(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	online := loginTokens(t, env, env.Client())
	code, verifier := codeFlow(t, env, env.Client(), url.Values{"scope": {"openid offline_access"}})
	_, offline := exchange(t, env, env.Client(), code, verifier)

	for _, tc := range []struct {
		name, token, typ string
		withSID          bool
	}{
		{"refresh", online.RefreshToken, "Refresh", true},
		{"offline", offline.RefreshToken, "Offline", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if alg := testkit.Header(t, tc.token)["alg"]; alg != "HS512" {
				t.Errorf("alg = %v, want HS512", alg)
			}
			if _, err := testkit.VerifyJWS(env.JWKS(t, "acme"), tc.token); err == nil {
				t.Error("the refresh token verifies with the realm's JWKS; it must not be usable as a bearer token")
			}
			c := testkit.Claims(t, tc.token)
			if c["typ"] != tc.typ || c["azp"] != "web" || c["iss"] != env.Issuer("acme") || c["jti"] == "" {
				t.Errorf("claims = %v, want typ %s, azp web, iss, jti", c, tc.typ)
			}
			exp, _ := c["exp"].(float64)
			if exp < float64(env.Clock.Now().Add(time.Minute).Unix()) {
				t.Errorf("exp = %v, want in the future", c["exp"])
			}
			if sid, _ := c["sid"].(string); (sid != "") != tc.withSID {
				t.Errorf("sid = %q, want present: %v", sid, tc.withSID)
			}
			if p := env.Userinfo(t, "acme", tc.token); p.Status != http.StatusUnauthorized {
				t.Errorf("userinfo with a %s token = %d, want 401", tc.name, p.Status)
			}
		})
	}

	p := postForm(t, env.Client(), endpoint(env, "acme", pToken), url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {offline.RefreshToken}, "client_id": {"web"}}, "", "")
	body := p.JSON(t)
	if p.Status != http.StatusOK || body["refresh_expires_in"] != float64(0) {
		t.Errorf("offline refresh = %d %v, want 200 with refresh_expires_in 0", p.Status, body)
	}
	if rt, _ := body["refresh_token"].(string); rt == "" || testkit.Claims(t, rt)["typ"] != "Offline" {
		t.Errorf("a rotated offline token must stay offline: %v", body["refresh_token"])
	}
}

// TestOfflineTokens checks offline_access: the offline token outlives the
// browser session's logout while the session's refresh token dies with it;
// it is refused once the user is disabled, once revoked, and once
// offlineSessionIdle passes unused (each use starts the idle time again).
func TestOfflineTokens(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	browser := env.Client()
	code, verifier := codeFlow(t, env, browser, url.Values{"scope": {"openid offline_access"}})
	status, offline := exchange(t, env, browser, code, verifier)
	if status != http.StatusOK || offline.RefreshToken == "" {
		t.Fatalf("offline code exchange = %d %+v", status, offline)
	}
	online := ssoTokens(t, env, browser)

	// Logout of the browser session (its own ID token as the hint ends it at once).
	p := get(t, browser, endpoint(env, "acme", pLogout)+"?"+url.Values{"id_token_hint": {online.IDToken}}.Encode())
	if p.Status >= 400 {
		t.Fatalf("logout = %d %s", p.Status, p.Body)
	}
	if status, tr := refreshGrant(t, env, online.RefreshToken); status != http.StatusBadRequest || tr.Error != "invalid_grant" {
		t.Errorf("the session's refresh token after logout = %d %+v, want invalid_grant", status, tr)
	}
	status, next := refreshGrant(t, env, offline.RefreshToken)
	if status != http.StatusOK || next.AccessToken == "" {
		t.Fatalf("offline token after logout = %d %+v, want tokens", status, next)
	}
	if c := testkit.Claims(t, next.AccessToken); c["sid"] != nil {
		t.Errorf("an access token of an offline grant carries sid %v, which logout already ended", c["sid"])
	}
	if ui := env.Userinfo(t, "acme", next.AccessToken); ui.Status != http.StatusOK {
		t.Errorf("userinfo with the offline grant's access token = %d, want 200", ui.Status)
	}

	t.Run("idle", func(t *testing.T) {
		env.Clock.Advance(29 * 24 * time.Hour) // within offlineSessionIdle (30 days): used, so it starts again
		status, again := refreshGrant(t, env, next.RefreshToken)
		if status != http.StatusOK {
			t.Fatalf("offline token used after 29 days = %d, want 200", status)
		}
		next = again
		env.Clock.Advance(29 * 24 * time.Hour)
		if status, _ := refreshGrant(t, env, next.RefreshToken); status != http.StatusOK {
			t.Fatalf("offline token used 29 days after its last use = %d, want 200", status)
		}
	})

	t.Run("idle passed", func(t *testing.T) {
		code, verifier := codeFlow(t, env, env.Client(), url.Values{"scope": {"openid offline_access"}})
		_, unused := exchange(t, env, env.Client(), code, verifier)
		env.Clock.Advance(31 * 24 * time.Hour)
		if status, tr := refreshGrant(t, env, unused.RefreshToken); status != http.StatusBadRequest || tr.Error != "invalid_grant" {
			t.Errorf("offline token unused for 31 days = %d %+v, want invalid_grant", status, tr)
		}
	})

	t.Run("revoked", func(t *testing.T) {
		code, verifier := codeFlow(t, env, env.Client(), url.Values{"scope": {"openid offline_access"}})
		_, tr := exchange(t, env, env.Client(), code, verifier)
		p := postForm(t, env.Client(), endpoint(env, "acme", pRevoke), url.Values{"token": {tr.RefreshToken}, "client_id": {"web"}}, "", "")
		if p.Status != http.StatusOK {
			t.Fatalf("revoke = %d %s", p.Status, p.Body)
		}
		if status, _ := refreshGrant(t, env, tr.RefreshToken); status != http.StatusBadRequest {
			t.Errorf("revoked offline token = %d, want 400", status)
		}
		if ui := env.Userinfo(t, "acme", tr.AccessToken); ui.Status != http.StatusUnauthorized {
			t.Errorf("access token of a revoked offline grant at userinfo = %d, want 401", ui.Status)
		}
	})

	t.Run("user disabled", func(t *testing.T) {
		code, verifier := codeFlow(t, env, env.Client(), url.Values{"scope": {"openid offline_access"}})
		_, tr := exchange(t, env, env.Client(), code, verifier)
		env.SetUserEnabled(t, "acme", "alice@example.com", false)
		defer env.SetUserEnabled(t, "acme", "alice@example.com", true)
		if status, got := refreshGrant(t, env, tr.RefreshToken); status != http.StatusBadRequest || got.Error != "invalid_grant" {
			t.Errorf("offline token of a disabled user = %d %+v, want invalid_grant", status, got)
		}
	})
}

// ssoTokens gets tokens of the public client "web" from the browser's live
// SSO session (no login page) in that same session.
func ssoTokens(t testing.TB, env *testkit.Env, browser *http.Client) tokenResponse {
	t.Helper()
	q, verifier := webAuthQueryVerifier("sso")
	p := get(t, browser, authURL(env, "acme", q))
	loc := p.Location(t)
	if loc == nil {
		t.Fatalf("authorize with a session = %d, want a redirect", p.Status)
	}
	ar := parseAuthResponse(t, get(t, browser, loc.String()))
	status, tr := exchange(t, env, browser, ar.Params.Get("code"), verifier)
	if status != http.StatusOK {
		t.Fatalf("exchange = %d %+v", status, tr)
	}
	return tr
}

// TestTokenAnswersAreNotCached checks RFC 6749 §5.1: every token endpoint
// answer carries Cache-Control: no-store, whichever grant (the library's or
// Latchkey's own) and whether it succeeded.
func TestTokenAnswersAreNotCached(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	tr := loginTokens(t, env, env.Client())
	for _, tc := range []struct {
		name       string
		form       url.Values
		user, pass string
	}{
		{"client_credentials", url.Values{"grant_type": {"client_credentials"}}, "conf", confSecret},
		{"refresh_token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}, "client_id": {"web"}}, "", ""},
		{"password (not allowed)", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"x"}}, "conf", confSecret},
		{"invalid grant", url.Values{"grant_type": {"authorization_code"}, "code": {"nope"}, "client_id": {"web"}, "redirect_uri": {webRedirect}}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := postForm(t, env.Client(), endpoint(env, "acme", pToken), tc.form, tc.user, tc.pass)
			if got := p.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("%d answer: Cache-Control = %q, want no-store", p.Status, got)
			}
		})
	}
}
