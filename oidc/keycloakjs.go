package oidc

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"html"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/gorilla/mux"
)

// The pages Keycloak's JavaScript adapter (keycloak-js) loads from the realm
// with its default options, relative to the issuer: the session-status
// iframe (OIDC Session Management's check_session_iframe, Keycloak's
// dialect) with its origin pre-check and our status check behind it, and
// the two steps of the third-party-cookie probe the adapter runs first.
const (
	pathLoginStatusIframe = "/protocol/openid-connect/login-status-iframe.html"
	pathLoginStatusInit   = pathLoginStatusIframe + "/init"
	pathLoginStatus       = pathLoginStatusIframe + "/status"
	path3pCookiesStep1    = "/protocol/openid-connect/3p-cookies/step1.html"
	path3pCookiesStep2    = "/protocol/openid-connect/3p-cookies/step2.html"
)

// probeCookie is the third-party-cookie probe's test cookie.
const probeCookie = "LATCHKEY_3P_COOKIE"

// Answers of the status check, as the adapter expects them from the iframe.
const (
	statusUnchanged = "unchanged"
	statusChanged   = "changed"
	statusError     = "error"
)

//go:embed keycloakjs/*.js
var keycloakJSAssets embed.FS

// kcjsPage is a static page with one inline script, allowed by its CSP hash.
type kcjsPage struct {
	script string
	hash   string // 'sha256-…' source expression of script
	title  string
}

var (
	statusIframePage = newKCJSPage("keycloakjs/login-status-iframe.js", "Latchkey session status")
	probeStep2Page   = newKCJSPage("keycloakjs/3p-cookies-step2.js", "Latchkey cookie check")
)

