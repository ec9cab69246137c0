package oidc_test

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/latchkey/latchkey/internal/platform/ui"
	"github.com/latchkey/latchkey/internal/testkit"
)

// leftHalfHash is the at_hash/c_hash of value for an RS256-signed ID token.
func leftHalfHash(value string) string {
	sum := sha256.Sum256([]byte(value))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// TestImplicitAndHybrid runs every response type that returns something from
// the authorization endpoint, checks what is delivered where, verifies the ID
// tokens (nonce, at_hash, c_hash) and exchanges the hybrid flows' codes.
func TestImplicitAndHybrid(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	ctx := oidcCtx(env)
	provider, err := gooidc.NewProvider(ctx, env.Issuer("acme"))
	if err != nil {
		t.Fatalf("NewProvider: %v", err)
	}
	idVerifier := provider.Verifier(&gooidc.Config{ClientID: "web"})

	tests := []struct {
		name, responseType, responseMode string
		wantMode                         string
		wantCode, wantAccess, wantID     bool
	}{
		{"code token", "code token", "", "fragment", true, true, false},
		{"token code (order normalized)", "token code", "", "fragment", true, true, false},
		{"code id_token", "code id_token", "", "fragment", true, false, true},
		{"code id_token token", "code id_token token", "", "fragment", true, true, true},
		{"id_token token", "id_token token", "", "fragment", false, true, true},
		{"id_token", "id_token", "", "fragment", false, false, true},
		{"token", "token", "", "fragment", false, true, false},
		{"code form_post", "code", "form_post", "form_post", true, false, false},
		{"code id_token form_post", "code id_token", "form_post", "form_post", true, false, true},
		{"code fragment", "code", "fragment", "fragment", true, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := env.Client()
			verifier, challenge := pkcePair()
			state, nonce := randomString(), randomString()
			q := url.Values{"client_id": {"web"}, "redirect_uri": {webRedirect}, "response_type": {tt.responseType},
				"scope": {"openid email"}, "state": {state}, "nonce": {nonce}}
			if tt.wantCode {
				q.Set("code_challenge", challenge)
				q.Set("code_challenge_method", "S256")
			}
			if tt.responseMode != "" {
				q.Set("response_mode", tt.responseMode)
			}
			p := browserLogin(t, c, authURL(env, "acme", q), "alice@example.com", alicePassword)
			ar := parseAuthResponse(t, p)
			if ar.Target != webRedirect || ar.Mode != tt.wantMode {
				t.Fatalf("response went to %s by %s, want %s by %s", ar.Target, ar.Mode, webRedirect, tt.wantMode)
			}
			if got := ar.Params.Get("state"); got != state {
				t.Errorf("state = %q, want %q", got, state)
			}
			code, access, rawID := ar.Params.Get("code"), ar.Params.Get("access_token"), ar.Params.Get("id_token")
			if (code != "") != tt.wantCode || (access != "") != tt.wantAccess || (rawID != "") != tt.wantID {
				t.Fatalf("got code=%t access_token=%t id_token=%t, want %t %t %t (params %v)",
					code != "", access != "", rawID != "", tt.wantCode, tt.wantAccess, tt.wantID, keys(ar.Params))
			}
			if access != "" {
				if got := ar.Params.Get("token_type"); !strings.EqualFold(got, "bearer") {
					t.Errorf("token_type = %q, want Bearer", got)
				}
				if ar.Params.Get("expires_in") == "" {
					t.Errorf("expires_in missing")
				}
				if up := env.Userinfo(t, "acme", access); up.Status != http.StatusOK {
					t.Errorf("userinfo with the front-channel access token = %d %s, want 200", up.Status, up.Body)
				}
			}
			if rawID != "" {
				idt, err := idVerifier.Verify(ctx, rawID)
				if err != nil {
					t.Fatalf("verify ID token: %v", err)
				}
				if idt.Nonce != nonce {
					t.Errorf("ID token nonce = %q, want %q", idt.Nonce, nonce)
				}
				claims := testkit.Claims(t, rawID)
				if access != "" {
					if err := idt.VerifyAccessToken(access); err != nil {
						t.Errorf("at_hash: %v", err)
					}
				} else if claims["at_hash"] != nil {
					t.Errorf("at_hash %v present without an access token", claims["at_hash"])
				}
				if code != "" {
					if got, want := claims["c_hash"], leftHalfHash(code); got != want {
						t.Errorf("c_hash = %v, want %s", got, want)
					}
				} else if claims["c_hash"] != nil {
					t.Errorf("c_hash %v present without a code", claims["c_hash"])
				}
				if claims["sid"] == nil || claims["azp"] != "web" {
					t.Errorf("ID token sid=%v azp=%v, want a sid and azp web", claims["sid"], claims["azp"])
				}
			}
			if tt.wantMode == "form_post" {
				checkFormPostPage(t, p)
			}
			if code != "" {
				status, tr := exchange(t, env, c, code, verifier)
				if status != http.StatusOK || tr.AccessToken == "" || tr.IDToken == "" {
					t.Fatalf("exchange of the front-channel code = %d %+v, want 200 with tokens", status, tr)
				}
				if rawID != "" {
					back, err := idVerifier.Verify(ctx, tr.IDToken)
					if err != nil {
						t.Fatalf("verify back-channel ID token: %v", err)
					}
					front, _ := idVerifier.Verify(ctx, rawID)
					if back.Subject != front.Subject {
						t.Errorf("back-channel sub %q != front-channel sub %q", back.Subject, front.Subject)
					}
				}
				if status, tr := exchange(t, env, c, code, verifier); status != http.StatusBadRequest || tr.Error != "invalid_grant" {
					t.Errorf("second exchange = %d %q, want 400 invalid_grant", status, tr.Error)
				}
			}
		})
	}
}

