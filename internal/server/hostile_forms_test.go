package server_test

import (
	"bytes"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/testkit"
)

// The form-encoded endpoints under hostile input: the token endpoint (OAuth
// error bodies), the login page and the magic-link landing (friendly HTML
// pages). Helpers and the realm are in hostile_test.go.

// tokenShape checks the token endpoint's OAuth error body (RFC 6749 §5.2).
func tokenShape(body []byte) error {
	m, err := jsonShape(body, []string{"error", "error_description"}, []string{"error"})
	if err == nil && m["error"] == "" {
		err = fmt.Errorf("empty error code")
	}
	return err
}

// TestHostileTokenEndpoint sends the token endpoint malformed forms.
func TestHostileTokenEndpoint(t *testing.T) {
	env := testkit.New(t, hostileConfig, testkit.Options{NoMail: true})
	c := env.Client()
	form := "application/x-www-form-urlencoded"
	big := strings.Repeat("r", 60<<10)
	tests := []hostileCase{
		{name: "empty body", contentType: form},
		{name: "no grant type", body: []byte("client_id=web"), contentType: form},
		{name: "unknown grant type", body: []byte("grant_type=nope&client_id=web"), contentType: form},
		{name: "truncated percent escape", body: []byte("grant_type=refresh_token&client_id=web&refresh_token=%"), contentType: form},
		{name: "bad percent escape", body: []byte("grant_type=%zz&client_id=web"), contentType: form},
		{name: "invalid UTF-8 refresh token", body: []byte("grant_type=refresh_token&client_id=web&refresh_token=\xff\xfe"), contentType: form},
		{name: "NUL in code", body: []byte("grant_type=authorization_code&client_id=web&redirect_uri=https%3A%2F%2Frp.example.com%2Fcb&code=a%00b"), contentType: form},
		{name: "60 KiB refresh token", body: []byte("grant_type=refresh_token&client_id=web&refresh_token=" + big), contentType: form},
		{name: "60 KiB code", body: []byte("grant_type=authorization_code&client_id=web&redirect_uri=https%3A%2F%2Frp.example.com%2Fcb&code=" + big), contentType: form},
		{name: "2 MiB body", body: []byte("grant_type=refresh_token&client_id=web&refresh_token=" + strings.Repeat("r", 2<<20)), contentType: form, want: http.StatusRequestEntityTooLarge},
		{name: "duplicate grant types", body: []byte("grant_type=client_credentials&grant_type=refresh_token&client_id=svc&client_secret=svc-secret"), contentType: form, ok2xx: true},
		{name: "JSON body", body: []byte(`{"grant_type":"client_credentials","client_id":"svc","client_secret":"svc-secret"}`), contentType: "application/json"},
		{name: "password grant, client without it", body: []byte("grant_type=password&client_id=web&username=a&password=b"), contentType: form},
		{name: "password grant, invalid UTF-8 user", body: []byte("grant_type=password&client_id=svc&client_secret=svc-secret&username=\xff\xfe&password=x"), contentType: form},
		{name: "password grant, 60 KiB password", body: []byte("grant_type=password&client_id=svc&client_secret=svc-secret&username=a&password=" + big), contentType: form},
		{name: "password grant, NUL in scope", body: []byte("grant_type=password&client_id=svc&client_secret=svc-secret&username=a&password=b&scope=openid%00x"), contentType: form},
		{name: "client assertion garbage", body: []byte("grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=a.b.c"), contentType: form},
		{name: "text/plain form", body: []byte("grant_type=client_credentials&client_id=svc&client_secret=svc-secret"), contentType: "text/plain", ok2xx: true},
		{name: "wrong client secret", body: []byte("grant_type=client_credentials&client_id=svc&client_secret=nope"), contentType: form, want: http.StatusUnauthorized},
		{name: "unknown client", body: []byte("grant_type=client_credentials&client_id=ghost&client_secret=x"), contentType: form},
		{name: "public client asks client_credentials", body: []byte("grant_type=client_credentials&client_id=web"), contentType: form},
		{name: "code without redirect_uri", body: []byte("grant_type=authorization_code&client_id=web&code=abc"), contentType: form},
		{name: "code_verifier garbage", body: []byte("grant_type=authorization_code&client_id=web&code=abc&redirect_uri=https%3A%2F%2Frp.example.com%2Fcb&code_verifier=%FF"), contentType: form},
		{name: "refresh token of another shape", body: []byte("grant_type=refresh_token&client_id=web&refresh_token=eyJhbGciOiJub25lIn0.e30."), contentType: form},
		{name: "scope injection", body: []byte("grant_type=client_credentials&client_id=svc&client_secret=svc-secret&scope=openid%0d%0aX-Injected:1"), contentType: form, ok2xx: true},
		{name: "password grant (not offered)", body: []byte("grant_type=password&client_id=web&username=alice%40example.com&password=alice-password-1"), contentType: form},
		{name: "device code grant (not offered)", body: []byte("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id=web&device_code=x"), contentType: form},
		{name: "token exchange (not offered)", body: []byte("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&client_id=svc&client_secret=svc-secret&subject_token=x"), contentType: form},
		{name: "jwt bearer (not offered)", body: []byte("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=a.b.c"), contentType: form},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := hostileDo(t, c, http.MethodPost, env.URL+hToken, tc.contentType, tc.body, nil)
			t.Logf("%d %.120s", got.status, got.body)
			checkStatus(t, got, tc.want, tc.ok2xx)
			if got.status >= 400 {
				if err := tokenShape(got.body); err != nil {
					t.Errorf("answer %d not an OAuth error body: %v", got.status, err)
				}
			}
		})
	}
}

