package oidc_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testkit"
)

// Paths of the keycloak-js pages, relative to the issuer.
const (
	pStatusIframe = "/protocol/openid-connect/login-status-iframe.html"
	pStep1        = "/protocol/openid-connect/3p-cookies/step1.html"
	pStep2        = "/protocol/openid-connect/3p-cookies/step2.html"
)

var inlineScriptRE = regexp.MustCompile(`(?s)<script>(.*)</script>`)

// checkKCJSPage checks the security headers of a keycloak-js page: a CSP
// that runs exactly the page's inline script (its hash is in script-src),
// allows no other source, and lets the realm's client origins frame it.
func checkKCJSPage(t *testing.T, p page, cache string) {
	t.Helper()
	if p.Status != http.StatusOK || !strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("status %d Content-Type %q, want 200 HTML; body %s", p.Status, p.Header.Get("Content-Type"), p.Body)
	}
	m := inlineScriptRE.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("page has no inline script:\n%s", p.Body)
	}
	sum := sha256.Sum256([]byte(m[1]))
	hash := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	csp := p.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src " + hash + ";", "connect-src 'self'",
		"frame-ancestors ", "https://rp.example.com", "https://app.example.com", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	if xfo := p.Header.Get("X-Frame-Options"); xfo != "" {
		t.Errorf("X-Frame-Options = %q, want none (it would forbid the frame frame-ancestors allows)", xfo)
	}
	if got := p.Header.Get("Cache-Control"); got != cache {
		t.Errorf("Cache-Control = %q, want %q", got, cache)
	}
}

