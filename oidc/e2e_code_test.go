package oidc_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/internal/testkit"
)

// TestCodeFlowGoOIDC runs the authorization code flow with PKCE through the
// login form, driven by go-oidc and x/oauth2 as a relying party would, then
// checks the ID token, userinfo and refresh-token rotation with replay
// detection.
func TestCodeFlowGoOIDC(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	ctx := oidcCtx(env)
	browser := env.Client()
	provider, err := gooidc.NewProvider(ctx, env.Issuer("acme"))
	if err != nil {
		t.Fatalf("NewProvider: %v", err)
	}
	endpointCfg := provider.Endpoint()
	endpointCfg.AuthStyle = oauth2.AuthStyleInParams
	cfg := oauth2.Config{ClientID: "web", Endpoint: endpointCfg, RedirectURL: webRedirect,
		Scopes: []string{gooidc.ScopeOpenID, "profile", "email"}}
	verifier, state, nonce := oauth2.GenerateVerifier(), randomString(), randomString()

	ar := parseAuthResponse(t, browserLogin(t, browser,
		cfg.AuthCodeURL(state, gooidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), "alice@example.com", alicePassword))
	if ar.Target != webRedirect || ar.Mode != "query" {
		t.Fatalf("authorization response went to %s by %s, want %s by query", ar.Target, ar.Mode, webRedirect)
	}
	if got := ar.Params.Get("state"); got != state {
		t.Errorf("state = %q, want %q", got, state)
	}
	if got, want := ar.Params.Get("iss"), env.Issuer("acme"); got != want {
		t.Errorf("iss parameter = %q, want %q", got, want)
	}
	tok, err := cfg.Exchange(ctx, ar.Params.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		t.Fatalf("token response has no id_token")
	}
	idt, err := provider.Verifier(&gooidc.Config{ClientID: "web"}).Verify(ctx, rawID)
	if err != nil {
		t.Fatalf("verify ID token: %v", err)
	}
	if idt.Nonce != nonce {
		t.Errorf("ID token nonce = %q, want %q", idt.Nonce, nonce)
	}
	if idt.IssuedAt.IsZero() || !idt.Expiry.After(idt.IssuedAt) {
		t.Errorf("ID token iat=%v exp=%v, want iat set and exp after it", idt.IssuedAt, idt.Expiry)
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			t.Errorf("at_hash does not match the access token: %v", err)
		}
	}
	var claims struct {
		Azp, Sid, Email, PreferredUsername string
		Aud                                any
	}
	claimsMap := map[string]any{}
	if err := idt.Claims(&claimsMap); err != nil {
		t.Fatalf("ID token claims: %v", err)
	}
	claims.Azp, _ = claimsMap["azp"].(string)
	claims.Sid, _ = claimsMap["sid"].(string)
	claims.Email, _ = claimsMap["email"].(string)
	claims.PreferredUsername, _ = claimsMap["preferred_username"].(string)
	if claims.Azp != "web" || claims.Sid == "" || !slices.Contains(idt.Audience, "web") {
		t.Errorf("ID token azp=%q sid=%q aud=%q, want azp web, a sid and aud containing web", claims.Azp, claims.Sid, idt.Audience)
	}
	if claims.Email != "alice@example.com" || claims.PreferredUsername != "alice" {
		t.Errorf("ID token email=%q preferred_username=%q, want alice@example.com and alice", claims.Email, claims.PreferredUsername)
	}
	access := testkit.Claims(t, tok.AccessToken)
	if access["sub"] != idt.Subject || access["azp"] != "web" || access["sid"] != claims.Sid {
		t.Errorf("access token sub=%v azp=%v sid=%v, want %s web %s", access["sub"], access["azp"], access["sid"], idt.Subject, claims.Sid)
	}

	info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("UserInfo: %v", err)
	}
	if info.Subject != idt.Subject || info.Email != "alice@example.com" {
		t.Errorf("userinfo sub=%q email=%q, want %q and alice@example.com", info.Subject, info.Email, idt.Subject)
	}

	t.Run("refresh rotation and replay", func(t *testing.T) {
		c := env.Client()
		old := tok.RefreshToken
		if old == "" {
			t.Fatalf("no refresh token issued to a client with the refresh_token grant")
		}
		status, fresh := token(t, env, c, "acme", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {old}, "client_id": {"web"}}, "", "")
		if status != http.StatusOK || fresh.AccessToken == "" || fresh.RefreshToken == "" {
			t.Fatalf("refresh = %d %+v, want 200 with new tokens", status, fresh)
		}
		if fresh.RefreshToken == old {
			t.Errorf("refresh token was not rotated")
		}
		if fresh.IDToken != "" {
			if _, err := provider.Verifier(&gooidc.Config{ClientID: "web"}).Verify(ctx, fresh.IDToken); err != nil {
				t.Errorf("refreshed ID token does not verify: %v", err)
			}
		}
		if p := env.Userinfo(t, "acme", fresh.AccessToken); p.Status != http.StatusOK {
			t.Errorf("userinfo with refreshed access token = %d %s, want 200", p.Status, p.Body)
		}
		status, replay := token(t, env, c, "acme", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {old}, "client_id": {"web"}}, "", "")
		if status != http.StatusBadRequest || replay.Error != "invalid_grant" {
			t.Errorf("replayed refresh token = %d %q, want 400 invalid_grant", status, replay.Error)
		}
		status, after := token(t, env, c, "acme", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {fresh.RefreshToken}, "client_id": {"web"}}, "", "")
		if status != http.StatusBadRequest || after.Error != "invalid_grant" {
			t.Errorf("newest refresh token after a replay = %d %q, want 400 invalid_grant (session revoked)", status, after.Error)
		}
		if p := env.Userinfo(t, "acme", fresh.AccessToken); p.Status != http.StatusUnauthorized {
			t.Errorf("userinfo with an access token of the revoked session = %d, want 401", p.Status)
		}
	})
}

