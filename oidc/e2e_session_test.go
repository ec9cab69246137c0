package oidc_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testkit"
)

const sessionCookie = "LATCHKEY_SESSION_acme"

// webAuthQuery is a valid code+PKCE request of the public client.
func webAuthQuery(state string) url.Values {
	q, _ := webAuthQueryVerifier(state)
	return q
}

// webAuthQueryVerifier is webAuthQuery that also returns the PKCE verifier.
func webAuthQueryVerifier(state string) (url.Values, string) {
	verifier, challenge := pkcePair()
	return url.Values{"client_id": {"web"}, "redirect_uri": {webRedirect}, "response_type": {"code"}, "scope": {"openid"},
		"state": {state}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}, verifier
}

// TestSSOSession checks the browser session: its cookie's attributes, reuse
// without a login page, prompt=none/login, max_age, and that a callback URL
// only works in the browser that logged in.
func TestSSOSession(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	browser := env.Client()
	lp := startLogin(t, browser, authURL(env, "acme", webAuthQuery("s0")))
	posted := submitLogin(t, browser, lp, "alice@example.com", alicePassword)
	var setCookie string
	for _, sc := range posted.Header.Values("Set-Cookie") {
		if strings.HasPrefix(sc, sessionCookie+"=") {
			setCookie = sc
		}
	}
	for _, attr := range []string{"HttpOnly", "Secure", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(setCookie, attr) {
			t.Errorf("session cookie %q lacks %s", setCookie, attr)
		}
	}
	callbackURL := posted.Header.Get("Location")
	t.Run("callback from another browser", func(t *testing.T) {
		p := get(t, env.Client(), callbackURL)
		if p.Status != http.StatusBadRequest || p.Header.Get("Location") != "" || strings.Contains(p.Body, "code=") {
			t.Errorf("callback without the session cookie = %d Location %q, want a 400 page and no code", p.Status, p.Header.Get("Location"))
		}
	})
	if ar := parseAuthResponse(t, finishLogin(t, browser, posted)); ar.Params.Get("code") == "" {
		t.Fatalf("first login gave no code: %v", ar.Params)
	}

	// ssoHit expects the authorization endpoint to answer from the session:
	// straight to the callback, then to the client with a code.
	ssoHit := func(t *testing.T, q url.Values) authResponse {
		t.Helper()
		p := get(t, browser, authURL(env, "acme", q))
		loc := p.Location(t)
		if p.Status != http.StatusFound || loc == nil || !strings.HasSuffix(loc.Path, pAuth+"/callback") {
			t.Fatalf("GET authorization = %d Location %q, want 302 straight to the callback", p.Status, p.Header.Get("Location"))
		}
		ar := parseAuthResponse(t, get(t, browser, loc.String()))
		if ar.Params.Get("code") == "" || ar.Params.Get("state") != q.Get("state") {
			t.Fatalf("SSO response %v, want a code and state %q", ar.Params, q.Get("state"))
		}
		return ar
	}
	t.Run("session reused", func(t *testing.T) { ssoHit(t, webAuthQuery("s1")) })
	t.Run("prompt=none with a session", func(t *testing.T) {
		q := webAuthQuery("s2")
		q.Set("prompt", "none")
		ssoHit(t, q)
	})
	t.Run("max_age not yet reached", func(t *testing.T) {
		q, verifier := webAuthQueryVerifier("s3")
		q.Set("max_age", "3600")
		ar := ssoHit(t, q)
		// OIDC Core §3.1.2.1: with max_age the ID token must carry auth_time.
		status, tr := exchange(t, env, env.Client(), ar.Params.Get("code"), verifier)
		if status != http.StatusOK {
			t.Fatalf("exchange = %d %+v", status, tr)
		}
		if at, _ := testkit.Claims(t, tr.IDToken)["auth_time"].(float64); at == 0 {
			t.Errorf("ID token after max_age has no auth_time: %v", testkit.Claims(t, tr.IDToken))
		}
	})
	forced := []struct{ name, key, value string }{
		{"prompt=login", "prompt", "login"},
		{"max_age=0", "max_age", "0"},
	}
	for _, tt := range forced {
		t.Run(tt.name+" forces the login page", func(t *testing.T) {
			q := webAuthQuery("s4")
			q.Set(tt.key, tt.value)
			lp := startLogin(t, browser, authURL(env, "acme", q))
			ar := parseAuthResponse(t, finishLogin(t, browser, submitLogin(t, browser, lp, "alice@example.com", alicePassword)))
			if ar.Params.Get("code") == "" || ar.Params.Get("state") != "s4" {
				t.Errorf("response after forced login %v, want a code and state s4", ar.Params)
			}
		})
	}
	t.Run("max_age elapsed", func(t *testing.T) {
		env.Clock.Advance(2 * time.Minute)
		q := webAuthQuery("s5")
		q.Set("max_age", "60")
		startLogin(t, browser, authURL(env, "acme", q))
	})
	t.Run("idle timeout", func(t *testing.T) {
		env.Clock.Advance(31 * time.Minute) // beyond the default ssoSessionIdle of 30m
		q := webAuthQuery("s6")
		q.Set("prompt", "none")
		ar := parseAuthResponse(t, get(t, browser, authURL(env, "acme", q)))
		if ar.Params.Get("error") != "login_required" {
			t.Errorf("prompt=none after the idle timeout: %v, want error=login_required", ar.Params)
		}
	})
}