// TestKeycloakJSEndpoints checks, over HTTP and under both realm prefixes,
// what keycloak-js loads with its default options: the session-status
// iframe, its origin pre-check and status check against the SSO session
// cookie, and the third-party-cookie probe.
func TestKeycloakJSEndpoints(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	ctx := context.Background()
	browser := env.Client()
	pkce := testkit.NewPKCE()
	code := env.LoginCode(t, browser, "acme", "web", webRedirect, "alice@example.com", alicePassword, pkce)
	tr := env.Token(t, env.Client(), "acme", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {webRedirect}, "client_id": {"web"}, "code_verifier": {pkce.Verifier}})
	if tr.Status != http.StatusOK {
		t.Fatalf("code exchange = %d %s", tr.Status, tr.Error)
	}
	sid, _ := testkit.Claims(t, tr.IDToken)["sid"].(string)
	if sid == "" {
		t.Fatalf("ID token has no sid")
	}

	for _, iss := range []string{env.Issuer("acme"), env.URL + "/realms/acme"} {
		t.Run(strings.TrimPrefix(iss[len(env.URL):], "/"), func(t *testing.T) {
			t.Run("status iframe", func(t *testing.T) {
				p := get(t, env.Client(), iss+pStatusIframe)
				checkKCJSPage(t, p, "no-cache")
				etag := p.Header.Get("ETag")
				if etag == "" {
					t.Fatalf("no ETag on the status iframe")
				}
				req, _ := http.NewRequest(http.MethodGet, iss+pStatusIframe+"?version=1", nil)
				req.Header.Set("If-None-Match", etag)
				if again := do(t, env.Client(), req); again.Status != http.StatusNotModified {
					t.Errorf("revalidation with the ETag = %d, want 304", again.Status)
				}
			})

			t.Run("init", func(t *testing.T) {
				tests := []struct {
					client, origin string
					want           int
				}{
					{"web", webOrigin, http.StatusNoContent},
					{"web", "HTTPS://RP.EXAMPLE.COM", http.StatusNoContent},
					{"wild", "https://app.example.com", http.StatusNoContent}, // "+": its redirect URIs' origin
					{"web", "https://app.example.com", http.StatusForbidden},
					{"web", "https://evil.example", http.StatusForbidden},
					{"web", "null", http.StatusForbidden},
					{"web", "", http.StatusForbidden},
					{"conf", "https://conf.example.com", http.StatusForbidden}, // no webOrigins
					{"nobody", webOrigin, http.StatusForbidden},
				}
				for _, tt := range tests {
					q := url.Values{"client_id": {tt.client}, "origin": {tt.origin}}
					if p := get(t, env.Client(), iss+pStatusIframe+"/init?"+q.Encode()); p.Status != tt.want {
						t.Errorf("init %v = %d, want %d", q, p.Status, tt.want)
					}
				}
			})

			t.Run("status", func(t *testing.T) {
				tests := []struct {
					name           string
					c              *http.Client
					client, origin string
					sessionState   string
					fetchSite      string
					wantStatus     int
					want           string
				}{
					{"same session", browser, "web", webOrigin, sid, "same-origin", 200, "unchanged"},
					{"same session, no fetch metadata", browser, "web", webOrigin, sid, "", 200, "unchanged"},
					{"another session", browser, "web", webOrigin, "other-session", "", 200, "changed"},
					{"application without a session, browser with one", browser, "web", webOrigin, "", "", 200, "changed"},
					{"neither has a session", env.Client(), "web", webOrigin, "", "", 200, "unchanged"},
					{"browser without a session", env.Client(), "web", webOrigin, sid, "", 200, "changed"},
					{"origin not allowed", browser, "web", "https://evil.example", sid, "", 403, "error"},
					{"unknown client", browser, "nobody", webOrigin, sid, "", 403, "error"},
					{"asked by another site", browser, "web", webOrigin, sid, "cross-site", 403, "error"},
					{"asked by a sibling origin", browser, "web", webOrigin, sid, "same-site", 403, "error"},
				}
				for _, tt := range tests {
					q := url.Values{"client_id": {tt.client}, "origin": {tt.origin}, "session_state": {tt.sessionState}}
					req, _ := http.NewRequest(http.MethodGet, iss+pStatusIframe+"/status?"+q.Encode(), nil)
					if tt.fetchSite != "" {
						req.Header.Set("Sec-Fetch-Site", tt.fetchSite)
					}
					p := do(t, tt.c, req)
					if p.Status != tt.wantStatus || p.Body != tt.want {
						t.Errorf("%s: status = %d %q, want %d %q", tt.name, p.Status, p.Body, tt.wantStatus, tt.want)
					}
					if cc := p.Header.Get("Cache-Control"); cc != "no-store" {
						t.Errorf("%s: Cache-Control = %q, want no-store", tt.name, cc)
					}
				}
			})

			t.Run("third-party cookie probe", func(t *testing.T) {
				c := env.Client()
				p := get(t, c, iss+pStep1)
				dir := strings.TrimPrefix(iss, env.URL) + "/protocol/openid-connect/3p-cookies/"
				if loc := p.Header.Get("Location"); p.Status != http.StatusFound || loc != dir+"step2.html" {
					t.Fatalf("step1 = %d Location %q, want 302 to %sstep2.html", p.Status, loc, dir)
				}
				setCookie := p.Header.Get("Set-Cookie")
				for _, attr := range []string{"LATCHKEY_3P_COOKIE=supported", "Path=" + dir, "Max-Age=60", "HttpOnly", "Secure", "SameSite=Lax"} {
					if !strings.Contains(setCookie, attr) {
						t.Errorf("step1 cookie %q lacks %s (it must have the session cookie's attributes)", setCookie, attr)
					}
				}
				with := get(t, c, iss+pStep2)
				checkKCJSPage(t, with, "no-store")
				if !strings.Contains(with.Body, `data-result="supported"`) {
					t.Errorf("step2 with the cookie back does not report supported:\n%s", with.Body)
				}
				if sc := with.Header.Get("Set-Cookie"); !strings.Contains(sc, "LATCHKEY_3P_COOKIE=;") || !strings.Contains(sc, "Max-Age=0") {
					t.Errorf("step2 Set-Cookie %q, want the test cookie cleared", sc)
				}
				without := get(t, env.Client(), iss+pStep2)
				checkKCJSPage(t, without, "no-store")
				if !strings.Contains(without.Body, `data-result="unsupported"`) {
					t.Errorf("step2 without the cookie does not report unsupported:\n%s", without.Body)
				}
			})
		})
	}

	status := func(t *testing.T, c *http.Client, sessionState string) string {
		t.Helper()
		q := url.Values{"client_id": {"web"}, "origin": {webOrigin}, "session_state": {sessionState}}
		return get(t, c, env.Issuer("acme")+pStatusIframe+"/status?"+q.Encode()).Body
	}

	t.Run("checks do not keep the session alive", func(t *testing.T) {
		before, err := env.Store.GetSession(ctx, "acme", sid)
		if err != nil {
			t.Fatal(err)
		}
		env.Clock.Advance(2 * time.Minute) // past the session's touch interval, within the ID token's life
		if got := status(t, browser, sid); got != "unchanged" {
			t.Fatalf("status = %q, want unchanged", got)
		}
		after, err := env.Store.GetSession(ctx, "acme", sid)
		if err != nil {
			t.Fatal(err)
		}
		if !after.LastSeen.Equal(before.LastSeen) || !after.IdleUntil.Equal(before.IdleUntil) {
			t.Errorf("a status check moved the session's idle timer: LastSeen %v → %v, IdleUntil %v → %v",
				before.LastSeen, after.LastSeen, before.IdleUntil, after.IdleUntil)
		}
	})

	t.Run("disabled user", func(t *testing.T) {
		env.SetUserEnabled(t, "acme", "alice@example.com", false)
		got := status(t, browser, sid)
		env.SetUserEnabled(t, "acme", "alice@example.com", true)
		if got != "changed" {
			t.Errorf("status for a disabled user's session = %q, want changed", got)
		}
	})

	t.Run("after logout", func(t *testing.T) {
		q := url.Values{"id_token_hint": {tr.IDToken}, "post_logout_redirect_uri": {webLogout}}
		if p := get(t, browser, env.Issuer("acme")+pLogout+"?"+q.Encode()); p.Status != http.StatusFound || p.Header.Get("Location") != webLogout {
			t.Fatalf("logout = %d Location %q, want 302 to %s", p.Status, p.Header.Get("Location"), webLogout)
		}
		if got := status(t, browser, sid); got != "changed" {
			t.Errorf("status after logout = %q, want changed", got)
		}
		if got := status(t, browser, ""); got != "unchanged" {
			t.Errorf("status without session_state after logout = %q, want unchanged", got)
		}
	})

	t.Run("unknown realm", func(t *testing.T) {
		if p := get(t, env.Client(), env.URL+"/realms/nowhere"+pStatusIframe); p.Status != http.StatusNotFound {
			t.Errorf("status iframe of an unknown realm = %d, want 404", p.Status)
		}
	})
}

