package oidc_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/latchkey/latchkey/internal/testkit"
)

// TestClientCredentialsRealmIsolation checks that a service-account token
// verifies against its realm's JWKS and is useless in every other realm, and
// that a client of one realm cannot authenticate at another's token endpoint.
func TestClientCredentialsRealmIsolation(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	c := env.Client()
	tok := env.ServiceToken(t, "acme", "conf", confSecret)

	claims, err := testkit.VerifyJWS(env.JWKS(t, "acme"), tok)
	if err != nil {
		t.Fatalf("acme token does not verify against acme's JWKS: %v", err)
	}
	roles := stringList(claims["realm_access"].(map[string]any)["roles"])
	if claims["iss"] != env.Issuer("acme") || claims["sub"] != "service-account-conf" || claims["azp"] != "conf" ||
		!slices.Contains(roles, "magic-link-sender") || !slices.Contains(roles, "link-generator") {
		t.Errorf("claims iss=%v sub=%v azp=%v roles=%v, want acme's issuer, service-account-conf, conf and the service account roles",
			claims["iss"], claims["sub"], claims["azp"], roles)
	}
	if p := env.Userinfo(t, "acme", tok); p.Status != http.StatusOK {
		t.Errorf("acme userinfo = %d %s, want 200", p.Status, p.Body)
	}
	if got := introspect(t, env, "acme", tok, "conf", confSecret); got["active"] != true {
		t.Errorf("acme introspection = %v, want active", got)
	}

	t.Run("other realm's JWKS", func(t *testing.T) {
		if _, err := testkit.VerifyJWS(env.JWKS(t, "other"), tok); err == nil {
			t.Errorf("acme token verified against other's JWKS")
		}
	})
	t.Run("other realm's userinfo", func(t *testing.T) {
		if p := env.Userinfo(t, "other", tok); p.Status != http.StatusUnauthorized {
			t.Errorf("other userinfo = %d %s, want 401", p.Status, p.Body)
		}
	})
	t.Run("other realm's introspection", func(t *testing.T) {
		if got := introspect(t, env, "other", tok, "conf", otherSecret); got["active"] != false {
			t.Errorf("other introspection = %v, want active false", got)
		}
	})
	t.Run("other realm's token endpoint", func(t *testing.T) {
		status, tr := token(t, env, c, "other", url.Values{"grant_type": {"client_credentials"}}, "conf", confSecret)
		if status != http.StatusUnauthorized || tr.Error != "invalid_client" {
			t.Errorf("acme's secret at other's token endpoint = %d %q, want 401 invalid_client", status, tr.Error)
		}
		// And the same client id with its own realm's secret works there.
		env.ServiceToken(t, "other", "conf", otherSecret)
	})
	t.Run("client_secret_post", func(t *testing.T) {
		status, tr := token(t, env, c, "acme", url.Values{"grant_type": {"client_credentials"},
			"client_id": {"conf"}, "client_secret": {confSecret}}, "", "")
		if status != http.StatusOK || tr.AccessToken == "" {
			t.Errorf("client_secret_post = %d %+v, want 200", status, tr)
		}
	})
	t.Run("public client", func(t *testing.T) {
		status, tr := token(t, env, c, "acme", url.Values{"grant_type": {"client_credentials"}, "client_id": {"web"}}, "", "")
		if status < 400 || status >= 500 || tr.AccessToken != "" {
			t.Errorf("client_credentials for a public client = %d %+v, want a 4xx", status, tr)
		}
	})
}

// TestSigningAlgorithms checks that ES256 and EdDSA realms issue tokens that
// verify against their published keys and are accepted by their userinfo.
func TestSigningAlgorithms(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	for realmName, alg := range map[string]string{"acme": "RS256", "ec": "ES256", "ed": "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			id, secret := "svc", "svc-secret"
			if realmName == "acme" {
				id, secret = "conf", confSecret
			}
			tok := env.ServiceToken(t, realmName, id, secret)
			if got := testkit.Header(t, tok)["alg"]; got != alg {
				t.Errorf("alg = %v, want %s", got, alg)
			}
			set := env.JWKS(t, realmName)
			if _, err := testkit.VerifyJWS(set, tok); err != nil {
				t.Errorf("token does not verify against the realm's JWKS: %v", err)
			}
			for _, k := range set.Keys {
				if k.Algorithm != alg {
					t.Errorf("JWKS key %s has alg %s, want %s", k.KeyID, k.Algorithm, alg)
				}
			}
			if p := env.Userinfo(t, realmName, tok); p.Status != http.StatusOK {
				t.Errorf("userinfo = %d %s, want 200", p.Status, p.Body)
			}
		})
	}
}