// TestLoginExpired checks that a login page left open beyond Keycloak's
// login timeout (30 minutes) cannot complete the authorization.
func TestLoginExpired(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	c := env.Client()
	lp := startLogin(t, c, authURL(env, "acme", webAuthQuery("late")))
	env.Clock.Advance(31 * time.Minute)
	p := submitLogin(t, c, lp, "alice@example.com", alicePassword)
	if p.Status != http.StatusBadRequest || p.Header.Get("Location") != "" || !strings.Contains(p.Body, "expired") {
		t.Errorf("login after 31 minutes = %d Location %q, want a 400 expired page; body:\n%s", p.Status, p.Header.Get("Location"), p.Body)
	}
	if hasCookie(c, env.URL, sessionCookie) {
		t.Errorf("expired login set a session cookie")
	}
}

// TestLogout checks RP-initiated logout: redirect only to a registered
// post_logout_redirect_uri with state, the session cookie cleared, and the
// session's tokens dead.
func TestLogout(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	browser := env.Client()
	tr := loginTokens(t, env, browser)
	if !hasCookie(browser, env.URL, sessionCookie) {
		t.Fatalf("no session cookie after login")
	}

	t.Run("unregistered post_logout_redirect_uri", func(t *testing.T) {
		q := url.Values{"id_token_hint": {tr.IDToken}, "post_logout_redirect_uri": {"https://evil.example.com/"}, "state": {"x"}}
		p := get(t, browser, endpoint(env, "acme", pLogout)+"?"+q.Encode())
		if p.Status != http.StatusBadRequest || strings.Contains(p.Header.Get("Location"), "evil.example.com") {
			t.Errorf("logout to an unregistered URI = %d Location %q, want 400 and no redirect", p.Status, p.Header.Get("Location"))
		}
		if !hasCookie(browser, env.URL, sessionCookie) {
			t.Errorf("a refused logout cleared the session cookie")
		}
		if p := env.Userinfo(t, "acme", tr.AccessToken); p.Status != http.StatusOK {
			t.Errorf("userinfo after a refused logout = %d, want 200", p.Status)
		}
	})

	q := url.Values{"id_token_hint": {tr.IDToken}, "post_logout_redirect_uri": {webLogout}, "state": {"bye-1"}}
	p := get(t, browser, endpoint(env, "acme", pLogout)+"?"+q.Encode())
	loc := p.Location(t)
	if p.Status != http.StatusFound || loc == nil {
		t.Fatalf("logout = %d %s, want 302", p.Status, p.Body)
	}
	target := *loc
	target.RawQuery = ""
	if target.String() != webLogout || loc.Query().Get("state") != "bye-1" {
		t.Errorf("logout redirected to %s, want %s?state=bye-1", loc, webLogout)
	}
	cleared := false
	for _, sc := range p.Header.Values("Set-Cookie") {
		if strings.HasPrefix(sc, sessionCookie+"=;") && strings.Contains(sc, "Max-Age=0") {
			cleared = true
		}
	}
	if !cleared || hasCookie(browser, env.URL, sessionCookie) {
		t.Errorf("logout did not clear the session cookie (Set-Cookie %q)", p.Header.Values("Set-Cookie"))
	}

	if p := env.Userinfo(t, "acme", tr.AccessToken); p.Status != http.StatusUnauthorized {
		t.Errorf("userinfo with the logged-out session's token = %d, want 401", p.Status)
	}
	status, rt := token(t, env, env.Client(), "acme", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}, "client_id": {"web"}}, "", "")
	if status != http.StatusBadRequest || rt.Error != "invalid_grant" {
		t.Errorf("refresh of the logged-out session = %d %q, want 400 invalid_grant", status, rt.Error)
	}
	aq := webAuthQuery("after")
	aq.Set("prompt", "none")
	ar := parseAuthResponse(t, get(t, browser, authURL(env, "acme", aq)))
	if ar.Params.Get("error") != "login_required" || ar.Params.Get("state") != "after" {
		t.Errorf("prompt=none after logout: %v, want error=login_required and state", ar.Params)
	}

	t.Run("without id_token_hint the user confirms", func(t *testing.T) {
		b := env.Client()
		loginTokens(t, env, b)
		p := get(t, b, endpoint(env, "acme", pLogout))
		confirm := p.Location(t)
		if p.Status != http.StatusFound || confirm == nil || !strings.HasSuffix(confirm.Path, "/login-actions/logout") {
			t.Fatalf("logout without id_token_hint = %d Location %v, want 302 to the confirmation page", p.Status, confirm)
		}
		page := testkit.ParseForm(t, get(t, b, confirm.String()).Body)
		if !hasCookie(b, env.URL, sessionCookie) {
			t.Fatalf("showing the confirmation page ended the session")
		}
		forged := url.Values{}
		for k, v := range page.Fields {
			if k != "csrf_token" {
				forged[k] = v
			}
		}
		if f := postForm(t, b, page.Action, forged, "", ""); f.Status != http.StatusForbidden || !hasCookie(b, env.URL, sessionCookie) {
			t.Fatalf("confirmation without CSRF token = %d, want 403 and the session kept", f.Status)
		}
		p = postForm(t, b, page.Action, page.Fields, "", "")
		loc := p.Location(t)
		if p.Status != http.StatusFound || loc == nil || !strings.HasSuffix(loc.Path, "/login-actions/logged-out") {
			t.Fatalf("confirmed logout = %d Location %v, want 302 to the logged-out page", p.Status, loc)
		}
		if lp := get(t, b, loc.String()); lp.Status != http.StatusOK || !strings.Contains(lp.Body, "signed out") {
			t.Errorf("logged-out page = %d %s", lp.Status, lp.Body)
		}
		if hasCookie(b, env.URL, sessionCookie) {
			t.Errorf("session cookie still set after logout")
		}
	})
}

