package magiclink_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/internal/testkit"
	"github.com/latchkey/latchkey/internal/testkit/browser"
)

// TestBrowserMagicLinkWithPasswordReset clicks an emailed link in headless
// Chromium, presses the confirm button, sets a new password and lands on the
// client's redirect URI, whose code the test then exchanges.
func TestBrowserMagicLinkWithPasswordReset(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	browser.Path(t) // skips early without Chromium

	codes := make(chan string, 1)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/cb" {
			http.NotFound(w, r)
			return
		}
		select {
		case codes <- r.URL.Query().Get("code"):
		default:
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><title>App</title><h1 id="signed-in">Signed in</h1>`))
	}))
	t.Cleanup(app.Close)
	appCallback := app.URL + "/cb"
	env := testkit.New(t, strings.ReplaceAll(testConfig, `redirectUris: ["https://app.example.com/cb"]`,
		`redirectUris: ["https://app.example.com/cb", "`+appCallback+`"]`))

	link := sendLink(t, env, "acme", env.ServiceToken(t, "acme", "svc", "svc-secret"), linkRequest("mona@example.com", map[string]any{
		"redirectUri": appCallback, "resetPassword": true, "state": "browser-state",
	}))

	ctx, cancelTimeout := context.WithTimeout(browser.New(t), 30*time.Second)
	defer cancelTimeout()

	if err := chromedp.Do(ctx, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#confirm"))); err != nil {
		t.Fatalf("open the link: %v", err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	confirmText, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#confirm")))
	if err != nil {
		t.Fatalf("read the confirm button: %v", err)
	}
	saveArtifact(t, "magiclink-confirm.png", shot)
	if !strings.Contains(confirmText, "Continue as mona@example.com") {
		t.Fatalf("confirm button says %q", confirmText)
	}

	const pw = "browser-password-1"
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#confirm")),
		chromedp.WaitVisible(chromedp.CSS("#password-new")),
		chromedp.SendKeys(chromedp.CSS("#password-new"), pw),
		chromedp.SendKeys(chromedp.CSS("#password-confirm"), pw),
		chromedp.Click(chromedp.CSS("#save-password")),
		chromedp.WaitVisible(chromedp.CSS("#signed-in")),
	); err != nil {
		t.Fatalf("confirm and set the password: %v (browser at %s)", err, browserState(ctx))
	}
	location, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(location, appCallback+"?") || !strings.Contains(location, "state=browser-state") {
		t.Fatalf("landed on %s, want %s with the state", location, appCallback)
	}
	var code string
	select {
	case code = <-codes:
	case <-time.After(10 * time.Second):
		t.Fatal("the client's redirect URI never received the code")
	}

	octx := gooidc.ClientContext(context.Background(), env.Client())
	prov, err := gooidc.NewProvider(octx, env.Issuer("acme"))
	if err != nil {
		t.Fatal(err)
	}
	conf := oauth2.Config{ClientID: "conf", ClientSecret: "conf-secret", Endpoint: prov.Endpoint(), RedirectURL: appCallback}
	tok, err := conf.Exchange(octx, code)
	if err != nil {
		t.Fatalf("exchange the code: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := prov.Verifier(&gooidc.Config{ClientID: "conf", Now: env.Clock.Now}).Verify(octx, raw)
	if err != nil {
		t.Fatalf("verify the ID token: %v", err)
	}
	rl, _ := env.Server.Realms.Get("acme")
	u, err := rl.Authenticate(context.Background(), "mona@example.com", pw)
	if err != nil || u.ID != idt.Subject {
		t.Fatalf("login with the new password: user %q, %v; want the ID token's subject %q", u.ID, err, idt.Subject)
	}
}

// browserState describes where the browser is, for failure messages.
func browserState(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	text, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	return fmt.Sprintf("%s showing %q", loc, text)
}

// saveArtifact writes b to the test's temp dir and, when LATCHKEY_ARTIFACTS
// is set, to that directory too.
func saveArtifact(t *testing.T, name string, b []byte) {
	t.Helper()
	if len(b) == 0 {
		t.Fatalf("artifact %s is empty", name)
	}
	dirs := []string{t.TempDir()}
	if d := os.Getenv("LATCHKEY_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("artifacts dir: %v", err)
		}
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatalf("write artifact: %v", err)
		}
		t.Logf("screenshot: %s", p)
	}
}