var (
	hostileActionRE = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	hostileCSRFRE   = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)
)

// checkHTMLError requires a friendly HTML page for a 4xx.
func checkHTMLError(t *testing.T, got hostileAnswer) {
	t.Helper()
	if got.status < 400 {
		return
	}
	if ct := got.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type = %q, want an HTML page; body %.300s", ct, got.body)
	}
	if bytes.Contains(got.body, []byte("goroutine ")) || bytes.Contains(got.body, []byte(".go:")) {
		t.Errorf("the page leaks a stack trace: %.500s", got.body)
	}
}

// TestHostileLoginForm posts malformed forms to the login page of a live
// authorization request, with and without a valid CSRF token.
func TestHostileLoginForm(t *testing.T) {
	env := testkit.New(t, hostileConfig, testkit.Options{NoMail: true})
	c := env.Client()
	q := url.Values{"client_id": {"web"}, "redirect_uri": {"https://rp.example.com/cb"}, "response_type": {"code"}, "scope": {"openid"}}
	a := hostileDo(t, c, http.MethodGet, env.URL+hAuth+"?"+q.Encode(), "", nil, nil)
	loc := a.header.Get("Location")
	if a.status != http.StatusFound || loc == "" {
		t.Fatalf("authorization endpoint = %d %s, want 302 to the login page", a.status, a.body)
	}
	page := hostileDo(t, c, http.MethodGet, loc, "", nil, nil)
	am, cm := hostileActionRE.FindSubmatch(page.body), hostileCSRFRE.FindSubmatch(page.body)
	if page.status != http.StatusOK || am == nil || cm == nil {
		t.Fatalf("login page = %d without form or CSRF token: %.300s", page.status, page.body)
	}
	action, csrf := html.UnescapeString(string(am[1])), html.UnescapeString(string(cm[1]))
	form := "application/x-www-form-urlencoded"
	withCSRF := func(rest string) []byte { return []byte("csrf_token=" + url.QueryEscape(csrf) + "&" + rest) }
	tests := []hostileCase{
		{name: "empty body", contentType: form},
		{name: "no CSRF token", body: []byte("username=alice%40example.com&password=x&action=password"), contentType: form, want: http.StatusForbidden},
		{name: "forged CSRF token", body: []byte("csrf_token=AAAA&username=alice%40example.com&password=x"), contentType: form, want: http.StatusForbidden},
		{name: "truncated percent escape", body: withCSRF("username=%"), contentType: form},
		{name: "invalid UTF-8 username", body: withCSRF("username=\xff\xfe&password=x&action=password"), contentType: form},
		{name: "NUL username", body: withCSRF("username=a%00b&password=x&action=password"), contentType: form},
		{name: "60 KiB username", body: withCSRF("username=" + strings.Repeat("u", 60<<10) + "&password=x&action=password"), contentType: form},
		{name: "60 KiB password", body: withCSRF("username=alice%40example.com&password=" + strings.Repeat("p", 60<<10) + "&action=password"), contentType: form},
		{name: "2 MiB body", body: withCSRF("username=" + strings.Repeat("u", 2<<20)), contentType: form},
		{name: "duplicate usernames", body: withCSRF("username=ghost%40example.com&username=alice%40example.com&password=wrong&action=password"), contentType: form},
		{name: "JSON body", body: []byte(`{"username":"alice@example.com","password":"x"}`), contentType: "application/json"},
		{name: "multipart garbage", body: []byte("--x\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\na"), contentType: "multipart/form-data; boundary=x"},
		{name: "email-link with injected address", body: withCSRF("username=" + url.QueryEscape("a@b.com\r\nBcc: x@y.com") + "&action=email-link"), contentType: form},
		{name: "unknown action", body: withCSRF("username=alice%40example.com&password=wrong&action=%00%ff"), contentType: form},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := hostileDo(t, c, http.MethodPost, action, tc.contentType, tc.body, nil)
			t.Logf("%d %.120s", got.status, got.body)
			checkStatus(t, got, tc.want, tc.ok2xx)
			checkHTMLError(t, got)
		})
	}
	t.Run("unknown auth request", func(t *testing.T) {
		got := hostileDo(t, c, http.MethodPost, env.Issuer("acme")+"/login-actions/authenticate?authRequestID=%00%ff", form, withCSRF("username=x"), nil)
		t.Logf("%d %.120s", got.status, got.body)
		if got.status >= 500 {
			t.Errorf("status = %d, want < 500; body %.300s", got.status, got.body)
		}
		checkHTMLError(t, got)
	})
}