func newKCJSPage(name, title string) kcjsPage {
	b, err := keycloakJSAssets.ReadFile(name)
	if err != nil {
		panic("oidc: embedded asset " + name + " missing: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return kcjsPage{script: string(b), hash: "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'", title: title}
}

// render returns the page's HTML; rootAttrs are attributes of the root
// element (already escaped), the only part that varies.
func (pg kcjsPage) render(rootAttrs string) []byte {
	return []byte(`<!doctype html><html lang="en"` + rootAttrs + `><head><meta charset="utf-8"><title>` +
		html.EscapeString(pg.title) + `</title></head><body><script>` + pg.script + `</script></body></html>`)
}

// mountKeycloakJS registers the keycloak-js pages on one realm prefix's subrouter.
func (ps *Providers) mountKeycloakJS(sub *mux.Router) {
	for _, rt := range []struct {
		path, name string
		h          func(*Provider, http.ResponseWriter, *http.Request)
	}{
		{pathLoginStatusIframe, "login-status-iframe", (*Provider).serveLoginStatusIframe},
		{pathLoginStatusInit, "login-status-init", (*Provider).serveLoginStatusInit},
		{pathLoginStatus, "login-status", (*Provider).serveLoginStatus},
		{path3pCookiesStep1, "3p-cookies-step1", (*Provider).serve3pCookiesStep1},
		{path3pCookiesStep2, "3p-cookies-step2", (*Provider).serve3pCookiesStep2},
	} {
		sub.HandleFunc(rt.path, ps.withProvider(rt.h)).Methods(http.MethodGet, http.MethodHead).Name(rt.name)
	}
}

// allowsOrigin reports whether origin (a browser's scheme://host[:port]) is
// one of the client's web origins.
func (p *Provider) allowsOrigin(clientID, origin string) bool {
	c, ok := p.realm.Client(clientID)
	if !ok || origin == "" || origin == "null" {
		return false
	}
	for _, o := range clientWebOrigins(c) {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

// frameAncestors is the CSP frame-ancestors value of the keycloak-js pages:
// every web origin of the realm's clients (the adapter embeds them in the
// application's page), 'none' when there is none. An origin with a
// character that could break out of the header is left out; config
// validation does not let one in.
func (p *Provider) frameAncestors() string {
	seen := map[string]bool{}
	var out []string
	for _, c := range p.realm.Clients() {
		for _, o := range clientWebOrigins(c) {
			if o == "*" {
				return "*"
			}
			if o = strings.ToLower(o); !seen[o] && safeCSPSource(o) {
				seen[o] = true
				out = append(out, o)
			}
		}
	}
	if len(out) == 0 {
		return "'none'"
	}
	return strings.Join(out, " ")
}

func safeCSPSource(s string) bool {
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune(".-:/[]", r)
		if !ok {
			return false
		}
	}
	return s != ""
}

// writeKCJSPage writes one of the pages with a CSP that runs only its own
// script, may fetch only from this origin and may be framed only by the
// realm's client origins.
func (p *Provider) writeKCJSPage(w http.ResponseWriter, r *http.Request, pg kcjsPage, rootAttrs, cache string) {
	body := pg.render(rootAttrs)
	csp := "default-src 'none'; script-src " + pg.hash + "; connect-src 'self'; frame-ancestors " +
		p.frameAncestors() + "; base-uri 'none'; form-action 'none'"
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", cache)
	if cache == "no-store" {
		_, _ = w.Write(body)
		return
	}
	// The page is the same for every browser until the realm's clients
	// change; an ETag over what is served (headers included) lets the
	// browser revalidate it for a 304.
	sum := sha256.Sum256(append(body, csp...))
	h.Set("ETag", `"`+hex.EncodeToString(sum[:12])+`"`)
	http.ServeContent(w, r, "", time.Time{}, strings.NewReader(string(body)))
}

// serveLoginStatusIframe serves the session-status iframe. Its script asks
// serveLoginStatus on every message the adapter posts.
func (p *Provider) serveLoginStatusIframe(w http.ResponseWriter, r *http.Request) {
	p.writeKCJSPage(w, r, statusIframePage, "", "no-cache")
}

// serveLoginStatusInit is Keycloak's origin pre-check of the iframe
// (init?client_id=…&origin=…): 204 when origin is one of the client's web
// origins, 403 otherwise (also for an unknown client), as Keycloak answers.
func (p *Provider) serveLoginStatusInit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	w.Header().Set("Cache-Control", "no-store")
	if !p.allowsOrigin(q.Get("client_id"), q.Get("origin")) {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// serveLoginStatus answers the iframe's question (client_id, origin,
// session_state) with "unchanged", "changed" or, with 403, "error", as
// plain text. Only the frame's own page may ask: a request another site
// sends (Sec-Fetch-Site) is refused. Reading the session does not extend
// it: an open application polling every few seconds must not keep an idle
// SSO session alive, as Keycloak's cookie-only check does not.
func (p *Provider) serveLoginStatus(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	q := r.URL.Query()
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(statusError))
		return
	}
	if !p.allowsOrigin(q.Get("client_id"), q.Get("origin")) {
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(statusError))
		return
	}
	_, _ = w.Write([]byte(p.loginStatus(r.Context(), r, q.Get("session_state"))))
}

// loginStatus compares the browser's live SSO session with sessionState
// (the sid of the application's tokens; empty when it has none).
func (p *Provider) loginStatus(ctx context.Context, r *http.Request, sessionState string) string {
	current := p.peekSessionID(ctx, r)
	if subtle.ConstantTimeCompare([]byte(current), []byte(sessionState)) == 1 {
		return statusUnchanged
	}
	return statusChanged
}

// peekSessionID returns the id of the browser's live session of an enabled
// user ("" when there is none) without touching the session.
func (p *Provider) peekSessionID(ctx context.Context, r *http.Request) string {
	c, err := r.Cookie(sessionCookieName(p.realm.Name))
	if err != nil || len(c.Value) < 32 || len(c.Value) > 128 {
		return ""
	}
	s, err := p.realm.Store.GetSessionByTokenHash(ctx, p.realm.Name, hashSecret(c.Value))
	if err != nil {
		return ""
	}
	if now := p.realm.Now(); !now.Before(s.ExpiresAt) || !now.Before(s.IdleUntil) {
		return ""
	}
	if u, err := p.realm.Store.GetUser(ctx, p.realm.Name, s.UserID); err != nil || !u.Enabled {
		return ""
	}
	return s.ID
}

// serve3pCookiesStep1 starts the third-party-cookie probe: it sets a test
// cookie and sends the frame on to step2, which reports whether it came
// back. The cookie has the SSO session cookie's SameSite and Secure
// attributes, so "supported" means exactly that the session cookie reaches
// the status iframe embedded in the application's page (over http on
// loopback as well: no Secure there, as for the session cookie). A probe
// cookie with SameSite=None would answer "supported" where the session
// cookie is not sent, and the adapter would then see every check as a logout.
func (p *Provider) serve3pCookiesStep1(w http.ResponseWriter, r *http.Request) {
	dir := path.Dir(r.URL.Path) + "/"
	c := p.sessionLikeCookie(r, probeCookie, "supported", 60)
	c.Path = dir
	http.SetCookie(w, c)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, dir+path.Base(path3pCookiesStep2), http.StatusFound)
}

// serve3pCookiesStep2 reports the probe's finding to the adapter and
// clears the test cookie.
func (p *Provider) serve3pCookiesStep2(w http.ResponseWriter, r *http.Request) {
	result := "unsupported"
	if c, err := r.Cookie(probeCookie); err == nil && c.Value == "supported" {
		result = "supported"
		clear := p.sessionLikeCookie(r, probeCookie, "", -1)
		clear.Path = path.Dir(r.URL.Path) + "/"
		http.SetCookie(w, clear)
	}
	p.writeKCJSPage(w, r, probeStep2Page, ` data-result="`+result+`"`, "no-store")
}
