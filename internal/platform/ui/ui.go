// Package ui renders Latchkey's HTML pages (login, magic-link confirmation,
// set-password, logout confirmation, device code entry and approval,
// form_post responses, friendly error pages) from embedded html/template files. Pages work without JavaScript; the only script is the
// form_post auto-submit, allowed by its CSP hash.
package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"

	"github.com/latchkey/latchkey/internal/platform/httpx"
)

//go:embed templates/*.html
var files embed.FS

var pages = template.Must(template.New("").ParseFS(files, "templates/*.html"))

// autoSubmit is the form_post page's only script; its hash goes into the CSP.
const autoSubmit = `document.forms[0].submit();`

// AutoSubmitHash is the CSP source of autoSubmit.
var AutoSubmitHash = func() string {
	sum := sha256.Sum256([]byte(autoSubmit))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}()

// Page is the data every page gets.
type Page struct {
	Title     string
	RealmName string // display name
	Heading   string
	Message   string
	Error     string
	Action    string // form action URL
	CSRF      string
	Fields    map[string]string // extra hidden fields or prefilled values
	Email     string
	Link      string // a link for "what to do next"
	LinkText  string
	ShowLink  bool // login page: offer "email me a sign-in link"
	MinLength int
	// UserCode is the device flow's user code, prefilled or carried along.
	UserCode string
	// Items is a list shown on the page (what a device asks access to).
	Items []string
	// FormTargets are extra CSP form-action sources. Browsers apply
	// form-action to the whole redirect chain of a form submission, so a form
	// whose answer redirects to a client (login, magic-link confirmation)
	// must list the client's redirect origin.
	FormTargets []string
}

// Render writes the named page with status and the security headers of a page.
func Render(w http.ResponseWriter, secure bool, status int, name string, p Page) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, p); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	httpx.PageHeaders(w, secure, nil, p.FormTargets)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// FormPost writes an auto-submitting form that POSTs params to redirectURI
// (OAuth 2.0 Form Post Response Mode). The CSP allows exactly this script and
// this form target.
func FormPost(w http.ResponseWriter, secure bool, redirectURI string, params url.Values) {
	type field struct{ Name, Value string }
	data := struct {
		Action string
		Fields []field
		Script template.JS
	}{Action: redirectURI, Script: template.JS(autoSubmit)}
	for _, k := range []string{"code", "state", "id_token", "access_token", "token_type", "expires_in", "scope", "session_state", "error", "error_description"} {
		if v := params.Get(k); v != "" {
			data.Fields = append(data.Fields, field{k, v})
		}
	}
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, "form_post.html", data); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	httpx.PageHeaders(w, secure, []string{AutoSubmitHash}, []string{FormTarget(redirectURI)})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = buf.WriteTo(w)
}

// FormTarget is the CSP form-action source that allows a form (or the
// redirect chain of a form submission) to reach redirectURI: its origin, or
// its scheme for custom-scheme URIs of native apps (com.example.app:/cb).
func FormTarget(redirectURI string) string {
	u, err := url.Parse(redirectURI)
	switch {
	case err != nil || u.Scheme == "":
		return redirectURI
	case u.Host != "":
		return u.Scheme + "://" + u.Host
	default:
		return u.Scheme + ":"
	}
}