// TestHostileMagicLinkLanding posts malformed forms to the magic-link
// landing and GETs it with hostile keys: always a friendly 4xx page.
func TestHostileMagicLinkLanding(t *testing.T) {
	env := testkit.New(t, hostileConfig, testkit.Options{NoMail: true})
	c := env.Client()
	form := "application/x-www-form-urlencoded"
	posts := []hostileCase{
		{name: "empty body", contentType: form},
		{name: "unknown key without CSRF", body: []byte("key=abc"), contentType: form},
		{name: "truncated percent escape", body: []byte("key=%"), contentType: form},
		{name: "invalid UTF-8 key", body: []byte("key=\xff\xfe"), contentType: form},
		{name: "NUL key", body: []byte("key=a%00b"), contentType: form},
		{name: "60 KiB key", body: []byte("key=" + strings.Repeat("k", 60<<10)), contentType: form},
		{name: "2 MiB body", body: []byte("key=" + strings.Repeat("k", 2<<20)), contentType: form},
		{name: "duplicate keys", body: []byte("key=a&key=b&csrf_token=x"), contentType: form},
		{name: "reset with garbage", body: []byte("reset=%ff%fe&password=x&password2=y&csrf_token=z"), contentType: form},
		{name: "reset with 60 KiB token", body: []byte("reset=" + strings.Repeat("r", 60<<10) + "&password=x"), contentType: form},
		{name: "JSON body", body: []byte(`{"key":"abc"}`), contentType: "application/json"},
		{name: "multipart garbage", body: []byte("--x\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\na"), contentType: "multipart/form-data; boundary=x"},
	}
	for _, tc := range posts {
		t.Run("POST/"+tc.name, func(t *testing.T) {
			got := hostileDo(t, c, http.MethodPost, env.URL+hLanding, tc.contentType, tc.body, nil)
			t.Logf("%d %.120s", got.status, got.body)
			checkStatus(t, got, tc.want, tc.ok2xx)
			checkHTMLError(t, got)
		})
	}
	keys := []string{"", "abc", "%ff%fe", "%00", strings.Repeat("k", 8<<10), "../../etc/passwd", "<script>alert(1)</script>"}
	for _, k := range keys {
		t.Run(fmt.Sprintf("GET key %.20q", k), func(t *testing.T) {
			got := hostileDo(t, c, http.MethodGet, env.URL+hLanding+"?key="+k, "", nil, nil)
			t.Logf("%d %.120s", got.status, got.body)
			checkStatus(t, got, 0, false)
			checkHTMLError(t, got)
			if bytes.Contains(got.body, []byte("<script>alert")) {
				t.Errorf("the page reflects the key unescaped")
			}
		})
	}
}
