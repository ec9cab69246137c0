package server_test

import (
	"bytes"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/testkit"
)

// The device flow's endpoints under hostile input: the device authorization
// endpoint answers 4xx in OAuth's error shape, the verification page a
// friendly HTML page; neither ever answers 5xx.

const (
	hDeviceAuth = hPrefix + "/protocol/openid-connect/auth/device"
	hDevice     = hPrefix + "/device"
)

// newHostileDeviceEnv is hostileConfig's realm with a public device client "tv".
func newHostileDeviceEnv(t *testing.T) *testkit.Env {
	t.Helper()
	return testkit.New(t, hostileConfig, testkit.Options{NoMail: true, Mutate: func(cfg *config.Config) {
		cfg.Realms[0].Clients = append(cfg.Realms[0].Clients,
			config.Client{ClientID: "tv", Public: true, GrantTypes: []string{config.GrantDeviceCode}})
	}})
}

func TestHostileDeviceAuthorization(t *testing.T) {
	env := newHostileDeviceEnv(t)
	c := env.Client()
	form := "application/x-www-form-urlencoded"
	big := strings.Repeat("s", 60<<10)
	tests := []hostileCase{
		{name: "empty body", contentType: form},
		{name: "unknown client", body: []byte("client_id=ghost&scope=openid"), contentType: form},
		{name: "client without the grant", body: []byte("client_id=web&scope=openid"), contentType: form},
		{name: "confidential client without secret", body: []byte("client_id=svc&scope=openid"), contentType: form, want: http.StatusUnauthorized},
		{name: "truncated percent escape", body: []byte("client_id=tv&scope=%"), contentType: form},
		{name: "NUL client id", body: []byte("client_id=t%00v"), contentType: form},
		{name: "2 MiB body", body: []byte("client_id=tv&scope=" + strings.Repeat("s", 2<<20)), contentType: form, want: http.StatusRequestEntityTooLarge},
		{name: "JSON body", body: []byte(`{"client_id":"tv"}`), contentType: "application/json"},
		// Accepted: unknown scopes are dropped, as at the authorization endpoint.
		{name: "60 KiB scope", body: []byte("client_id=tv&scope=" + big), contentType: form, ok2xx: true},
		{name: "invalid UTF-8 scope", body: []byte("client_id=tv&scope=\xff\xfe"), contentType: form, ok2xx: true},
		{name: "scope injection", body: []byte("client_id=tv&scope=openid%0d%0aX-Injected:1"), contentType: form, ok2xx: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := hostileDo(t, c, http.MethodPost, env.URL+hDeviceAuth, tc.contentType, tc.body, nil)
			t.Logf("%d %.160s", got.status, got.body)
			checkStatus(t, got, tc.want, tc.ok2xx)
			if got.status >= 400 {
				if err := tokenShape(got.body); err != nil {
					t.Errorf("answer %d not an OAuth error body: %v", got.status, err)
				}
			}
			if bytes.Contains(got.body, []byte("X-Injected")) {
				t.Errorf("the answer reflects the injected scope: %s", got.body)
			}
		})
	}
}

func TestHostileDevicePage(t *testing.T) {
	env := newHostileDeviceEnv(t)
	c := env.Client()
	page := hostileDo(t, c, http.MethodGet, env.URL+hDevice, "", nil, nil)
	am, cm := hostileActionRE.FindSubmatch(page.body), hostileCSRFRE.FindSubmatch(page.body)
	if page.status != http.StatusOK || am == nil || cm == nil {
		t.Fatalf("verification page = %d without form or CSRF token: %.300s", page.status, page.body)
	}
	action, csrf := html.UnescapeString(string(am[1])), html.UnescapeString(string(cm[1]))
	form := "application/x-www-form-urlencoded"
	withCSRF := func(rest string) []byte { return []byte("csrf_token=" + url.QueryEscape(csrf) + "&" + rest) }
	tests := []hostileCase{
		{name: "empty body", contentType: form},
		{name: "no CSRF token", body: []byte("user_code=BCDF-GHJK&action=code"), contentType: form, want: http.StatusForbidden},
		{name: "forged CSRF token", body: []byte("csrf_token=AAAA&user_code=BCDF-GHJK"), contentType: form, want: http.StatusForbidden},
		{name: "approve with the entry form's token", body: withCSRF("user_code=BCDF-GHJK&action=approve"), contentType: form, want: http.StatusForbidden},
		{name: "truncated percent escape", body: withCSRF("user_code=%"), contentType: form},
		{name: "invalid UTF-8 code", body: withCSRF("user_code=\xff\xfe&action=code"), contentType: form},
		{name: "NUL code", body: withCSRF("user_code=BCDF%00GHJK&action=code"), contentType: form},
		{name: "60 KiB code", body: withCSRF("user_code=" + strings.Repeat("B", 60<<10) + "&action=code"), contentType: form},
		{name: "2 MiB body", body: withCSRF("user_code=" + strings.Repeat("B", 2<<20)), contentType: form},
		{name: "duplicate codes", body: withCSRF("user_code=BCDF-GHJK&user_code=ZZZZ-ZZZZ&action=code"), contentType: form},
		{name: "unknown action", body: withCSRF("user_code=BCDF-GHJK&action=%00%ff"), contentType: form},
		{name: "JSON body", body: []byte(`{"user_code":"BCDF-GHJK"}`), contentType: "application/json"},
		{name: "multipart garbage", body: []byte("--x\r\nContent-Disposition: form-data; name=\"user_code\"\r\n\r\na"), contentType: "multipart/form-data; boundary=x"},
	}
	for _, tc := range tests {
		t.Run("POST/"+tc.name, func(t *testing.T) {
			got := hostileDo(t, c, http.MethodPost, action, tc.contentType, tc.body, nil)
			t.Logf("%d %.120s", got.status, got.body)
			checkStatus(t, got, tc.want, tc.ok2xx)
			checkHTMLError(t, got)
		})
	}
	for _, code := range []string{"", "%ff%fe", "%00", strings.Repeat("B", 8<<10), "<script>alert(1)</script>", `"><img src=x>`} {
		t.Run(fmt.Sprintf("GET user_code %.20q", code), func(t *testing.T) {
			got := hostileDo(t, c, http.MethodGet, env.URL+hDevice+"?user_code="+url.QueryEscape(code), "", nil, nil)
			if got.status != http.StatusOK {
				t.Errorf("status = %d, want 200 (the entry form); body %.300s", got.status, got.body)
			}
			if bytes.Contains(got.body, []byte("<script>alert")) || bytes.Contains(got.body, []byte("<img")) {
				t.Errorf("the page reflects the code unescaped: %.500s", got.body)
			}
		})
	}
	t.Run("PUT", func(t *testing.T) {
		got := hostileDo(t, c, http.MethodPut, env.URL+hDevice, form, withCSRF("user_code=x"), nil)
		if got.status < 400 || got.status >= 500 {
			t.Errorf("PUT = %d, want a 4xx", got.status)
		}
	})
}
