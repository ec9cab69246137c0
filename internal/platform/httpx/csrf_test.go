package httpx_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/platform/httpx"
)

func newCSRF() *httpx.CSRF {
	return &httpx.CSRF{
		Key: []byte("0123456789abcdef0123456789abcdef"), CookieName: "lk_csrf",
		Secure: func(r *http.Request) bool { return r.TLS != nil },
	}
}

// issue runs Token on a request without a cookie and returns the new cookie
// and the form token.
func issue(t *testing.T, c *httpx.CSRF, purpose string, overTLS bool) (*http.Cookie, string) {
	t.Helper()
	target := "http://id.example.com/login"
	if overTLS {
		target = "https://id.example.com/login"
	}
	w := httptest.NewRecorder()
	tok := c.Token(w, httptest.NewRequest(http.MethodGet, target, nil), purpose)
	cookies := w.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("Token set %d cookies, want 1", len(cookies))
	}
	return cookies[0], tok
}

func TestCSRFTokenCookie(t *testing.T) {
	c := newCSRF()
	for _, overTLS := range []bool{false, true} {
		ck, tok := issue(t, c, "/login", overTLS)
		if ck.Name != "lk_csrf" || len(ck.Value) < 32 || !ck.HttpOnly || ck.Path != "/" ||
			ck.SameSite != http.SameSiteLaxMode || ck.Secure != overTLS {
			t.Errorf("tls=%v: cookie = %+v, want lk_csrf, >= 32 chars, HttpOnly, Path /, SameSite Lax, Secure %v", overTLS, ck, overTLS)
		}
		if tok == "" || strings.Contains(tok, ck.Value) {
			t.Errorf("tls=%v: token %q is empty or contains the cookie", overTLS, tok)
		}
	}
	// With a cookie present, Token reuses it and sets none.
	ck, tok := issue(t, c, "/login", false)
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/login", nil)
	r.AddCookie(ck)
	if again := c.Token(w, r, "/login"); again != tok {
		t.Errorf("Token with the cookie = %q, want the same token %q", again, tok)
	}
	if n := len(w.Result().Cookies()); n != 0 {
		t.Errorf("Token with the cookie set %d cookies, want 0", n)
	}
	// A too-short cookie is replaced.
	w = httptest.NewRecorder()
	r = httptest.NewRequest(http.MethodGet, "/login", nil)
	r.AddCookie(&http.Cookie{Name: "lk_csrf", Value: "short"})
	c.Token(w, r, "/login")
	if got := w.Result().Cookies(); len(got) != 1 || len(got[0].Value) < 32 {
		t.Errorf("Token with a short cookie set %v, want a fresh cookie", got)
	}
}

func TestCSRFValid(t *testing.T) {
	c := newCSRF()
	ck, tok := issue(t, c, "/login", false)
	otherCk, otherTok := issue(t, c, "/login", false)
	otherKey := newCSRF()
	otherKey.Key = []byte("another key, another server......")
	tampered := []byte(tok)
	tampered[3] ^= 1
	tests := []struct {
		name    string
		cookie  *http.Cookie
		field   string
		purpose string
		want    bool
	}{
		{"valid", ck, tok, "/login", true},
		{"missing cookie", nil, tok, "/login", false},
		{"missing field", ck, "", "/login", false},
		{"wrong purpose", ck, tok, "/set-password", false},
		{"tampered token", ck, string(tampered), "/login", false},
		{"truncated token", ck, tok[:len(tok)-1], "/login", false},
		{"token of another cookie", ck, otherTok, "/login", false},
		{"cookie of another token", otherCk, tok, "/login", false},
		{"short cookie", &http.Cookie{Name: "lk_csrf", Value: "abc"}, tok, "/login", false},
		{"cookie value as token", ck, ck.Value, "/login", false},
	}
	for _, tt := range tests {
		form := url.Values{httpx.FieldName: {tt.field}}
		r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if tt.cookie != nil {
			r.AddCookie(tt.cookie)
		}
		if got := c.Valid(r, tt.purpose); got != tt.want {
			t.Errorf("%s: Valid = %v, want %v", tt.name, got, tt.want)
		}
	}
	// A server with another key rejects the pair.
	form := url.Values{httpx.FieldName: {tok}}
	r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.AddCookie(ck)
	if otherKey.Valid(r, "/login") {
		t.Error("Valid under another key = true, want false")
	}
	// The token travels in the form body, not the query string.
	r = httptest.NewRequest(http.MethodPost, "/login?"+form.Encode(), nil)
	r.AddCookie(ck)
	if c.Valid(r, "/login") {
		t.Error("Valid with the token in the query string = true, want false")
	}
}