// TestRevocation checks RFC 7009: revoked access tokens are dead at userinfo
// and introspection, revoked refresh tokens cannot be used, tokens of other
// clients are left alone, and unknown tokens are not an error.
func TestRevocation(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	c := env.Client()
	revoke := func(t *testing.T, tok, hint string, user, pass string, form url.Values) page {
		t.Helper()
		if form == nil {
			form = url.Values{}
		}
		form.Set("token", tok)
		if hint != "" {
			form.Set("token_type_hint", hint)
		}
		return postForm(t, c, endpoint(env, "acme", pRevoke), form, user, pass)
	}

	t.Run("access token", func(t *testing.T) {
		tr := loginTokens(t, env, env.Client())
		if p := revoke(t, tr.AccessToken, "access_token", "", "", url.Values{"client_id": {"web"}}); p.Status != http.StatusOK {
			t.Fatalf("revoke = %d %s, want 200", p.Status, p.Body)
		}
		if p := env.Userinfo(t, "acme", tr.AccessToken); p.Status != http.StatusUnauthorized {
			t.Errorf("userinfo with a revoked token = %d, want 401", p.Status)
		}
		if got := introspect(t, env, "acme", tr.AccessToken, "conf", confSecret); got["active"] != false {
			t.Errorf("introspection of a revoked token = %v, want active false", got)
		}
		// The refresh token was not revoked.
		status, _ := token(t, env, c, "acme", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}, "client_id": {"web"}}, "", "")
		if status != http.StatusOK {
			t.Errorf("refresh after revoking only the access token = %d, want 200", status)
		}
	})
	t.Run("refresh token", func(t *testing.T) {
		tr := loginTokens(t, env, env.Client())
		if p := revoke(t, tr.RefreshToken, "refresh_token", "", "", url.Values{"client_id": {"web"}}); p.Status != http.StatusOK {
			t.Fatalf("revoke = %d %s, want 200", p.Status, p.Body)
		}
		status, got := token(t, env, c, "acme", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}, "client_id": {"web"}}, "", "")
		if status != http.StatusBadRequest || got.Error != "invalid_grant" {
			t.Errorf("refresh with a revoked token = %d %q, want 400 invalid_grant", status, got.Error)
		}
		if got := introspect(t, env, "acme", tr.RefreshToken, "conf", confSecret); got["active"] != false {
			t.Errorf("introspection of a revoked refresh token = %v, want active false", got)
		}
	})
	t.Run("service account token", func(t *testing.T) {
		tok := env.ServiceToken(t, "acme", "conf", confSecret)
		if p := revoke(t, tok, "", "conf", confSecret, nil); p.Status != http.StatusOK {
			t.Fatalf("revoke = %d %s, want 200", p.Status, p.Body)
		}
		if p := env.Userinfo(t, "acme", tok); p.Status != http.StatusUnauthorized {
			t.Errorf("userinfo with a revoked token = %d, want 401", p.Status)
		}
	})
	t.Run("another client's tokens are left alone", func(t *testing.T) {
		tr := loginTokens(t, env, env.Client())
		for _, tok := range []string{tr.AccessToken, tr.RefreshToken} {
			if p := revoke(t, tok, "", "conf", confSecret, nil); p.Status >= 500 {
				t.Fatalf("revoke by another client = %d %s, want 200 or 4xx", p.Status, p.Body)
			}
		}
		if p := env.Userinfo(t, "acme", tr.AccessToken); p.Status != http.StatusOK {
			t.Errorf("userinfo after another client's revocation = %d, want 200", p.Status)
		}
		status, _ := token(t, env, c, "acme", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}, "client_id": {"web"}}, "", "")
		if status != http.StatusOK {
			t.Errorf("refresh after another client's revocation = %d, want 200", status)
		}
	})
	t.Run("unknown tokens", func(t *testing.T) {
		for _, tok := range []string{"garbage", "a.b.c", randomString()} {
			if p := revoke(t, tok, "", "conf", confSecret, nil); p.Status != http.StatusOK {
				t.Errorf("revoke %q = %d %s, want 200 (RFC 7009 §2.2)", tok, p.Status, p.Body)
			}
		}
	})
	t.Run("wrong client secret", func(t *testing.T) {
		if p := revoke(t, "x", "", "conf", "wrong", nil); p.Status != http.StatusUnauthorized {
			t.Errorf("revoke with a wrong secret = %d %s, want 401", p.Status, p.Body)
		}
	})
}

