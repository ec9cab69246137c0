package oidc_test

import (
	"crypto/tls"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/latchkey/latchkey/internal/testkit"
)

// handlerTransport is an http.RoundTripper that serves requests with a
// handler in process, as if they had come over TLS from one client.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	in := req.Clone(req.Context())
	in.TLS = &tls.ConnectionState{}
	in.RemoteAddr = "192.0.2.1:1234"
	in.RequestURI = req.URL.RequestURI()
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, in)
	return rec.Result(), nil
}

// BenchmarkLoginStatus measures the status check behind keycloak-js's
// session-status iframe, which every open tab of an application asks every
// 5 seconds: with the browser's session cookie (a session lookup by its
// hash and a user lookup), and without one. Discovery (cached bytes) is the
// baseline of a request through the same server.
func BenchmarkLoginStatus(b *testing.B) {
	h := benchServer(b)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Transport: handlerTransport{h}, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	iss := benchPublicURL + "/realms/acme"
	pkce := testkit.NewPKCE()
	q := url.Values{"client_id": {"web"}, "redirect_uri": {webRedirect}, "response_type": {"code"}, "scope": {"openid"},
		"state": {"s"}, "code_challenge": {pkce.Challenge}, "code_challenge_method": {"S256"}}
	resp, _ := testkit.Get(b, browser, iss+pAuth+"?"+q.Encode())
	resp, body := testkit.Get(b, browser, resp.Header.Get("Location"))
	f := testkit.ParseForm(b, body)
	f.Fields.Set("username", "alice@example.com")
	f.Fields.Set("password", alicePassword)
	f.Fields.Set("action", "password")
	if resp, _ = testkit.PostForm(b, browser, f.Action, f.Fields); resp.StatusCode != http.StatusFound {
		b.Fatalf("login = %d, want 302", resp.StatusCode)
	}
	u, _ := url.Parse(iss)
	var cookie *http.Cookie
	for _, c := range jar.Cookies(u) {
		if c.Name == sessionCookie {
			cookie = c
		}
	}
	if cookie == nil {
		b.Fatalf("no session cookie after login")
	}
	// With session_state empty, the answer tells whether the cookie found a
	// live session ("changed") or not ("unchanged"): make sure it does.
	statusURL := iss + pStatusIframe + "/status?" + url.Values{"client_id": {"web"}, "origin": {webOrigin}, "session_state": {""}}.Encode()
	check := httptest.NewRequest(http.MethodGet, statusURL, nil)
	check.AddCookie(cookie)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, check)
	if rec.Body.String() != "changed" {
		b.Fatalf("status with the session cookie = %d %q, want changed (a live session)", rec.Code, rec.Body.String())
	}

	for _, bc := range []struct {
		name   string
		url    string
		cookie *http.Cookie
	}{
		{"status/with session", statusURL, cookie},
		{"status/without session", statusURL, nil},
		{"discovery baseline", iss + pDiscovery, nil},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, bc.url, nil)
				if bc.cookie != nil {
					req.AddCookie(bc.cookie)
				}
				serve(b, h, req, http.StatusOK)
			}
		})
	}
}
