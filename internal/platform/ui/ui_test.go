package ui_test

import (
	"crypto/sha256"
	"encoding/base64"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/platform/ui"
)

const xss = `"><script>alert(1)</script><img src=x onerror=alert(2)>`

func TestRenderPages(t *testing.T) {
	for _, name := range []string{"login.html", "info.html", "confirm.html", "set_password.html", "device.html", "device_confirm.html"} {
		t.Run(name, func(t *testing.T) {
			w := httptest.NewRecorder()
			ui.Render(w, true, http.StatusUnauthorized, name, ui.Page{
				Title: "T", RealmName: "Acme", Heading: "H", Message: "M", Action: "/login?x=1", CSRF: "csrf-value",
				Fields: map[string]string{"key": "v"}, Email: "a@example.com", Link: "https://app.example.com/", LinkText: "Back",
				ShowLink: true, MinLength: 8, FormTargets: []string{"https://app.example.com"},
			})
			if w.Code != http.StatusUnauthorized {
				t.Errorf("status = %d, want 401", w.Code)
			}
			h := w.Header()
			csp := h.Get("Content-Security-Policy")
			for _, want := range []string{"script-src 'none'", "form-action 'self' https://app.example.com;", "frame-ancestors 'none'", "default-src 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %q", csp, want)
				}
			}
			for k, want := range map[string]string{"Content-Type": "text/html; charset=utf-8", "X-Frame-Options": "DENY",
				"Cache-Control": "no-store", "Strict-Transport-Security": "max-age=31536000"} {
				if got := h.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			body := w.Body.String()
			if strings.Contains(body, "<script") {
				t.Errorf("page has a script, but its CSP allows none:\n%s", body)
			}
			if !strings.Contains(body, "<h1>H</h1>") || !strings.HasSuffix(body, "</main></body></html>") {
				t.Errorf("page lacks its heading or footer:\n%s", body)
			}
			if name != "info.html" && !strings.Contains(body, `name="csrf_token" value="csrf-value"`) {
				t.Errorf("form lacks the CSRF field:\n%s", body)
			}
		})
	}
}

// Every piece of page data is escaped for its context; scriptable URLs are
// neutralised.
func TestRenderEscapes(t *testing.T) {
	tests := []struct {
		name   string
		page   string
		p      ui.Page
		absent []string // must not appear in the output
	}{
		{"error and message", "info.html", ui.Page{Error: xss, Message: xss, Heading: xss, Title: xss, RealmName: xss}, []string{"<script>", "<img"}},
		{"email in a value attribute", "login.html", ui.Page{Email: xss, CSRF: xss}, []string{`"><script>`, "<img"}},
		{"hidden fields", "confirm.html", ui.Page{Fields: map[string]string{xss: xss}, Email: xss}, []string{`"><script>`, "<img"}},
		{"javascript link", "info.html", ui.Page{Link: "javascript:alert(1)", LinkText: "x"}, []string{"javascript:"}},
		{"javascript action", "login.html", ui.Page{Action: "javascript:alert(1)"}, []string{"javascript:"}},
		{"user code and scopes", "device_confirm.html", ui.Page{UserCode: xss, Items: []string{xss}, Message: xss}, []string{`"><script>`, "<img", "<script>"}},
		{"prefilled user code", "device.html", ui.Page{UserCode: xss}, []string{`"><script>`, "<img"}},
		{"data action", "set_password.html", ui.Page{Action: "data:text/html,<script>alert(1)</script>"}, []string{"data:text/html", "<script>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			ui.Render(w, false, http.StatusOK, tt.page, tt.p)
			body := w.Body.String()
			for _, a := range tt.absent {
				if strings.Contains(body, a) {
					t.Errorf("output contains %q:\n%s", a, body)
				}
			}
			if w.Header().Get("Strict-Transport-Security") != "" {
				t.Error("HSTS set on a page served over http")
			}
		})
	}
	// The escaped text still reads as the original.
	w := httptest.NewRecorder()
	ui.Render(w, false, http.StatusOK, "info.html", ui.Page{Message: xss})
	if !strings.Contains(w.Body.String(), "<p>"+html.EscapeString(xss)+"</p>") {
		t.Errorf("message not HTML-escaped as expected:\n%s", w.Body.String())
	}
}

func TestRenderUnknownPage(t *testing.T) {
	w := httptest.NewRecorder()
	ui.Render(w, false, http.StatusOK, "nope.html", ui.Page{Message: "secret detail"})
	if w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), "secret detail") || strings.Contains(w.Body.String(), "nope.html") {
		t.Errorf("unknown page = %d %q, want a bare 500", w.Code, w.Body.String())
	}
}

var (
	hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
	scriptRE = regexp.MustCompile(`(?s)<script>(.*?)</script>`)
	actionRE = regexp.MustCompile(`<form method="post" action="([^"]*)">`)
)

