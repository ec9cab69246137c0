package oidc_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/testkit"
	"github.com/latchkey/latchkey/internal/testkit/browser"
)

// TestBrowserLogin logs in through the real login page in headless Chromium:
// the browser follows the authorization redirect, the user types their
// credentials, and the relying party's callback on 127.0.0.1 receives the
// code, which then exchanges. A second authorization reuses the SSO session.
func TestBrowserLogin(t *testing.T) {
	t.Parallel()
	ctx := browser.New(t)
	codes := make(chan url.Values, 4)
	rpSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/cb" {
			http.NotFound(w, r)
			return
		}
		codes <- r.URL.Query()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><title>RP</title><p id="done">signed in</p>`))
	}))
	t.Cleanup(rpSrv.Close)
	redirect := rpSrv.URL + "/cb"
	env := newEnv(t, func(cfg *config.Config) { addRedirect(cfg, "acme", "web", redirect) })

	authorize := func(state string) (string, string) {
		verifier, challenge := pkcePair()
		q := url.Values{"client_id": {"web"}, "redirect_uri": {redirect}, "response_type": {"code"}, "scope": {"openid email"},
			"state": {state}, "nonce": {randomString()}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
		return authURL(env, "acme", q), verifier
	}
	waitCode := func(t *testing.T, state string) string {
		t.Helper()
		select {
		case q := <-codes:
			if q.Get("state") != state || q.Get("code") == "" {
				t.Fatalf("RP callback got %v, want a code and state %q", q, state)
			}
			return q.Get("code")
		case <-time.After(30 * time.Second):
			t.Fatalf("the RP callback was not reached")
			return ""
		}
	}
	redeem := func(t *testing.T, code, verifier string) {
		t.Helper()
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect},
			"client_id": {"web"}, "code_verifier": {verifier}}
		status, tr := token(t, env, env.Client(), "acme", form, "", "")
		if status != http.StatusOK || tr.IDToken == "" {
			t.Fatalf("exchange of the browser's code = %d %+v, want 200 with an ID token", status, tr)
		}
		if sub := testkit.Claims(t, tr.IDToken)["email"]; sub != "alice@example.com" {
			t.Errorf("ID token email = %v, want alice@example.com", sub)
		}
	}

	first, verifier := authorize("browser-1")
	steps, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(steps, chromedp.Navigate(first), chromedp.WaitVisible(chromedp.ID("username"))); err != nil {
		t.Fatalf("open the authorization URL: %v", err)
	}
	heading, err := chromedp.Run(steps, chromedp.Text(chromedp.CSS("h1")))
	if err != nil {
		t.Fatalf("read the login page heading: %v", err)
	}
	if !strings.Contains(heading, "Acme Corp") {
		t.Errorf("login page heading = %q, want the realm's display name", heading)
	}
	err = chromedp.Do(steps,
		chromedp.SendKeys(chromedp.ID("username"), "alice@example.com"),
		chromedp.SendKeys(chromedp.ID("password"), alicePassword),
		chromedp.Click(chromedp.CSS(`button[name="action"][value="password"]`)),
		chromedp.WaitVisible(chromedp.ID("done")),
	)
	if err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		body, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
		t.Fatalf("submit the login form: %v (browser at %s:\n%s)\nlogs:\n%s", err, loc, body, env.Logs.String())
	}
	landed, err := chromedp.Run(steps, chromedp.Location())
	if err != nil {
		t.Fatalf("read the location: %v", err)
	}
	if !strings.HasPrefix(landed, redirect+"?") {
		t.Errorf("browser landed on %q, want the RP callback %s", landed, redirect)
	}
	redeem(t, waitCode(t, "browser-1"), verifier)

	t.Run("SSO without the login page", func(t *testing.T) {
		second, verifier := authorize("browser-2")
		steps, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(steps, chromedp.Navigate(second), chromedp.WaitVisible(chromedp.ID("done"))); err != nil {
			t.Fatalf("second authorization: %v", err)
		}
		redeem(t, waitCode(t, "browser-2"), verifier)
	})
}

// TestBrowserDeviceFlow approves a device in headless Chromium: the browser
// opens verification_uri_complete, continues with the prefilled code,
// presses Yes, signs in on the login page and lands on the "device
// connected" page; the device's next poll gets the tokens.
func TestBrowserDeviceFlow(t *testing.T) {
	t.Parallel()
	ctx := browser.New(t)
	env := newDeviceEnv(t)
	da := startDevice(t, env, "tvland", "tv", "", "openid email")
	wantOAuthError(t, "poll before approval", poll(t, env, "tvland", "tv", "", da.DeviceCode), "authorization_pending")

	steps, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	fail := func(what string, err error) {
		t.Helper()
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		body, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
		t.Fatalf("%s: %v (browser at %s:\n%s)\nlogs:\n%s", what, err, loc, body, env.Logs.String())
	}
	if err := chromedp.Do(steps, chromedp.Navigate(da.VerificationURIComplete), chromedp.WaitVisible(chromedp.ID("user_code"))); err != nil {
		fail("open verification_uri_complete", err)
	}
	if prefilled, err := chromedp.Run(steps, chromedp.Value(chromedp.ID("user_code"))); err != nil || prefilled != da.UserCode {
		t.Errorf("code field prefilled with %q (%v), want %q", prefilled, err, da.UserCode)
	}
	if err := chromedp.Do(steps, chromedp.Click(chromedp.ID("submit-code")), chromedp.WaitVisible(chromedp.ID("approve"))); err != nil {
		fail("continue with the prefilled code", err)
	}
	if text, err := chromedp.Run(steps, chromedp.Text(chromedp.CSS("main"))); err != nil ||
		!strings.Contains(text, "Living Room TV") || !strings.Contains(text, da.UserCode) {
		t.Errorf("approval page text %q (%v), want the client's name and the code", text, err)
	}
	err := chromedp.Do(steps,
		chromedp.Click(chromedp.ID("approve")),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "alice@example.com"),
		chromedp.SendKeys(chromedp.ID("password"), alicePassword),
		chromedp.Click(chromedp.CSS(`button[name="action"][value="password"]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[text()="Device connected"]`)),
	)
	if err != nil {
		fail("approve and sign in", err)
	}
	env.Clock.Advance(2 * time.Second) // the device's next poll, one interval later
	tr := tokenOf(t, poll(t, env, "tvland", "tv", "", da.DeviceCode))
	if c := env.VerifyJWT(t, "tvland", tr["access_token"].(string)); c["email"] != "alice@example.com" {
		t.Errorf("access token email = %v, want alice@example.com", c["email"])
	}
}