// TestCodeExchangeErrors covers the OpenID conformance checks of the token
// endpoint: codes are single use and PKCE cannot be skipped or guessed.
func TestCodeExchangeErrors(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	c := env.Client()

	t.Run("code reuse", func(t *testing.T) {
		code, verifier := codeFlow(t, env, env.Client(), nil)
		if status, tr := exchange(t, env, c, code, verifier); status != http.StatusOK {
			t.Fatalf("first exchange = %d %+v, want 200", status, tr)
		}
		if status, tr := exchange(t, env, c, code, verifier); status != http.StatusBadRequest || tr.Error != "invalid_grant" {
			t.Errorf("second exchange = %d %q, want 400 invalid_grant", status, tr.Error)
		}
	})
	t.Run("wrong verifier", func(t *testing.T) {
		code, _ := codeFlow(t, env, env.Client(), nil)
		if status, tr := exchange(t, env, c, code, oauth2.GenerateVerifier()); status != http.StatusBadRequest || tr.Error != "invalid_grant" {
			t.Errorf("exchange with a wrong verifier = %d %q, want 400 invalid_grant", status, tr.Error)
		}
	})
	t.Run("missing verifier, public client", func(t *testing.T) {
		code, _ := codeFlow(t, env, env.Client(), nil)
		if status, tr := exchange(t, env, c, code, ""); status != http.StatusBadRequest || tr.Error != "invalid_grant" {
			t.Errorf("exchange without verifier = %d %q, want 400 invalid_grant", status, tr.Error)
		}
	})
	t.Run("wrong redirect_uri", func(t *testing.T) {
		code, verifier := codeFlow(t, env, env.Client(), nil)
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webRedirect + "x"},
			"client_id": {"web"}, "code_verifier": {verifier}}
		if status, tr := token(t, env, c, "acme", form, "", ""); status != http.StatusBadRequest || tr.Error != "invalid_grant" {
			t.Errorf("exchange with another redirect_uri = %d %q, want 400 invalid_grant", status, tr.Error)
		}
	})

	confCode := func(t *testing.T, challenge string) string {
		q := url.Values{"client_id": {"conf"}, "redirect_uri": {confRedirect}, "response_type": {"code"},
			"scope": {"openid"}, "state": {"s1"}}
		if challenge != "" {
			q.Set("code_challenge", challenge)
			q.Set("code_challenge_method", "S256")
		}
		ar := parseAuthResponse(t, browserLogin(t, env.Client(), authURL(env, "acme", q), "bob@example.com", "bob-password-1"))
		if ar.Params.Get("code") == "" || ar.Target != confRedirect {
			t.Fatalf("confidential client's authorization response %+v, want a code at %s", ar, confRedirect)
		}
		return ar.Params.Get("code")
	}
	confExchange := func(code, verifier string) (int, tokenResponse) {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {confRedirect}}
		if verifier != "" {
			form.Set("code_verifier", verifier)
		}
		return token(t, env, c, "acme", form, "conf", confSecret)
	}
	t.Run("missing verifier, confidential client that sent a challenge", func(t *testing.T) {
		_, challenge := pkcePair()
		if status, tr := confExchange(confCode(t, challenge), ""); status != http.StatusBadRequest || tr.Error != "invalid_grant" {
			t.Errorf("exchange without verifier = %d %q, want 400 invalid_grant", status, tr.Error)
		}
	})
	t.Run("confidential client with PKCE", func(t *testing.T) {
		verifier, challenge := pkcePair()
		if status, tr := confExchange(confCode(t, challenge), verifier); status != http.StatusOK || tr.IDToken == "" {
			t.Errorf("exchange = %d %+v, want 200 with an ID token", status, tr)
		}
	})
	t.Run("confidential client without PKCE", func(t *testing.T) {
		if status, tr := confExchange(confCode(t, ""), ""); status != http.StatusOK || tr.AccessToken == "" {
			t.Errorf("exchange = %d %+v, want 200", status, tr)
		}
	})
	t.Run("confidential client, wrong secret", func(t *testing.T) {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {confCode(t, "")}, "redirect_uri": {confRedirect}}
		if status, tr := token(t, env, c, "acme", form, "conf", "wrong"); status != http.StatusUnauthorized || tr.Error != "invalid_client" {
			t.Errorf("exchange with a wrong secret = %d %q, want 401 invalid_client", status, tr.Error)
		}
	})
	t.Run("session ended before the exchange", func(t *testing.T) {
		b := env.Client()
		code, verifier := codeFlow(t, env, b, nil)
		confirmLogout(t, env, b)
		if status, tr := exchange(t, env, c, code, verifier); status != http.StatusBadRequest || tr.Error != "invalid_grant" {
			t.Errorf("exchange after logout = %d %q, want 400 invalid_grant", status, tr.Error)
		}
	})
	t.Run("code of another client", func(t *testing.T) {
		code := confCode(t, "")
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {confRedirect}, "client_id": {"web"}}
		if status, tr := token(t, env, c, "acme", form, "", ""); status != http.StatusBadRequest || tr.Error != "invalid_grant" {
			t.Errorf("exchange of conf's code by web = %d %q, want 400 invalid_grant", status, tr.Error)
		}
	})
}

