package oidc_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/internal/testkit"
)

// passwordConfig has a confidential and a public client with the direct
// access grant, one without it, a realm with a small failure factor and one
// with a per-account rate limit.
const passwordConfig = `
server: {publicURL: "https://localhost"}
realms:
  - name: acme
    rateLimits: {perIP: "off", perAccount: "off"}
    bruteForce: {failureFactor: 3, waitIncrement: 1m, maxWait: 5m}
    clients:
      - clientId: cli
        secret: cli-secret
        grantTypes: [password, refresh_token]
      - clientId: tv
        public: true
        grantTypes: [password]
      - clientId: web
        secret: web-secret
        redirectUris: ["https://rp.example.com/cb"]
        grantTypes: [authorization_code, refresh_token]
    users:
      - email: alice@example.com
        username: alice
        password: alice-password-1
        emailVerified: true
      - email: dora@example.com
        password: dora-password-1
        enabled: false
  - name: limited
    rateLimits: {perIP: "off", perAccount: "2/m"}
    clients:
      - clientId: cli
        secret: cli-secret
        grantTypes: [password]
    users:
      - email: erin@example.com
        password: erin-password-1
`

// passwordClient is x/oauth2's client of the direct access grant.
func passwordClient(env *testkit.Env, realmName, id, secret string) *oauth2.Config {
	return &oauth2.Config{ClientID: id, ClientSecret: secret, Scopes: []string{"openid", "email"},
		// AuthStyleInHeader: auto-detection would retry a refused
		// request, counting each wrong guess twice.
		Endpoint: oauth2.Endpoint{TokenURL: env.Issuer(realmName) + pToken, AuthStyle: oauth2.AuthStyleInHeader}}
}

// retrieveError returns the OAuth error of a failed x/oauth2 exchange.
func retrieveError(t *testing.T, err error) *oauth2.RetrieveError {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("error %v is not an OAuth error response", err)
	}
	return re
}

// TestPasswordGrant drives the direct access grant with x/oauth2's
// PasswordCredentialsToken: tokens for a client with the grant (confidential
// or public), their session ended by Keycloak's logout by refresh token;
// unauthorized_client for a client without it; one answer for wrong
// passwords, unknown and disabled users; the lockout and the rate limits
// of the login page.
func TestPasswordGrant(t *testing.T) {
	t.Parallel()
	env := testkit.New(t, passwordConfig, testkit.Options{NoMail: true})
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, tlsClient(env))

	tok, err := passwordClient(env, "acme", "cli", "cli-secret").PasswordCredentialsToken(ctx, "alice", "alice-password-1")
	if err != nil {
		t.Fatalf("PasswordCredentialsToken: %v", err)
	}
	idToken, _ := tok.Extra("id_token").(string)
	if tok.AccessToken == "" || tok.RefreshToken == "" || idToken == "" || tok.Extra("session_state") == "" {
		t.Fatalf("token = %+v (id_token %q), want access, refresh and ID tokens with session_state", tok, idToken)
	}
	claims := env.VerifyJWT(t, "acme", tok.AccessToken)
	if claims["azp"] != "cli" || claims["sid"] != tok.Extra("session_state") || claims["scope"] != "openid email" {
		t.Errorf("access token claims = %v", claims)
	}
	if ui := env.Userinfo(t, "acme", tok.AccessToken); ui.Status != http.StatusOK || ui.JSON()["email"] != "alice@example.com" {
		t.Errorf("userinfo = %d %s", ui.Status, ui.Body)
	}
	refreshed, err := passwordClient(env, "acme", "cli", "cli-secret").TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil || refreshed.AccessToken == "" {
		t.Fatalf("refresh of a direct grant: %v", err)
	}
	// Keycloak's logout by refresh token ends the grant's session.
	p := postForm(t, tlsClient(env), env.Issuer("acme")+pLogout, url.Values{"refresh_token": {refreshed.RefreshToken}}, "cli", "cli-secret")
	if p.Status != http.StatusNoContent {
		t.Fatalf("logout by refresh token = %d %s", p.Status, p.Body)
	}
	if ui := env.Userinfo(t, "acme", tok.AccessToken); ui.Status != http.StatusUnauthorized {
		t.Errorf("userinfo after the session ended = %d, want 401", ui.Status)
	}

	t.Run("public client", func(t *testing.T) {
		tok, err := passwordClient(env, "acme", "tv", "").PasswordCredentialsToken(ctx, "alice@example.com", "alice-password-1")
		if err != nil || tok.AccessToken == "" || tok.RefreshToken != "" {
			t.Fatalf("public client: %v %+v, want an access token and no refresh token (no refresh_token grant)", err, tok)
		}
	})

	for _, tc := range []struct {
		name, client, secret, user, password string
		status                               int
		code                                 string
	}{
		{"client without the grant", "web", "web-secret", "alice", "alice-password-1", http.StatusBadRequest, "unauthorized_client"},
		{"wrong client secret", "cli", "nope", "alice", "alice-password-1", http.StatusUnauthorized, "invalid_client"},
		{"unknown client", "ghost", "x", "alice", "alice-password-1", http.StatusUnauthorized, "invalid_client"},
		{"unknown user", "cli", "cli-secret", "mallory", "alice-password-1", http.StatusUnauthorized, "invalid_grant"},
		{"disabled user", "cli", "cli-secret", "dora@example.com", "dora-password-1", http.StatusUnauthorized, "invalid_grant"},
		{"empty password", "cli", "cli-secret", "alice", "", http.StatusBadRequest, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := passwordClient(env, "acme", tc.client, tc.secret).PasswordCredentialsToken(ctx, tc.user, tc.password)
			re := retrieveError(t, err)
			if re.Response.StatusCode != tc.status || re.ErrorCode != tc.code {
				t.Errorf("= %d %q (%s), want %d %q", re.Response.StatusCode, re.ErrorCode, re.ErrorDescription, tc.status, tc.code)
			}
		})
	}

	t.Run("lockout", func(t *testing.T) {
		cfg := passwordClient(env, "acme", "cli", "cli-secret")
		for i := range 3 {
			_, err := cfg.PasswordCredentialsToken(ctx, "alice", "wrong-guess")
			if re := retrieveError(t, err); re.ErrorCode != "invalid_grant" {
				t.Fatalf("wrong guess %d = %q, want invalid_grant", i+1, re.ErrorCode)
			}
		}
		_, err := cfg.PasswordCredentialsToken(ctx, "alice", "alice-password-1")
		re := retrieveError(t, err)
		if re.Response.StatusCode != http.StatusTooManyRequests || re.Response.Header.Get("Retry-After") == "" {
			t.Errorf("right password while locked = %d %q, want 429 with Retry-After", re.Response.StatusCode, re.ErrorCode)
		}
	})

	t.Run("per-account rate limit", func(t *testing.T) {
		cfg := passwordClient(env, "limited", "cli", "cli-secret")
		for i := range 2 {
			if _, err := cfg.PasswordCredentialsToken(ctx, "erin@example.com", "erin-password-1"); err != nil {
				t.Fatalf("login %d within the limit: %v", i+1, err)
			}
		}
		_, err := cfg.PasswordCredentialsToken(ctx, "ERIN@example.com", "erin-password-1")
		if re := retrieveError(t, err); re.Response.StatusCode != http.StatusTooManyRequests {
			t.Errorf("third login in a minute = %d, want 429", re.Response.StatusCode)
		}
	})
}
