package oidc_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/internal/testkit"
)

// userCodeRE is the shape of a user code: 8 characters of an alphabet
// without vowels or look-alikes (no 0/O, 1/I), shown as XXXX-XXXX.
var userCodeRE = regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`)

// TestDeviceFlowOAuth2 runs the whole device grant with golang.org/x/oauth2
// as the device (Config.DeviceAuth, then Config.DeviceAccessToken polling in
// real time) while a cookie-keeping browserless client plays the user on the
// real verification and login pages. The tokens work at userinfo; a second
// device approved from the same browser reuses its SSO session.
func TestDeviceFlowOAuth2(t *testing.T) {
	t.Parallel()
	env := newDeviceEnv(t)
	iss := env.Issuer("tvland")
	cfg := oauth2.Config{
		ClientID: "tv", Scopes: []string{"openid", "email", "profile"},
		Endpoint: oauth2.Endpoint{DeviceAuthURL: iss + pDeviceAuth, TokenURL: iss + pToken, AuthStyle: oauth2.AuthStyleInParams},
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, env.Client())

	da, err := cfg.DeviceAuth(ctx)
	if err != nil {
		t.Fatalf("DeviceAuth: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"verification_uri", da.VerificationURI, iss + "/device"},
		{"verification_uri_complete", da.VerificationURIComplete, iss + "/device?user_code=" + da.UserCode},
		{"interval", da.Interval, int64(1)},
		{"user_code shape", userCodeRE.MatchString(da.UserCode), true},
		{"device_code length (256 bits, base64url)", len(da.DeviceCode), 43},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if left := time.Until(da.Expiry); left < 9*time.Minute || left > 10*time.Minute {
		t.Errorf("expires in %s, want the configured 10m", left)
	}

	type result struct {
		tok *oauth2.Token
		err error
	}
	polled := make(chan result, 1)
	go func() {
		tok, err := cfg.DeviceAccessToken(ctx, da)
		polled <- result{tok, err}
	}()

	browser := env.Client()
	// Typed as a person might: lower case, a space instead of the dash.
	typed := strings.ToLower(strings.Replace(da.UserCode, "-", " ", 1))
	confirm := enterCode(t, env, browser, "tvland", typed)
	for _, want := range []string{"Living Room TV", "TV Land", "Your email address", "Your profile", da.UserCode} {
		if !strings.Contains(confirm.Body, want) {
			t.Errorf("approval page lacks %q:\n%s", want, confirm.Body)
		}
	}
	wantConnected(t, "sign-in after Yes", approveWithLogin(t, env, browser, "tvland", da.UserCode, "alice@example.com", alicePassword))

	var res result
	select {
	case res = <-polled:
	case <-time.After(60 * time.Second):
		t.Fatal("DeviceAccessToken did not return within 60s of the approval")
	}
	if res.err != nil {
		t.Fatalf("DeviceAccessToken: %v", res.err)
	}
	tok := res.tok
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.TokenType != "Bearer" {
		t.Fatalf("token = %+v, want an access token, a refresh token and type Bearer", tok)
	}
	idt, _ := tok.Extra("id_token").(string)
	if idt == "" {
		t.Fatal("no ID token for scope openid")
	}
	idc := env.VerifyJWT(t, "tvland", idt)
	ac := env.VerifyJWT(t, "tvland", tok.AccessToken)
	if ac["azp"] != "tv" || ac["sid"] == nil || ac["sid"] != tok.Extra("session_state") || idc["sub"] != ac["sub"] {
		t.Errorf("access token azp %v sid %v (session_state %v), ID token sub %v vs %v; want azp tv and one session and subject",
			ac["azp"], ac["sid"], tok.Extra("session_state"), idc["sub"], ac["sub"])
	}
	ui := env.Userinfo(t, "tvland", tok.AccessToken)
	if ui.Status != http.StatusOK || ui.JSON()["email"] != "alice@example.com" || ui.JSON()["sub"] != ac["sub"] {
		t.Errorf("userinfo with the device's token = %d %s, want alice's claims", ui.Status, ui.Body)
	}

	t.Run("second device reuses the SSO session", func(t *testing.T) {
		da := startDevice(t, env, "tvland", "tv", "", "openid")
		confirm := enterCode(t, env, browser, "tvland", da.UserCode)
		if !strings.Contains(confirm.Body, "account alice@example.com") {
			t.Errorf("the confirm page of a signed-in browser does not name the account that Yes connects:\n%s", confirm.Body)
		}
		wantConnected(t, "Yes with a live session", answer(t, browser, confirm, "approve"))
		tr := tokenOf(t, poll(t, env, "tvland", "tv", "", da.DeviceCode))
		if c := env.VerifyJWT(t, "tvland", tr["access_token"].(string)); c["sid"] != ac["sid"] {
			t.Errorf("second device's sid = %v, want the browser's session %v", c["sid"], ac["sid"])
		}
	})
}

// TestDeviceFlowKeycloak17Prefix: under /realms/{realm} every URL of the
// grant, and the tokens' issuer, use that prefix.
func TestDeviceFlowKeycloak17Prefix(t *testing.T) {
	t.Parallel()
	env := newDeviceEnv(t)
	alt := env.URL + "/realms/tvland"
	p := deviceAuthCall(t, env, alt, "tv", "", "openid")
	if cc := p.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("device authorization Cache-Control = %q, want no-store", cc)
	}
	da := p.JSON(t)
	if p.Status != http.StatusOK || da["verification_uri"] != alt+"/device" {
		t.Fatalf("device authorization under /realms/ = %d %s, want verification_uri %s/device", p.Status, p.Body, alt)
	}
	c := env.Client()
	entry := get(t, c, alt+"/device?user_code="+da["user_code"].(string))
	f := testkit.ParseForm(t, entry.Body)
	if f.Action != alt+"/device" || f.Fields.Get("user_code") != da["user_code"] {
		t.Fatalf("entry page under /realms/: action %q, prefilled %q; want %s/device and %v", f.Action, f.Fields.Get("user_code"), alt, da["user_code"])
	}
}

// TestDevicePolling pins the token endpoint's answers to a polling device.
func TestDevicePolling(t *testing.T) {
	t.Parallel()
	env := newDeviceEnv(t)

	t.Run("slow_down raises the interval by 5s for good", func(t *testing.T) {
		da := startDevice(t, env, "tvland", "tv", "", "openid")
		wantOAuthError(t, "first poll", poll(t, env, "tvland", "tv", "", da.DeviceCode), "authorization_pending")
		wantOAuthError(t, "immediate second poll", poll(t, env, "tvland", "tv", "", da.DeviceCode), "slow_down")
		// The interval is now 1s+5s: a poll 2s later is still too fast...
		env.Clock.Advance(2 * time.Second)
		wantOAuthError(t, "poll 2s later (interval 6s)", poll(t, env, "tvland", "tv", "", da.DeviceCode), "slow_down")
		// ...and that made it 11s; 11s later the device is in step again.
		env.Clock.Advance(11 * time.Second)
		wantOAuthError(t, "poll 11s later (interval 11s)", poll(t, env, "tvland", "tv", "", da.DeviceCode), "authorization_pending")
		env.Clock.Advance(11 * time.Second)
		wantOAuthError(t, "poll another 11s later", poll(t, env, "tvland", "tv", "", da.DeviceCode), "authorization_pending")
	})

	t.Run("expired device code", func(t *testing.T) {
		da := startDevice(t, env, "tvland", "tv", "", "openid")
		env.Clock.Advance(10*time.Minute + time.Second)
		wantOAuthError(t, "poll after the lifespan", poll(t, env, "tvland", "tv", "", da.DeviceCode), "expired_token")
		c := env.Client()
		if p := enterCode(t, env, c, "tvland", da.UserCode); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "not valid or has expired") {
			t.Errorf("expired user code on the page = %d, want 400 with the entry form again:\n%s", p.Status, p.Body)
		}
	})

	t.Run("deny", func(t *testing.T) {
		da := startDevice(t, env, "tvland", "tv", "", "openid")
		c := env.Client()
		no := answer(t, c, enterCode(t, env, c, "tvland", da.UserCode), "deny")
		if no.Status != http.StatusOK || !strings.Contains(no.Body, "Access denied") {
			t.Fatalf("No = %d, want 200 \"Access denied\":\n%s", no.Status, no.Body)
		}
		for range 2 {
			env.Clock.Advance(2 * time.Second)
			wantOAuthError(t, "poll after No", poll(t, env, "tvland", "tv", "", da.DeviceCode), "access_denied")
		}
	})

	t.Run("client without the grant", func(t *testing.T) {
		wantOAuthError(t, "device authorization of web", deviceAuthCall(t, env, env.Issuer("tvland"), "web", "", "openid"), "unauthorized_client")
		wantOAuthError(t, "device_code grant by web", poll(t, env, "tvland", "web", "", "whatever"), "unauthorized_client")
	})

	t.Run("client authentication", func(t *testing.T) {
		if p := deviceAuthCall(t, env, env.Issuer("tvland"), "console", "wrong", "openid"); p.Status != http.StatusUnauthorized || p.JSON(t)["error"] != "invalid_client" {
			t.Errorf("device authorization with a wrong secret = %d %s, want 401 invalid_client", p.Status, p.Body)
		}
		if p := deviceAuthCall(t, env, env.Issuer("tvland"), "console", "", "openid"); p.Status != http.StatusUnauthorized || p.JSON(t)["error"] != "invalid_client" {
			t.Errorf("confidential client without its secret = %d %s, want 401 invalid_client", p.Status, p.Body)
		}
		if p := deviceAuthCall(t, env, env.Issuer("tvland"), "nobody", "", "openid"); p.Status != http.StatusUnauthorized && p.Status != http.StatusBadRequest {
			t.Errorf("unknown client = %d %s, want 401 or 400", p.Status, p.Body)
		}
		startDevice(t, env, "tvland", "console", consoleSecret, "openid email")
	})

	t.Run("another client's device code", func(t *testing.T) {
		da := startDevice(t, env, "tvland", "tv", "", "openid")
		wantOAuthError(t, "console polling tv's code", poll(t, env, "tvland", "console", consoleSecret, da.DeviceCode), "invalid_grant")
		wantOAuthError(t, "tv itself", poll(t, env, "tvland", "tv", "", da.DeviceCode), "authorization_pending")
		wantOAuthError(t, "unknown device code", poll(t, env, "tvland", "tv", "", "no-such-code"), "invalid_grant")
		wantOAuthError(t, "oversized device code", poll(t, env, "tvland", "tv", "", strings.Repeat("x", 300)), "invalid_grant")
		wantOAuthError(t, "another realm", poll(t, env, "limited", "tv", "", da.DeviceCode), "invalid_grant")
	})

	t.Run("tokens once, then the code is spent", func(t *testing.T) {
		da := startDevice(t, env, "tvland", "console", consoleSecret, "openid")
		c := env.Client()
		wantConnected(t, "sign-in", approveWithLogin(t, env, c, "tvland", da.UserCode, "alice@example.com", alicePassword))
		tp := poll(t, env, "tvland", "console", consoleSecret, da.DeviceCode)
		if cc := tp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("token response Cache-Control = %q, want no-store", cc)
		}
		tr := tokenOf(t, tp)
		if tr["refresh_token"] != nil || tr["id_token"] == nil || tr["session_state"] == nil || tr["not-before-policy"] == nil {
			t.Errorf("token response %v: want an ID token, session_state and not-before-policy, and no refresh token (console lacks the grant)", tr)
		}
		wantOAuthError(t, "poll after the tokens", poll(t, env, "tvland", "console", consoleSecret, da.DeviceCode), "invalid_grant")
	})

	t.Run("session ended before the poll", func(t *testing.T) {
		da := startDevice(t, env, "tvland", "tv", "", "openid")
		c := env.Client()
		wantConnected(t, "sign-in", approveWithLogin(t, env, c, "tvland", da.UserCode, "alice@example.com", alicePassword))
		u, err := env.Store.GetUserByEmail(context.Background(), "tvland", "alice@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if err := env.Store.DeleteUserSessions(context.Background(), "tvland", u.ID); err != nil {
			t.Fatal(err)
		}
		wantOAuthError(t, "poll after the session ended", poll(t, env, "tvland", "tv", "", da.DeviceCode), "invalid_grant")
	})
}

// TestDeviceConcurrentPolls: of many polls racing after approval exactly
// one gets the tokens; the others are refused.
func TestDeviceConcurrentPolls(t *testing.T) {
	t.Parallel()
	env := newDeviceEnv(t)
	da := startDevice(t, env, "tvland", "tv", "", "openid")
	c := env.Client()
	wantConnected(t, "sign-in", approveWithLogin(t, env, c, "tvland", da.UserCode, "alice@example.com", alicePassword))
	const n = 8
	pages := make(chan page, n)
	start := make(chan struct{})
	for range n {
		go func() {
			<-start
			pages <- poll(t, env, "tvland", "tv", "", da.DeviceCode)
		}()
	}
	close(start)
	ok, refused := 0, 0
	for range n {
		p := <-pages
		switch {
		case p.Status == http.StatusOK:
			ok++
		case p.Status == http.StatusBadRequest && p.JSON(t)["error"] == "invalid_grant":
			refused++
		default:
			t.Errorf("concurrent poll = %d %s, want 200 or 400 invalid_grant", p.Status, p.Body)
		}
	}
	if ok != 1 || refused != n-1 {
		t.Errorf("%d concurrent polls after approval: %d got tokens, %d refused; want exactly 1 and %d", n, ok, refused, n-1)
	}
}

// TestDeviceVerificationPage pins the user's side: codes are case- and
// dash-insensitive, single use, refused when wrong, and the forms are CSRF
// protected.
func TestDeviceVerificationPage(t *testing.T) {
	t.Parallel()
	env := newDeviceEnv(t)

	t.Run("prefilled from verification_uri_complete", func(t *testing.T) {
		da := startDevice(t, env, "tvland", "tv", "", "openid")
		p := get(t, env.Client(), da.VerificationURIComplete)
		if f := testkit.ParseForm(t, p.Body); p.Status != http.StatusOK || f.Fields.Get("user_code") != da.UserCode {
			t.Errorf("GET %s = %d, prefilled %q; want 200 and %q", da.VerificationURIComplete, p.Status, f.Fields.Get("user_code"), da.UserCode)
		}
	})

	t.Run("code spellings", func(t *testing.T) {
		da := startDevice(t, env, "tvland", "tv", "", "openid")
		for _, spelling := range []string{da.UserCode, strings.ToLower(da.UserCode), strings.ReplaceAll(da.UserCode, "-", ""),
			" " + strings.Replace(da.UserCode, "-", " - ", 1) + " "} {
			if p := enterCode(t, env, env.Client(), "tvland", spelling); p.Status != http.StatusOK || !strings.Contains(p.Body, `id="approve"`) {
				t.Errorf("code typed as %q = %d, want the approval page:\n%s", spelling, p.Status, p.Body)
			}
		}
	})

	t.Run("wrong codes", func(t *testing.T) {
		for _, code := range []string{"BCDF-GHJK", "0000-0000", "", "BCDF-GHJ", strings.Repeat("B", 100), "<script>"} {
			p := enterCode(t, env, env.Client(), "tvland", code)
			if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, `id="user_code"`) || !strings.Contains(p.Body, "not valid or has expired") {
				t.Errorf("code %q = %d, want 400 with the entry form and its error:\n%s", code, p.Status, p.Body)
			}
		}
	})

	t.Run("a used code is refused", func(t *testing.T) {
		da := startDevice(t, env, "tvland", "tv", "", "openid")
		c := env.Client()
		confirm := enterCode(t, env, c, "tvland", da.UserCode)
		if p := answer(t, c, confirm, "deny"); p.Status != http.StatusOK {
			t.Fatalf("No = %d %s", p.Status, p.Body)
		}
		if p := answer(t, c, confirm, "approve"); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "already used") {
			t.Errorf("Yes on the same approval page after No = %d, want 400 \"already used\":\n%s", p.Status, p.Body)
		}
		if p := enterCode(t, env, env.Client(), "tvland", da.UserCode); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "already used") {
			t.Errorf("the used code entered again = %d, want 400 \"already used\":\n%s", p.Status, p.Body)
		}
		env.Clock.Advance(2 * time.Second)
		wantOAuthError(t, "poll", poll(t, env, "tvland", "tv", "", da.DeviceCode), "access_denied")
	})

	t.Run("CSRF", func(t *testing.T) {
		da := startDevice(t, env, "tvland", "tv", "", "openid")
		c := env.Client()
		confirm := enterCode(t, env, c, "tvland", da.UserCode)
		f := testkit.ParseForm(t, confirm.Body)
		f.Fields.Set("action", "approve")
		f.Fields.Del("csrf_token")
		if p := postForm(t, c, f.Action, f.Fields, "", ""); p.Status != http.StatusForbidden {
			t.Errorf("Yes without the CSRF token = %d, want 403", p.Status)
		}
		// A token of another code's form does not approve this one.
		other := startDevice(t, env, "tvland", "tv", "", "openid")
		of := testkit.ParseForm(t, enterCode(t, env, c, "tvland", other.UserCode).Body)
		f.Fields.Set("csrf_token", of.Fields.Get("csrf_token"))
		if p := postForm(t, c, f.Action, f.Fields, "", ""); p.Status != http.StatusForbidden {
			t.Errorf("Yes with another code's CSRF token = %d, want 403", p.Status)
		}
		wantOAuthError(t, "poll", poll(t, env, "tvland", "tv", "", da.DeviceCode), "authorization_pending")
		// The code was not spent by the refused posts.
		if p := answer(t, c, confirm, "approve"); p.Status != http.StatusFound {
			t.Errorf("Yes with the right token afterwards = %d, want 302 to the login page:\n%s", p.Status, p.Body)
		}
	})
}

// TestDeviceRateLimits: the device authorization endpoint and the
// verification page's posts spend the realm's per-IP budget (3/m here).
func TestDeviceRateLimits(t *testing.T) {
	t.Parallel()
	env := newDeviceEnv(t)
	iss := env.Issuer("limited")
	for i := range 3 {
		if p := deviceAuthCall(t, env, iss, "tv", "", "openid"); p.Status != http.StatusOK {
			t.Fatalf("device authorization %d = %d %s, want 200", i+1, p.Status, p.Body)
		}
	}
	p := deviceAuthCall(t, env, iss, "tv", "", "openid")
	if p.Status != http.StatusTooManyRequests || p.Header.Get("Retry-After") == "" || p.JSON(t)["error"] == nil {
		t.Errorf("4th device authorization in a minute = %d Retry-After %q %s, want 429 with Retry-After and an OAuth error",
			p.Status, p.Header.Get("Retry-After"), p.Body)
	}
	c := env.Client()
	page := enterCode(t, env, c, "limited", "BCDF-GHJK")
	if page.Status != http.StatusTooManyRequests || page.Header.Get("Retry-After") == "" || !strings.Contains(page.Body, "Too many attempts") {
		t.Errorf("code entry over the budget = %d Retry-After %q, want the 429 page:\n%s", page.Status, page.Header.Get("Retry-After"), page.Body)
	}
	env.Clock.Advance(time.Minute)
	if p := deviceAuthCall(t, env, iss, "tv", "", "openid"); p.Status != http.StatusOK {
		t.Errorf("device authorization a minute later = %d %s, want 200", p.Status, p.Body)
	}
}

// TestDeviceMagicLink: the login page of a device grant offers "email me a
// sign-in link" too; the link, opened anywhere, approves that grant and ends
// on the "device connected" page instead of redirecting with a code. A link
// used after the grant ended connects nothing. The link, like the grant's
// login page, works only in the browser that entered the code and pressed
// Yes: otherwise an attacker could start a grant for his own device and have
// the login page mail its link to a victim, whose one click on a genuine
// sign-in mail would connect the attacker's device to her account.
func TestDeviceMagicLink(t *testing.T) {
	t.Parallel()
	env := newDeviceEnv(t)
	// requestLink goes from the device's code to the mailed link.
	requestLink := func(t *testing.T, code, email string) (c *http.Client, link, loginPage string) {
		t.Helper()
		c = env.Client()
		yes := answer(t, c, enterCode(t, env, c, "tvland", code), "approve")
		loginPage = yes.Location(t).String()
		f := testkit.ParseForm(t, get(t, c, loginPage).Body)
		f.Fields.Set("username", email)
		f.Fields.Set("action", "email-link")
		before := env.Mail.CountTo(email)
		if p := postForm(t, c, f.Action, f.Fields, "", ""); p.Status != http.StatusOK || !strings.Contains(p.Body, "Check your email") {
			t.Fatalf("email-link POST = %d:\n%s", p.Status, p.Body)
		}
		msg := env.Mail.WaitFor(t, email, 10*time.Second)
		if n := env.Mail.CountTo(email); n != before+1 {
			t.Fatalf("%d mails to %s, want %d", n, email, before+1)
		}
		if link = msg.FindLink("/kobil-magic-link/login"); link == "" {
			t.Fatal("the mail carries no sign-in link")
		}
		return c, link, loginPage
	}
	// useLink opens the link in browser c and presses its button.
	useLink := func(t *testing.T, c *http.Client, link string) page {
		t.Helper()
		landing := get(t, c, link)
		lf := testkit.ParseForm(t, landing.Body)
		return postForm(t, c, lf.Action, lf.Fields, "", "")
	}

	t.Run("approves the grant", func(t *testing.T) {
		da := startDevice(t, env, "tvland", "tv", "", "openid email")
		browser, link, loginPage := requestLink(t, da.UserCode, "alice@example.com")
		wantConnected(t, "magic-link landing POST", useLink(t, browser, link))
		tr := tokenOf(t, poll(t, env, "tvland", "tv", "", da.DeviceCode))
		if c := env.VerifyJWT(t, "tvland", tr["access_token"].(string)); c["email"] != "alice@example.com" || c["azp"] != "tv" {
			t.Errorf("access token email %v azp %v, want alice@example.com and tv", c["email"], c["azp"])
		}
		if p := get(t, env.Client(), loginPage); p.Status != http.StatusBadRequest {
			t.Errorf("login page of the finished grant = %d, want 400", p.Status)
		}
	})

	t.Run("grant ended before the link was used", func(t *testing.T) {
		da := startDevice(t, env, "tvland", "tv", "", "openid")
		browser, link, _ := requestLink(t, da.UserCode, "alice@example.com")
		env.Clock.Advance(10*time.Minute + time.Second) // the grant's lifespan; the link lives 15m
		p := useLink(t, browser, link)
		if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "device sign-in has ended") || p.Header.Get("Location") != "" {
			t.Errorf("link of an ended grant = %d Location %q, want 400 \"has ended\" and no redirect:\n%s", p.Status, p.Header.Get("Location"), p.Body)
		}
		wantOAuthError(t, "poll", poll(t, env, "tvland", "tv", "", da.DeviceCode), "expired_token")
	})

	t.Run("a link mailed to someone else connects nothing", func(t *testing.T) {
		// The attacker's browser enters his device's code, presses Yes and
		// asks the login page to mail a link to the victim.
		da := startDevice(t, env, "tvland", "tv", "", "openid offline_access")
		_, link, _ := requestLink(t, da.UserCode, "alice@example.com")
		victim := env.Client()
		if p := useLink(t, victim, link); p.Status != http.StatusForbidden || strings.Contains(p.Body, "Device connected") {
			t.Errorf("the link in the victim's browser = %d, want 403 and nothing connected:\n%s", p.Status, p.Body)
		}
		wantOAuthError(t, "poll", poll(t, env, "tvland", "tv", "", da.DeviceCode), "authorization_pending")
	})
}

// TestDeviceLoginPageBoundToBrowser: the login page a device grant's Yes
// leads to works only in the browser that pressed Yes. Handed to someone
// else (who would see a sign-in page without the device's code), it
// connects nothing.
func TestDeviceLoginPageBoundToBrowser(t *testing.T) {
	t.Parallel()
	env := newDeviceEnv(t)
	da := startDevice(t, env, "tvland", "tv", "", "openid")
	attacker := env.Client()
	loginURL := answer(t, attacker, enterCode(t, env, attacker, "tvland", da.UserCode), "approve").Location(t).String()
	if p := get(t, attacker, loginURL); p.Status != http.StatusOK || !strings.Contains(p.Body, "Sign in to connect Living Room TV") {
		t.Errorf("login page in the browser that pressed Yes = %d, want 200 naming the device's client:\n%s", p.Status, p.Body)
	}
	victim := env.Client()
	if p := get(t, victim, loginURL); p.Status != http.StatusForbidden || strings.Contains(p.Body, `name="password"`) {
		t.Fatalf("login page in another browser = %d, want 403 without a password form:\n%s", p.Status, p.Body)
	}
	// Even with a form lifted from the attacker's page, the victim's post is refused.
	f := testkit.ParseForm(t, get(t, attacker, loginURL).Body)
	f.Fields.Set("username", "alice@example.com")
	f.Fields.Set("password", "alice-password-1")
	f.Fields.Set("action", "password")
	if p := postForm(t, victim, f.Action, f.Fields, "", ""); p.Status != http.StatusForbidden {
		t.Errorf("login POST from another browser = %d, want 403", p.Status)
	}
	wantOAuthError(t, "poll", poll(t, env, "tvland", "tv", "", da.DeviceCode), "authorization_pending")
}

// TestDeviceCodesStoredKeyed checks that neither code is stored as itself
// or as its plain SHA-256: the user code has only about 34 bits, so its
// stored hash is keyed by a realm secret that a database dump lacks.
func TestDeviceCodesStoredKeyed(t *testing.T) {
	t.Parallel()
	env := newDeviceEnv(t)
	da := startDevice(t, env, "tvland", "tv", "", "openid")
	norm := strings.ReplaceAll(da.UserCode, "-", "")
	plain := func(s string) string { sum := sha256.Sum256([]byte(s)); return hex.EncodeToString(sum[:]) }
	for _, h := range []string{norm, da.UserCode, plain(norm), plain(da.UserCode)} {
		if _, err := env.Store.PeekOneTimeToken(context.Background(), "tvland", "user_code", h); err == nil {
			t.Errorf("user code findable in the store by %q", h)
		}
	}
	if _, err := env.Store.PeekOneTimeToken(context.Background(), "tvland", "device_code", da.DeviceCode); err == nil {
		t.Error("device code stored as itself")
	}
	// And the keyed hash still finds it: the verification page accepts it.
	if p := enterCode(t, env, env.Client(), "tvland", strings.ToLower(da.UserCode)); p.Status != http.StatusOK {
		t.Errorf("entering the user code = %d, want the confirm page", p.Status)
	}
}