// TestKeycloakJSProbeOverHTTP checks that over plain http (loopback
// development) the probe's cookie, like the session cookie, is not Secure, so
// that the browser keeps it and the probe reports what the session cookie can do.
func TestKeycloakJSProbeOverHTTP(t *testing.T) {
	t.Parallel()
	env := testkit.New(t, e2eConfig, testkit.Options{NoMail: true, PlainHTTP: true})
	c := env.Client()
	p := get(t, c, env.Issuer("acme")+pStep1)
	if sc := p.Header.Get("Set-Cookie"); p.Status != http.StatusFound || strings.Contains(sc, "Secure") || !strings.Contains(sc, "SameSite=Lax") {
		t.Fatalf("step1 over http = %d Set-Cookie %q, want 302 and a SameSite=Lax cookie without Secure", p.Status, sc)
	}
	if got := get(t, c, env.Issuer("acme")+pStep2); !strings.Contains(got.Body, `data-result="supported"`) {
		t.Errorf("step2 over http does not report supported:\n%s", got.Body)
	}
}

// TestCORSForSPA checks that a single-page application on a client's web
// origin can read the answers of every call keycloak-js and other SPA
// libraries make with fetch: code exchange, refresh, and Keycloak's logout
// by refresh token; and that another origin cannot.
func TestCORSForSPA(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	login := func() testkit.TokenResponse {
		pkce := testkit.NewPKCE()
		code := env.LoginCode(t, env.Client(), "acme", "web", webRedirect, "alice@example.com", alicePassword, pkce)
		tr := env.Token(t, env.Client(), "acme", url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {webRedirect}, "client_id": {"web"}, "code_verifier": {pkce.Verifier}})
		if tr.Status != http.StatusOK || tr.RefreshToken == "" {
			t.Fatalf("code exchange = %d %s, want tokens", tr.Status, tr.Error)
		}
		return tr
	}
	post := func(path, origin string, form url.Values) page {
		req, _ := http.NewRequest(http.MethodPost, env.Issuer("acme")+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", origin)
		return do(t, env.Client(), req)
	}
	tests := []struct {
		name, path string
		form       func(tr testkit.TokenResponse) url.Values
		wantStatus int
	}{
		{"refresh", pToken, func(tr testkit.TokenResponse) url.Values {
			return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}, "client_id": {"web"}}
		}, http.StatusOK},
		{"logout by refresh token", pLogout, func(tr testkit.TokenResponse) url.Values {
			return url.Values{"refresh_token": {tr.RefreshToken}, "client_id": {"web"}}
		}, http.StatusNoContent},
	}
	for _, tt := range tests {
		for _, origin := range []string{webOrigin, "https://evil.example"} {
			p := post(tt.path, origin, tt.form(login()))
			allowed := origin == webOrigin
			if p.Status != tt.wantStatus {
				t.Errorf("%s from %s = %d %s, want %d", tt.name, origin, p.Status, p.Body, tt.wantStatus)
			}
			acao, acac := p.Header.Get("Access-Control-Allow-Origin"), p.Header.Get("Access-Control-Allow-Credentials")
			if allowed && (acao != origin || acac != "true") {
				t.Errorf("%s from %s: Access-Control-Allow-Origin %q, -Credentials %q, want %q and true", tt.name, origin, acao, acac, origin)
			}
			if !allowed && acao != "" {
				t.Errorf("%s from %s: Access-Control-Allow-Origin %q, want none", tt.name, origin, acao)
			}
		}
	}
}
