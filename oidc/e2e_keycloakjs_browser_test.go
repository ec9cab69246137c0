package oidc_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/testkit"
	"github.com/latchkey/latchkey/internal/testkit/browser"
)

// keycloakJSModule finds keycloak-js (pinned in e2e/keycloak-js's lockfile).
// Without its node_modules the test is skipped, unless CI=true, where .ci/run
// installs them with npm ci and a missing module is a failure.
func keycloakJSModule(t *testing.T) []byte {
	t.Helper()
	file, err := filepath.Abs("../e2e/keycloak-js/node_modules/keycloak-js/lib/keycloak.js")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		msg := "e2e/keycloak-js/node_modules missing (run npm ci there): " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return b
}

// spaPage is the single-page application: keycloak-js with default options
// but for onLoad, which the test chooses per tab through sessionStorage
// (login-required unless set). After init it shows #ready-{onLoad} with
// the outcome as JSON; onAuthLogout shows #auth-logout.
const spaPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>SPA</title></head>
<body><h1>SPA</h1>
<script type="module">
import Keycloak from '/keycloak.js'
const show = (id, text) => {
  const p = document.createElement('p')
  p.id = id
  p.textContent = text
  document.body.appendChild(p)
}
const kc = new Keycloak({ url: KC_URL, realm: 'acme', clientId: 'spa' })
window.kc = kc
kc.onAuthLogout = () => show('auth-logout', 'logged out')
const onLoad = sessionStorage.getItem('onLoad') || 'login-required'
const opts = { onLoad }
if (sessionStorage.getItem('silent') === '1') {
  opts.silentCheckSsoRedirectUri = location.origin + '/silent-check-sso.html'
}
let result
try {
  const authenticated = await kc.init(opts)
  result = { authenticated, subject: kc.subject || '', sid: kc.sessionId || '',
    statusIframe: document.querySelector('iframe[title="keycloak-session-iframe"]') !== null }
} catch (e) {
  result = { error: String((e && (e.message || e.error)) || e) }
}
show('ready-' + onLoad, JSON.stringify(result))
</script></body></html>`

// spaResult is what the SPA shows after init.
type spaResult struct {
	Authenticated bool   `json:"authenticated"`
	Subject       string `json:"subject"`
	SID           string `json:"sid"`
	StatusIframe  bool   `json:"statusIframe"`
	Error         string `json:"error"`
}

// startSPA serves the SPA over https on 127.0.0.1 (same site as the test
// server, as an application and its identity provider usually are):
// /blank is an empty page of the origin; /root/ configures keycloak-js with the server root (it adds
// /realms/{realm}), /auth/ with root + "/auth" (Keycloak ≤16's layout).
func startSPA(t *testing.T, module []byte, latchkeyURL func() string) *httptest.Server {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/keycloak.js":
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
			_, _ = w.Write(module)
		case "/blank":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte("<!doctype html><title>blank</title>"))
		case "/silent-check-sso.html": // keycloak-js's documented page
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte("<!doctype html><html><body><script>parent.postMessage(location.href, location.origin)</script></body></html>"))
		case "/root/", "/auth/":
			kcURL := latchkeyURL()
			if r.URL.Path == "/auth/" {
				kcURL += "/auth"
			}
			js, _ := json.Marshal(kcURL)
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(strings.Replace(spaPage, "KC_URL", string(js), 1)))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// addSPAClient registers the SPA as Keycloak's docs set one up: public,
// PKCE S256, redirect URIs under its origin, that origin as web origin, and
// its pages as post-logout redirect URIs.
func addSPAClient(spa string) func(*config.Config) {
	return func(cfg *config.Config) {
		for i := range cfg.Realms {
			if cfg.Realms[i].Name == "acme" {
				cfg.Realms[i].Clients = append(cfg.Realms[i].Clients, config.Client{
					ClientID: "spa", Public: true, PKCE: config.PKCERequired, WildcardRedirects: true,
					RedirectURIs: []string{spa + "/*"}, WebOrigins: []string{spa},
					PostLogoutRedirectURIs: []string{spa + "/root/", spa + "/auth/"},
					GrantTypes:             []string{"authorization_code", "refresh_token"},
				})
			}
		}
	}
}

// spaTab drives one browser tab of the SPA.
type spaTab struct {
	t   *testing.T
	ctx context.Context
	env *testkit.Env
}

// ready waits for the SPA's init outcome in the given onLoad mode.
func (b spaTab) ready(onLoad string) spaResult {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.WaitVisible(chromedp.ID("ready-"+onLoad))); err != nil {
		b.fatal("wait for the SPA's init (%s): %v", onLoad, err)
	}
	text, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.ID("ready-"+onLoad)))
	if err != nil {
		b.fatal("wait for the SPA's init (%s): %v", onLoad, err)
	}
	var res spaResult
	if err := json.Unmarshal([]byte(text), &res); err != nil {
		b.fatal("SPA result %q: %v", text, err)
	}
	if res.Error != "" {
		b.fatal("keycloak-js init (%s) failed: %s", onLoad, res.Error)
	}
	return res
}

// login fills Latchkey's login page, which the tab must be on (or reach).
func (b spaTab) login(issuer string) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.WaitVisible(chromedp.ID("username"))); err != nil {
		b.fatal("wait for the login page: %v", err)
	}
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.fatal("read the location: %v", err)
	}
	if !strings.HasPrefix(loc, issuer+"/") {
		b.t.Errorf("login page at %s, want one under %s", loc, issuer)
	}
	err = chromedp.Do(b.ctx,
		chromedp.SendKeys(chromedp.ID("username"), "alice@example.com"),
		chromedp.SendKeys(chromedp.ID("password"), alicePassword),
		chromedp.Click(chromedp.CSS(`button[name="action"][value="password"]`)),
	)
	if err != nil {
		b.fatal("submit the login form: %v", err)
	}
}

// eval runs an async function body in the SPA and decodes its result.
func eval[T any](b spaTab, body string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](`(async () => {`+body+`})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		b.fatal("evaluate %q: %v", body, err)
	}
	return v
}