// checkFormPostPage checks the form_post page's security headers: its only
// script is allowed by hash and the form may post to the redirect origin.
func checkFormPostPage(t *testing.T, p page) {
	t.Helper()
	csp := p.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "'"+ui.AutoSubmitHash+"'") {
		t.Errorf("CSP %q does not allow the auto-submit script hash %s", csp, ui.AutoSubmitHash)
	}
	formAction := ""
	for _, d := range strings.Split(csp, ";") {
		if d = strings.TrimSpace(d); strings.HasPrefix(d, "form-action ") {
			formAction = d
		}
	}
	if !strings.Contains(formAction, webOrigin) {
		t.Errorf("CSP form-action %q does not include the redirect origin %s", formAction, webOrigin)
	}
	if !strings.Contains(p.Body, "<script>") || !strings.Contains(p.Body, "submit()") {
		t.Errorf("form_post page does not auto-submit:\n%s", p.Body)
	}
	if got := p.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("form_post Cache-Control = %q, want no-store", got)
	}
}

// TestFrontChannelTokenResponseHeaders checks that a fragment response is
// not cached and leaks no referrer.
func TestFrontChannelTokenResponseHeaders(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	q := url.Values{"client_id": {"web"}, "redirect_uri": {webRedirect}, "response_type": {"id_token token"},
		"scope": {"openid"}, "state": {"s"}, "nonce": {"n"}}
	p := browserLogin(t, env.Client(), authURL(env, "acme", q), "alice@example.com", alicePassword)
	if p.Status != http.StatusFound {
		t.Fatalf("callback = %d, want 302", p.Status)
	}
	for k, want := range map[string]string{"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"} {
		if got := p.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if loc := p.Location(t); loc.RawQuery != "" {
		t.Errorf("implicit response has a query %q; tokens must only be in the fragment", loc.RawQuery)
	}
}

func keys(v url.Values) []string {
	out := make([]string, 0, len(v))
	for k := range v {
		out = append(out, k)
	}
	return out
}