// TestCodeExpiry checks that a code must be redeemed within a minute.
func TestCodeExpiry(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	code, verifier := codeFlow(t, env, env.Client(), nil)
	env.Clock.Advance(61 * time.Second)
	if status, tr := exchange(t, env, env.Client(), code, verifier); status != http.StatusBadRequest || tr.Error != "invalid_grant" {
		t.Errorf("exchange of an expired code = %d %q, want 400 invalid_grant", status, tr.Error)
	}
}

// TestAuthorizationRequestErrors checks that bad requests with a registered
// redirect URI get the error at the client (with state), and that
// unregistered redirect URIs are never redirected to.
func TestAuthorizationRequestErrors(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	_, challenge := pkcePair()
	base := func() url.Values {
		return url.Values{"client_id": {"web"}, "redirect_uri": {webRedirect}, "response_type": {"code"},
			"scope": {"openid"}, "state": {"xyz"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	}
	redirected := []struct {
		name      string
		edit      func(url.Values)
		wantError string
		wantMode  string
	}{
		{"plain PKCE refused", func(q url.Values) { q.Set("code_challenge_method", "plain") }, "invalid_request", "query"},
		{"public client without PKCE", func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, "invalid_request", "query"},
		{"challenge without method", func(q url.Values) { q.Del("code_challenge_method") }, "invalid_request", "query"},
		{"response_mode=query with a token response type", func(q url.Values) {
			q.Set("response_type", "code token")
			q.Set("response_mode", "query")
			q.Set("nonce", "n")
		}, "invalid_request", "fragment"},
		{"unknown response_mode", func(q url.Values) { q.Set("response_mode", "jwt") }, "invalid_request", "query"},
		{"unsupported response type for the client", func(q url.Values) {
			q.Set("client_id", "wild")
			q.Set("redirect_uri", wildPrefix+"x")
			q.Set("response_type", "token")
		}, "unauthorized_client", "fragment"},
		{"id_token without nonce", func(q url.Values) { q.Set("response_type", "id_token") }, "invalid_request", "fragment"},
		{"prompt=none without a session", func(q url.Values) { q.Set("prompt", "none") }, "login_required", "query"},
		{"prompt=none without a session, form_post", func(q url.Values) {
			q.Set("prompt", "none")
			q.Set("response_mode", "form_post")
		}, "login_required", "form_post"},
		{"plain PKCE refused, form_post", func(q url.Values) {
			q.Set("code_challenge_method", "plain")
			q.Set("response_mode", "form_post")
		}, "invalid_request", "form_post"},
		{"prompt=none without a session, hybrid form_post", func(q url.Values) {
			q.Set("prompt", "none")
			q.Set("response_mode", "form_post")
			q.Set("response_type", "code id_token")
			q.Set("nonce", "n")
		}, "login_required", "form_post"},
	}
	for _, tt := range redirected {
		t.Run(tt.name, func(t *testing.T) {
			q := base()
			tt.edit(q)
			p := get(t, env.Client(), authURL(env, "acme", q))
			ar := parseAuthResponse(t, p)
			if ar.Mode == "form_post" {
				checkFormPostPage(t, p)
			}
			if ar.Target != q.Get("redirect_uri") || ar.Mode != tt.wantMode {
				t.Errorf("error went to %s by %s, want %s by %s", ar.Target, ar.Mode, q.Get("redirect_uri"), tt.wantMode)
			}
			if got := ar.Params.Get("error"); got != tt.wantError {
				t.Errorf("error = %q (%s), want %q", got, ar.Params.Get("error_description"), tt.wantError)
			}
			if got := ar.Params.Get("state"); got != "xyz" {
				t.Errorf("state = %q, want xyz", got)
			}
			if ar.Params.Get("code") != "" || ar.Params.Get("access_token") != "" {
				t.Errorf("error response carries a code or token: %v", ar.Params)
			}
		})
	}

	notRedirected := []struct {
		name string
		edit func(url.Values)
	}{
		{"unregistered host", func(q url.Values) { q.Set("redirect_uri", "https://evil.example.com/cb") }},
		{"registered URI plus a path", func(q url.Values) { q.Set("redirect_uri", webRedirect+"/more") }},
		{"registered URI plus a query", func(q url.Values) { q.Set("redirect_uri", webRedirect+"?next=https://evil.example.com") }},
		{"different case", func(q url.Values) { q.Set("redirect_uri", strings.ToUpper(webRedirect)) }},
		{"missing redirect_uri", func(q url.Values) { q.Del("redirect_uri") }},
		{"unknown client", func(q url.Values) { q.Set("client_id", "nope") }},
		{"unregistered URI with a bad PKCE method", func(q url.Values) {
			q.Set("redirect_uri", "https://evil.example.com/cb")
			q.Set("code_challenge_method", "plain")
		}},
		{"wildcard: prefix without the slash", func(q url.Values) { q.Set("client_id", "wild"); q.Set("redirect_uri", "https://app.example.com/cbx") }},
		{"wildcard: other path", func(q url.Values) { q.Set("client_id", "wild"); q.Set("redirect_uri", "https://app.example.com/other") }},
		{"wildcard: dot segments", func(q url.Values) { q.Set("client_id", "wild"); q.Set("redirect_uri", wildPrefix+"../../evil") }},
		{"wildcard: other host", func(q url.Values) {
			q.Set("client_id", "wild")
			q.Set("redirect_uri", "https://app.example.com.evil.com/cb/x")
		}},
		{"wildcard: userinfo trick", func(q url.Values) {
			q.Set("client_id", "wild")
			q.Set("redirect_uri", "https://app.example.com@evil.com/cb/x")
		}},
	}
	for _, tt := range notRedirected {
		t.Run(tt.name, func(t *testing.T) {
			q := base()
			tt.edit(q)
			p := get(t, env.Client(), authURL(env, "acme", q))
			if p.Status != http.StatusBadRequest {
				t.Errorf("GET authorization = %d, want 400", p.Status)
			}
			if loc := p.Header.Get("Location"); loc != "" {
				t.Errorf("unregistered redirect_uri got a Location %q, want none", loc)
			}
		})
	}
}

// TestWildcardRedirect logs in through a client whose redirect URI is a
// Keycloak-style prefix and exchanges the code with the same URI.
func TestWildcardRedirect(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	c := env.Client()
	verifier, challenge := pkcePair()
	redirect := wildPrefix + "deep/page?tab=1"
	q := url.Values{"client_id": {"wild"}, "redirect_uri": {redirect}, "response_type": {"code"}, "scope": {"openid"},
		"state": {"w1"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	p := browserLogin(t, c, authURL(env, "acme", q), "alice@example.com", alicePassword)
	ar := parseAuthResponse(t, p)
	if got, want := ar.Target, wildPrefix+"deep/page"; got != want || ar.Params.Get("tab") != "1" {
		t.Fatalf("response went to %s (params %v), want %s keeping tab=1", got, ar.Params, want)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {ar.Params.Get("code")}, "redirect_uri": {redirect},
		"client_id": {"wild"}, "code_verifier": {verifier}}
	if status, tr := token(t, env, c, "acme", form, "", ""); status != http.StatusOK || tr.AccessToken == "" {
		t.Errorf("exchange = %d %+v, want 200", status, tr)
	}
}

// TestAliasPrefixAndPOST runs a code flow entirely under the Keycloak 17+
// alias prefix, with the authorization request sent as a form POST: the
// tokens carry that prefix's issuer and work under both prefixes.
func TestAliasPrefixAndPOST(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	c := env.Client()
	verifier, challenge := pkcePair()
	alias := env.URL + "/realms/acme"
	form := url.Values{"client_id": {"web"}, "redirect_uri": {webRedirect}, "response_type": {"code"}, "scope": {"openid"},
		"state": {"alias"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	p := postForm(t, c, alias+pAuth, form, "", "")
	loc := p.Location(t)
	if p.Status != http.StatusFound || loc == nil || !strings.Contains(loc.Path, "/login-actions/authenticate") {
		t.Fatalf("POST authorization = %d Location %v, want 302 to the login page", p.Status, loc)
	}
	lp := get(t, c, loc.String())
	ar := parseAuthResponse(t, finishLogin(t, c, submitLogin(t, c, lp, "alice@example.com", alicePassword)))
	if ar.Params.Get("code") == "" || ar.Params.Get("state") != "alias" {
		t.Fatalf("authorization response %v, want a code and state", ar.Params)
	}
	tokenForm := url.Values{"grant_type": {"authorization_code"}, "code": {ar.Params.Get("code")}, "redirect_uri": {webRedirect},
		"client_id": {"web"}, "code_verifier": {verifier}}
	tp := postForm(t, c, alias+pToken, tokenForm, "", "")
	if tp.Status != http.StatusOK {
		t.Fatalf("alias token endpoint = %d %s, want 200", tp.Status, tp.Body)
	}
	tr := tp.JSON(t)
	access, _ := tr["access_token"].(string)
	if got := testkit.Claims(t, access)["iss"]; got != alias {
		t.Errorf("access token iss = %v, want the alias prefix's issuer %s", got, alias)
	}
	// Both issuers name one realm: the token works under either prefix.
	for _, base := range []string{alias, env.Issuer("acme")} {
		req, _ := http.NewRequest(http.MethodGet, base+pUserinfo, nil)
		req.Header.Set("Authorization", "Bearer "+access)
		if p := do(t, c, req); p.Status != http.StatusOK {
			t.Errorf("userinfo under %s = %d %s, want 200", base, p.Status, p.Body)
		}
	}
}