func (b spaTab) fatal(format string, args ...any) {
	b.t.Helper()
	loc, _ := chromedp.Run(b.ctx, chromedp.Location())
	html, _ := chromedp.Run(b.ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	b.t.Fatalf(format+"\nbrowser at %s:\n%s\nserver logs:\n%s", append(args, loc, html, b.env.Logs.String())...)
}

// TestKeycloakJS runs Keycloak's JavaScript adapter (npm keycloak-js 26,
// default options) in headless Chromium against Latchkey, under both URL
// forms: login-required sends the SPA to the real login page and back
// authenticated (through the third-party-cookie probe and the session-status
// iframe), updateToken(-1) refreshes, logout() ends the session, and the
// SPA reloaded with check-sso is not authenticated.
func TestKeycloakJS(t *testing.T) {
	module := keycloakJSModule(t)
	var env *testkit.Env
	spa := startSPA(t, module, func() string { return env.URL })
	env = testkit.New(t, e2eConfig, testkit.Options{NoMail: true, Mutate: addSPAClient(spa.URL)})
	alice, err := env.Store.GetUserByEmail(context.Background(), "acme", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}

	for _, form := range []struct{ name, page, issuer string }{
		{"url root", "/root/", env.URL + "/realms/acme"},
		{"url root/auth", "/auth/", env.URL + "/auth/realms/acme"},
	} {
		t.Run(form.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(browser.New(t), 120*time.Second)
			defer cancel()
			tab := spaTab{t: t, ctx: ctx, env: env}
			if err := chromedp.Do(ctx, chromedp.Navigate(spa.URL+form.page)); err != nil {
				tab.fatal("open the SPA: %v", err)
			}
			tab.login(form.issuer)
			res := tab.ready("login-required")
			if !res.Authenticated || res.Subject != alice.ID || res.SID == "" {
				t.Fatalf("after login: %+v, want authenticated as %s with a session id", res, alice.ID)
			}
			if !res.StatusIframe {
				t.Errorf("keycloak-js set up no session-status iframe: the third-party-cookie probe did not answer supported")
			}

			refreshed := eval[map[string]any](tab, `
				const before = { token: kc.token, refresh: kc.refreshToken }
				const updated = await kc.updateToken(-1)
				return { updated, authenticated: kc.authenticated, tokenChanged: kc.token !== before.token,
					refreshChanged: kc.refreshToken !== before.refresh, sub: kc.tokenParsed.sub,
					refreshTyp: kc.refreshTokenParsed.typ, refreshExp: kc.refreshTokenParsed.exp }`)
			if refreshed["updated"] != true || refreshed["authenticated"] != true || refreshed["tokenChanged"] != true ||
				refreshed["refreshChanged"] != true || refreshed["sub"] != alice.ID || refreshed["refreshTyp"] != "Refresh" {
				t.Errorf("updateToken(-1) = %v, want a new access and refresh token (typ Refresh) of the same user", refreshed)
			}
			if exp, _ := refreshed["refreshExp"].(float64); exp < float64(time.Now().Unix()) {
				t.Errorf("refresh token exp = %v, want a time in the future (the adapter reads it)", refreshed["refreshExp"])
			}

			// The status iframe's answers, asked directly from a frame of
			// the test's own (the adapter's frame would take "changed" as a
			// logout).
			answers := eval[[]string](tab, `
				const f = document.createElement('iframe')
				f.src = `+jsString(form.issuer+pStatusIframe)+`
				await new Promise((resolve) => { f.onload = resolve; document.body.appendChild(f) })
				const ask = (msg) => new Promise((resolve) => {
					const h = (e) => { if (e.source === f.contentWindow) { removeEventListener('message', h); resolve(e.data) } }
					addEventListener('message', h)
					f.contentWindow.postMessage(msg, new URL(f.src).origin)
				})
				return [await ask('spa ' + kc.sessionId), await ask('spa not-my-session'), await ask('spa '),
					await ask('web ' + kc.sessionId), await ask('nobody ' + kc.sessionId)]`)
			want := []string{"unchanged", "changed", "changed", "error", "error"}
			if strings.Join(answers, ",") != strings.Join(want, ",") {
				t.Errorf("status iframe answered %v for [own session, another, none, client without this origin, unknown client], want %v", answers, want)
			}

			eval[chromedp.Void](tab, `sessionStorage.setItem('onLoad', 'check-sso'); setTimeout(() => kc.logout()); return null`)
			after := tab.ready("check-sso")
			if after.Authenticated {
				t.Errorf("after logout, check-sso: %+v, want not authenticated", after)
			}
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			if loc != spa.URL+form.page {
				t.Errorf("after logout the SPA is at %s, want %s", loc, spa.URL+form.page)
			}
		})
	}

	t.Run("silent check-sso", func(t *testing.T) {
		// keycloak-js's silentCheckSsoRedirectUri: the session is checked
		// with prompt=none in a hidden iframe, never by a top-level
		// redirect (which it does not fall back to), so "authenticated"
		// proves the iframe round trip worked.
		ctx, cancel := context.WithTimeout(browser.New(t), 120*time.Second)
		defer cancel()
		tab := spaTab{t: t, ctx: ctx, env: env}
		err := chromedp.Do(ctx, chromedp.Navigate(spa.URL+"/blank"),
			chromedp.Evaluate[chromedp.Void](`sessionStorage.setItem('onLoad', 'check-sso'); sessionStorage.setItem('silent', '1')`),
			chromedp.Navigate(spa.URL+"/root/"))
		if err != nil {
			tab.fatal("open the SPA: %v", err)
		}
		if res := tab.ready("check-sso"); res.Authenticated {
			t.Fatalf("silent check-sso before any login: %+v, want not authenticated", res)
		}
		eval[chromedp.Void](tab, `setTimeout(() => kc.login()); return null`)
		tab.login(env.URL + "/realms/acme")
		if res := tab.ready("check-sso"); !res.Authenticated || res.Subject != alice.ID {
			t.Fatalf("after login: %+v, want authenticated as %s", res, alice.ID)
		}
		// A reload finds the session silently.
		if err := chromedp.Do(ctx, chromedp.Navigate(spa.URL+"/root/")); err != nil {
			tab.fatal("reload the SPA: %v", err)
		}
		if res := tab.ready("check-sso"); !res.Authenticated || res.Subject != alice.ID {
			t.Errorf("silent check-sso with a session: %+v, want authenticated as %s", res, alice.ID)
		}
		if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != spa.URL+"/root/" {
			t.Errorf("silent check-sso left the SPA at %s, want %s (no top-level redirect)", loc, spa.URL+"/root/")
		}
	})

	t.Run("logout in another tab", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(browser.New(t), 120*time.Second)
		defer cancel()
		tab := spaTab{t: t, ctx: ctx, env: env}
		issuer := env.URL + "/realms/acme"
		// This tab's SPA runs in check-sso mode from its first load.
		err := chromedp.Do(ctx, chromedp.Navigate(spa.URL+"/blank"),
			chromedp.Evaluate[chromedp.Void](`sessionStorage.setItem('onLoad', 'check-sso')`),
			chromedp.Navigate(spa.URL+"/root/"))
		if err != nil {
			tab.fatal("open the SPA: %v", err)
		}
		if res := tab.ready("check-sso"); res.Authenticated {
			t.Fatalf("check-sso before any login: %+v, want not authenticated", res)
		}
		eval[chromedp.Void](tab, `setTimeout(() => kc.login()); return null`)
		tab.login(issuer)
		res := tab.ready("check-sso")
		if !res.Authenticated || !res.StatusIframe {
			t.Fatalf("after login: %+v, want authenticated with the status iframe", res)
		}
		idToken := eval[string](tab, `return kc.idToken`)

		other, cancelOther := chromedp.NewContext(ctx)
		defer cancelOther()
		q := url.Values{"id_token_hint": {idToken}}
		if err := chromedp.Do(other, chromedp.Navigate(issuer+pLogout+"?"+q.Encode())); err != nil {
			t.Fatalf("logout in the second tab: %v", err)
		}
		// The adapter checks the iframe every 5 s by default.
		if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("auth-logout"))); err != nil {
			tab.fatal("the SPA never noticed the logout (onAuthLogout): %v", err)
		}
		if authenticated := eval[bool](tab, `return kc.authenticated`); authenticated {
			t.Errorf("keycloak-js still authenticated after the session ended elsewhere")
		}
	})
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