// TestIntrospection checks RFC 7662 answers for the token kinds a realm issues.
func TestIntrospection(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	c := env.Client()
	tr := loginTokens(t, env, env.Client())
	idt := testkit.Claims(t, tr.IDToken)

	got := introspect(t, env, "acme", tr.AccessToken, "conf", confSecret)
	for k, want := range map[string]any{"active": true, "sub": idt["sub"], "client_id": "web", "username": "alice"} {
		if got[k] != want {
			t.Errorf("introspection %s = %v, want %v", k, got[k], want)
		}
	}
	if exp, _ := got["exp"].(float64); exp == 0 {
		t.Errorf("introspection exp = %v, want a time", got["exp"])
	}
	if got["scope"] != "openid profile email" {
		t.Errorf("introspection scope = %v, want %q", got["scope"], "openid profile email")
	}

	rt := introspect(t, env, "acme", tr.RefreshToken, "conf", confSecret)
	if rt["active"] != true || rt["sub"] != idt["sub"] || rt["client_id"] != "web" {
		t.Errorf("refresh token introspection = %v, want active for web and alice", rt)
	}
	sa := introspect(t, env, "acme", env.ServiceToken(t, "acme", "conf", confSecret), "conf", confSecret)
	if sa["active"] != true || sa["sub"] != "service-account-conf" || sa["client_id"] != "conf" {
		t.Errorf("service account token introspection = %v", sa)
	}
	for _, bad := range []string{"garbage", "a.b.c", tr.IDToken + "x"} {
		if got := introspect(t, env, "acme", bad, "conf", confSecret); got["active"] != false || len(got) != 1 {
			t.Errorf("introspection of %q = %v, want only active false", bad, got)
		}
	}
	t.Run("expired access token", func(t *testing.T) {
		env.Clock.Advance(6 * time.Minute) // beyond the default accessTokenLifespan of 5m
		if got := introspect(t, env, "acme", tr.AccessToken, "conf", confSecret); got["active"] != false {
			t.Errorf("introspection of an expired token = %v, want active false", got)
		}
		if p := env.Userinfo(t, "acme", tr.AccessToken); p.Status != http.StatusUnauthorized {
			t.Errorf("userinfo with an expired token = %d, want 401", p.Status)
		}
	})
	t.Run("public clients cannot introspect", func(t *testing.T) {
		p := postForm(t, c, endpoint(env, "acme", pIntrospect), url.Values{"token": {tr.AccessToken}, "client_id": {"web"}}, "", "")
		if p.Status != http.StatusUnauthorized && p.Status != http.StatusBadRequest {
			t.Errorf("introspection by a public client = %d %s, want 401 or 400", p.Status, p.Body)
		}
		if p := postForm(t, c, endpoint(env, "acme", pIntrospect), url.Values{"token": {tr.AccessToken}}, "conf", "wrong"); p.Status != http.StatusUnauthorized {
			t.Errorf("introspection with a wrong secret = %d %s, want 401", p.Status, p.Body)
		}
	})
}

// TestKeyRotation rotates acme's signing key while tokens are out: the JWKS
// then holds both keys, old tokens keep working and new ones use the new key.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	c := env.Client()
	ctx := context.Background()
	oldService := env.ServiceToken(t, "acme", "conf", confSecret)
	oldUser := loginTokens(t, env, env.Client())
	oldKid := testkit.Header(t, oldService)["kid"].(string)

	r, ok := env.Server.Realms.Get("acme")
	if !ok {
		t.Fatal("realm acme not found")
	}
	if err := r.Keys.Rotate(ctx); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	p, ok := env.Server.OIDC.Get("acme")
	if !ok {
		t.Fatal("provider acme not found")
	}
	if err := p.RefreshKeys(ctx); err != nil {
		t.Fatalf("refresh keys: %v", err)
	}

	set := env.JWKS(t, "acme")
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KeyID)
	}
	newService := env.ServiceToken(t, "acme", "conf", confSecret)
	newKid := testkit.Header(t, newService)["kid"].(string)
	if newKid == oldKid {
		t.Fatalf("new token kid = old kid %q after rotation", oldKid)
	}
	if len(kids) != 2 || !slices.Contains(kids, oldKid) || !slices.Contains(kids, newKid) {
		t.Errorf("JWKS kids = %q, want exactly the old %q and the new %q", kids, oldKid, newKid)
	}
	for name, tok := range map[string]string{"old service": oldService, "old user": oldUser.AccessToken, "new service": newService} {
		if _, err := testkit.VerifyJWS(set, tok); err != nil {
			t.Errorf("%s token does not verify against the JWKS: %v", name, err)
		}
		if p := env.Userinfo(t, "acme", tok); p.Status != http.StatusOK {
			t.Errorf("userinfo with the %s token = %d %s, want 200", name, p.Status, p.Body)
		}
	}
	octx := oidcCtx(env)
	provider, err := gooidc.NewProvider(octx, env.Issuer("acme"))
	if err != nil {
		t.Fatalf("NewProvider: %v", err)
	}
	if _, err := provider.Verifier(&gooidc.Config{ClientID: "web"}).Verify(octx, oldUser.IDToken); err != nil {
		t.Errorf("ID token signed before the rotation does not verify with go-oidc: %v", err)
	}
	fresh := loginTokens(t, env, env.Client())
	if got := testkit.Header(t, fresh.IDToken)["kid"]; got != newKid {
		t.Errorf("new ID token kid = %v, want %s", got, newKid)
	}
	// The old refresh token still works and yields tokens under the new key.
	status, rt := token(t, env, c, "acme", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {oldUser.RefreshToken}, "client_id": {"web"}}, "", "")
	if status != http.StatusOK || testkit.Header(t, rt.AccessToken)["kid"] != newKid {
		t.Errorf("refresh after rotation = %d, kid %v; want 200 and kid %s", status, testkit.Header(t, rt.AccessToken)["kid"], newKid)
	}
}