// TestLoginPage checks the login form's error answers: wrong credentials,
// missing CSRF token, and brute-force lockout.
func TestLoginPage(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	tests := []struct {
		name, user, password string
		dropCSRF, badCSRF    bool
		wantStatus           int
		wantText             string
	}{
		{"wrong password", "alice@example.com", "nope-nope", false, false, http.StatusUnauthorized, "Invalid username or password."},
		{"unknown user", "nobody@example.com", "whatever1", false, false, http.StatusUnauthorized, "Invalid username or password."},
		{"missing CSRF token", "alice@example.com", alicePassword, true, false, http.StatusForbidden, "expired"},
		{"wrong CSRF token", "alice@example.com", alicePassword, false, true, http.StatusForbidden, "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := env.Client()
			lp := startLogin(t, c, authURL(env, "acme", webAuthQuery("lp")))
			if !strings.Contains(lp.Body, "Acme Corp") || !strings.Contains(lp.Body, `<label for="password">`) {
				t.Errorf("login page lacks the realm display name or labels:\n%s", lp.Body)
			}
			// Browsers apply form-action to the redirects that follow the
			// POST, which end at the client.
			if csp := lp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' "+webOrigin) {
				t.Errorf("login page CSP %q does not let the form's redirects reach %s", csp, webOrigin)
			}
			action, csrf := loginForm(t, lp.Body)
			form := url.Values{"username": {tt.user}, "password": {tt.password}, "action": {"password"}, "csrf_token": {csrf}}
			if tt.dropCSRF {
				form.Del("csrf_token")
			}
			if tt.badCSRF {
				form.Set("csrf_token", csrf[:len(csrf)-2]+"xx")
			}
			p := postForm(t, c, action, form, "", "")
			if p.Status != tt.wantStatus || !strings.Contains(p.Body, tt.wantText) {
				t.Errorf("POST login = %d, want %d with %q; body:\n%s", p.Status, tt.wantStatus, tt.wantText, p.Body)
			}
			if loc := p.Header.Get("Location"); loc != "" {
				t.Errorf("failed login redirected to %q", loc)
			}
			if hasCookie(c, env.URL, sessionCookie) {
				t.Errorf("failed login set a session cookie")
			}
		})
	}

	t.Run("login form replayed after success", func(t *testing.T) {
		c := env.Client()
		lp := startLogin(t, c, authURL(env, "acme", webAuthQuery("replay")))
		finishLogin(t, c, submitLogin(t, c, lp, "alice@example.com", alicePassword))
		p := submitLogin(t, c, lp, "alice@example.com", alicePassword)
		if p.Status != http.StatusBadRequest || p.Header.Get("Location") != "" {
			t.Errorf("replayed login form = %d Location %q, want a 400 expired page", p.Status, p.Header.Get("Location"))
		}
	})
	t.Run("brute force lockout", func(t *testing.T) {
		c := env.Client()
		q := webAuthQuery("bf")
		lp := startLogin(t, c, authURL(env, "locked", q))
		attempts := []struct {
			password   string
			wantStatus int
		}{
			{"wrong-one-1", http.StatusUnauthorized},
			{"wrong-two-2", http.StatusUnauthorized},
			{"wrong-three", http.StatusTooManyRequests},
			{"carol-password-1", http.StatusTooManyRequests},
		}
		for i, a := range attempts {
			p := submitLogin(t, c, lp, "carol@example.com", a.password)
			if p.Status != a.wantStatus {
				t.Fatalf("attempt %d = %d, want %d; body:\n%s", i+1, p.Status, a.wantStatus, p.Body)
			}
			if a.wantStatus == http.StatusTooManyRequests {
				if p.Header.Get("Retry-After") == "" || !strings.Contains(p.Body, "Too many failed attempts") {
					t.Errorf("attempt %d: 429 without Retry-After or message; body:\n%s", i+1, p.Body)
				}
			}
			lp = p // each answer is a fresh login page with a CSRF token
		}
		env.Clock.Advance(2 * time.Minute)
		lp = startLogin(t, c, authURL(env, "locked", webAuthQuery("bf2")))
		if p := submitLogin(t, c, lp, "carol@example.com", "carol-password-1"); p.Status != http.StatusFound {
			t.Errorf("login after the wait = %d, want 302; body:\n%s", p.Status, p.Body)
		}
	})
}

// confirmLogout signs the browser out of realm acme the way a user does
// when the application sends no id_token_hint: end_session, then the
// confirmation page's button.
func confirmLogout(t *testing.T, env *testkit.Env, b *http.Client) {
	t.Helper()
	p := get(t, b, endpoint(env, "acme", pLogout))
	confirm := p.Location(t)
	if p.Status != http.StatusFound || confirm == nil {
		t.Fatalf("logout = %d, want 302 to the confirmation page", p.Status)
	}
	form := testkit.ParseForm(t, get(t, b, confirm.String()).Body)
	if p := postForm(t, b, form.Action, form.Fields, "", ""); p.Status != http.StatusFound {
		t.Fatalf("confirmed logout = %d %s, want 302", p.Status, p.Body)
	}
}