func TestFormPost(t *testing.T) {
	all := []string{"code", "state", "id_token", "access_token", "token_type", "expires_in", "scope", "session_state", "error", "error_description"}
	tests := []struct {
		name       string
		redirect   string
		params     url.Values
		wantFields []string // in order
		wantTarget string
	}{
		{"code response", "https://app.example.com/cb", url.Values{"code": {"c1"}, "state": {"s1"}}, []string{"code", "state"}, "https://app.example.com"},
		{"unknown and empty params are dropped", "https://app.example.com:8443/cb?x=1&y=2", url.Values{
			"code": {"c"}, "state": {""}, "redirect_uri": {"https://evil.example"}, "password": {"p"}, "nonce": {"n"}, "Code": {"x"},
		}, []string{"code"}, "https://app.example.com:8443"},
		{"every known field, fixed order", "http://127.0.0.1:9000/cb", func() url.Values {
			v := url.Values{}
			for i := len(all) - 1; i >= 0; i-- {
				v.Set(all[i], all[i]+"-value")
			}
			return v
		}(), all, "http://127.0.0.1:9000"},
		{"escaped values", "https://app.example.com/cb", url.Values{"state": {xss}, "error_description": {`a & b < c "d" 'e'`}},
			[]string{"state", "error_description"}, "https://app.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			ui.FormPost(w, true, tt.redirect, tt.params)
			body := w.Body.String()
			if w.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200", w.Code)
			}
			var names []string
			for _, m := range hiddenRE.FindAllStringSubmatch(body, -1) {
				name, value := html.UnescapeString(m[1]), html.UnescapeString(m[2])
				names = append(names, name)
				if want := tt.params.Get(name); value != want {
					t.Errorf("field %s = %q, want %q", name, value, want)
				}
			}
			if !slices.Equal(names, tt.wantFields) {
				t.Errorf("fields = %q, want %q", names, tt.wantFields)
			}
			if n := strings.Count(body, "<input"); n != len(tt.wantFields) {
				t.Errorf("%d inputs in the page, want %d", n, len(tt.wantFields))
			}
			if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img") {
				t.Errorf("a value escaped its attribute:\n%s", body)
			}
			if m := actionRE.FindStringSubmatch(body); m == nil || html.UnescapeString(m[1]) != tt.redirect {
				t.Errorf("form action = %v, want %q", m, tt.redirect)
			}

			// The CSP hash covers exactly the script in the page.
			scripts := scriptRE.FindAllStringSubmatch(body, -1)
			if len(scripts) != 1 {
				t.Fatalf("%d scripts in the page, want 1", len(scripts))
			}
			sum := sha256.Sum256([]byte(scripts[0][1]))
			got := "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
			if got != ui.AutoSubmitHash {
				t.Errorf("hash of the page's script %q = %s, want AutoSubmitHash %s", scripts[0][1], got, ui.AutoSubmitHash)
			}
			csp := w.Header().Get("Content-Security-Policy")
			if !strings.Contains(csp, "script-src '"+ui.AutoSubmitHash+"';") {
				t.Errorf("CSP %q does not allow exactly the script's hash", csp)
			}
			if !strings.Contains(csp, "form-action 'self' "+tt.wantTarget+";") {
				t.Errorf("CSP %q does not allow posting to %s", csp, tt.wantTarget)
			}
			for k, want := range map[string]string{"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"} {
				if got := w.Header().Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

// A scriptable redirect URI never becomes the form's action.
func TestFormPostScriptableRedirect(t *testing.T) {
	for _, uri := range []string{"javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,<script>alert(1)</script>", "vbscript:x"} {
		w := httptest.NewRecorder()
		ui.FormPost(w, false, uri, url.Values{"code": {"c"}})
		m := actionRE.FindStringSubmatch(w.Body.String())
		if m == nil {
			t.Fatalf("no form in the page for %q", uri)
		}
		if action := strings.ToLower(html.UnescapeString(m[1])); strings.HasPrefix(action, "javascript:") || strings.HasPrefix(action, "data:") || strings.HasPrefix(action, "vbscript:") {
			t.Errorf("FormPost(%q): action = %q, want it neutralised", uri, m[1])
		}
	}
}

func TestFormTarget(t *testing.T) {
	tests := []struct {
		uri, want string
	}{
		{"https://app.example.com/cb", "https://app.example.com"},
		{"https://app.example.com:8443/cb?x=1#f", "https://app.example.com:8443"},
		{"http://127.0.0.1:9000/cb", "http://127.0.0.1:9000"},
		{"http://[::1]:9000/cb", "http://[::1]:9000"},
		{"https://user@app.example.com/cb", "https://app.example.com"},
		{"com.example.app:/oauth", "com.example.app:"},
		{"com.example.app:oauth", "com.example.app:"},
		{"/relative", "/relative"},
	}
	for _, tt := range tests {
		if got := ui.FormTarget(tt.uri); got != tt.want {
			t.Errorf("FormTarget(%q) = %q, want %q", tt.uri, got, tt.want)
		}
	}
}
