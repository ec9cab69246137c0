package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/testkit"
)

// hostileConfig is the realm the hostile-input tests and the fuzz targets
// attack: every API reachable (a service client with both roles, a public
// client, a user, a site, a workflow), limits off so that refusals come from
// input handling, not from throttling.
const hostileConfig = `
server: {publicURL: "https://localhost"}
defaultRealm: acme
realms:
  - name: acme
    rateLimits: {perIP: "off", perAccount: "off"}
    bruteForce: {enabled: false}
    magicLink: {resendInterval: 0s}
    tokens: {accessTokenLifespan: 24h}
    clients:
      - clientId: svc
        secret: svc-secret
        grantTypes: [client_credentials]
        serviceAccountRoles: [magic-link-sender, link-generator]
      - clientId: web
        public: true
        redirectUris: ["https://rp.example.com/cb"]
        grantTypes: [authorization_code, refresh_token]
        pkce: optional
    users:
      - email: alice@example.com
        password: alice-password-1
        emailVerified: true
    sites:
      - name: testing
        appURL: "https://store.example.com/app.html"
`

// Paths of the attacked endpoints in realm acme.
const (
	hPrefix    = "/auth/realms/acme"
	hMagicLink = hPrefix + "/kobil-magic-link/access-link"
	hLanding   = hPrefix + "/kobil-magic-link/login"
	hUserLogin = hPrefix + "/user/login"
	hWFToken   = hPrefix + "/wf/generate-user-token"
	hGenLink   = hPrefix + "/generate-link-api/"
	hToken     = hPrefix + "/protocol/openid-connect/token"
	hAuth      = hPrefix + "/protocol/openid-connect/auth"
	hUserinfo  = hPrefix + "/protocol/openid-connect/userinfo"
)

// hostileAnswer is one response, read.
type hostileAnswer struct {
	status int
	header http.Header
	body   []byte
}

// hostileDo sends a request and reads the answer; a transport error (a
// reset, a closed connection) fails the test: bad input must be answered.
func hostileDo(t testing.TB, c *http.Client, method, rawURL, contentType string, body []byte, header http.Header) hostileAnswer {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("build request: %v", err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s (%d-byte body): no answer: %v", method, req.URL.Path, len(body), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read answer: %v", method, req.URL.Path, err)
	}
	return hostileAnswer{status: resp.StatusCode, header: resp.Header, body: b}
}

// jsonShape checks that body is a JSON object with exactly the keys of one
// of the allowed shapes, and returns it.
func jsonShape(body []byte, shapes ...[]string) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("body %.200q is not a JSON object: %v", body, err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, s := range shapes {
		want := slices.Sorted(slices.Values(s))
		if slices.Equal(keys, want) {
			return m, nil
		}
	}
	return nil, fmt.Errorf("body keys %v, want one of %v (body %.200s)", keys, shapes, body)
}

// jsonAPI is one of the four credential APIs with its error shape.
type jsonAPI struct {
	name   string
	path   string
	bearer bool
	// valid is a request body the API accepts; cases are built from it.
	valid map[string]any
	// emailField is the field holding the email (for injection cases).
	emailField string
	// optional fields may be null, empty or (forceCreate) any bool.
	optional []string
	// shape checks a 4xx answer's body.
	shape func(status int, body []byte) error
}

func jsonAPIs() []jsonAPI {
	return []jsonAPI{
		{
			name: "magic-link", path: hMagicLink, bearer: true, emailField: "email", optional: []string{"forceCreate"},
			valid: map[string]any{"email": "ml-hostile@example.com", "clientId": "web", "redirectUri": "https://rp.example.com/cb",
				"scope": "openid", "responseMode": "query", "responseType": "code", "forceCreate": true},
			shape: func(_ int, body []byte) error {
				m, err := jsonShape(body, []string{"message", "status", "subSystem"})
				if err == nil && m["subSystem"] != float64(5) {
					err = fmt.Errorf("subSystem = %v, want 5", m["subSystem"])
				}
				return err
			},
		},
		{
			name: "user-login", path: hUserLogin, emailField: "emailId",
			valid: map[string]any{"emailId": "alice@example.com", "password": "alice-password-1"},
			shape: func(status int, body []byte) error {
				m, err := jsonShape(body, []string{"responseCode", "responseMessage"})
				if err == nil && m["responseCode"] != float64(status) {
					err = fmt.Errorf("responseCode = %v, want the HTTP status %d", m["responseCode"], status)
				}
				return err
			},
		},
		{
			name: "wf-generate-user-token", path: hWFToken, emailField: "email",
			valid: map[string]any{"email": "alice@example.com", "password": "alice-password-1"},
			shape: func(_ int, body []byte) error {
				_, err := jsonShape(body, []string{"status", "message"}, []string{"message"})
				return err
			},
		},
		{
			name: "generate-link", path: hGenLink, bearer: true, optional: []string{"metadata", "workflows_list"},
			valid: map[string]any{"metadata": "m", "workflows_list": "", "site": "testing", "emails": []string{"gl-hostile@example.com"}},
			shape: func(_ int, body []byte) error {
				_, err := jsonShape(body, []string{"error"})
				return err
			},
		},
	}
}

// hostileCase is one malformed request. want is the exact status expected
// (0: any 4xx); ok2xx also accepts a success (odd but valid input).
type hostileCase struct {
	name        string
	body        []byte
	contentType string
	want        int
	ok2xx       bool
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// with returns a copy of m with field set to v.
func with(m map[string]any, field string, v any) map[string]any {
	out := make(map[string]any, len(m))
	for k, x := range m {
		out[k] = x
	}
	out[field] = v
	return out
}

// jsonCases builds the malformed-request table of an API from its valid body.
func jsonCases(a jsonAPI) []hostileCase {
	valid := mustJSON(a.valid)
	fields := slices.Sorted(func(yield func(string) bool) {
		for k := range a.valid {
			if !yield(k) {
				return
			}
		}
	})
	first := fields[0]
	cases := []hostileCase{
		{name: "empty body", body: nil},
		{name: "whitespace body", body: []byte("  \n ")},
		{name: "truncated JSON", body: valid[:len(valid)/2]},
		{name: "trailing garbage", body: append(append([]byte{}, valid...), []byte(`{"x":1}`)...)},
		{name: "JSON null", body: []byte("null")},
		{name: "JSON array instead of object", body: append(append([]byte("["), valid...), ']')},
		{name: "JSON string instead of object", body: []byte(`"hello"`)},
		{name: "JSON number instead of object", body: []byte(`12345`)},
		{name: "deep nesting 10k [", body: bytes.Repeat([]byte("["), 10000)},
		{name: "deep nesting in a field", body: []byte(`{"` + first + `":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`)},
		{name: "invalid UTF-8", body: []byte("{\"" + first + "\":\"\xff\xfe\xfd\"}")},
		{name: "invalid UTF-8 everywhere", body: bytes.Repeat([]byte{0xc3, 0x28}, 100)},
		{name: "NUL bytes", body: []byte("{\"" + first + "\":\"a\x00b\"}")},
		{name: "1 MiB field in a 64 KiB cap", body: mustJSON(with(a.valid, first, strings.Repeat("a", 1<<20))), want: http.StatusRequestEntityTooLarge},
		{name: "60 KiB field", body: mustJSON(with(a.valid, first, strings.Repeat("a", 60<<10)))},
		{name: "2 MiB body", body: bytes.Repeat([]byte("x"), 2<<20), want: http.StatusRequestEntityTooLarge},
		{name: "2 MiB JSON body", body: mustJSON(with(a.valid, "pad", strings.Repeat("p", 2<<20))), want: http.StatusRequestEntityTooLarge},
		{name: "wrong content type (text/plain, valid JSON)", body: valid, contentType: "text/plain", ok2xx: true},
		{name: "form content type with JSON", body: valid, contentType: "application/x-www-form-urlencoded", ok2xx: true},
		{name: "form-encoded body", body: []byte(url.Values{first: {"x"}}.Encode()), contentType: "application/x-www-form-urlencoded"},
		{name: "unknown fields only", body: []byte(`{"zzz":1,"yyy":[1,2]}`)},
		{name: "duplicate keys", body: []byte(`{"` + first + `":123,` + string(valid[1:])), ok2xx: true},
		{name: "escaped unicode keys", body: []byte(`{"\u0065\u006d":"x"}`)},
		{name: "huge number", body: []byte(`{"` + first + `":1e999999}`)},
		{name: "lone surrogate escape", body: []byte(`{"` + first + `":"\ud800"}`)},
	}
	for _, f := range fields {
		opt := slices.Contains(a.optional, f)
		_, isBool := a.valid[f].(bool)
		cases = append(cases,
			hostileCase{name: "null " + f, body: mustJSON(with(a.valid, f, nil)), ok2xx: opt},
			hostileCase{name: "number " + f, body: mustJSON(with(a.valid, f, 42))},
			hostileCase{name: "object " + f, body: mustJSON(with(a.valid, f, map[string]any{"a": 1}))},
			hostileCase{name: "array " + f, body: mustJSON(with(a.valid, f, []any{"a", 1}))},
			hostileCase{name: "bool " + f, body: mustJSON(with(a.valid, f, true)), ok2xx: isBool},
			hostileCase{name: "empty string " + f, body: mustJSON(with(a.valid, f, "")), ok2xx: opt && !isBool},
		)
	}
	// Emails that try to add mail headers or otherwise abuse the address.
	emails := []struct {
		name  string
		email string
		ok2xx bool
	}{
		{"CRLF Bcc injection", "a@b.com\r\nBcc: x@y.com", false},
		{"LF injection", "a@b.com\nBcc: x@y.com", false},
		{"percent-encoded CRLF", "a@b.com%0d%0a", true},
		{"display name", "Mallory <x@y.com>", false},
		{"two addresses", "a@b.com, x@y.com", false},
		{"unicode email", "ünïcødé@exämple.com", true},
		{"RTL override", "a\u202e@b.com", true},
		{"254+ chars", strings.Repeat("a", 250) + "@b.com", false},
	}
	for _, e := range emails {
		var body []byte
		if a.emailField != "" {
			body = mustJSON(with(a.valid, a.emailField, e.email))
		} else {
			body = mustJSON(with(a.valid, "emails", []string{e.email}))
		}
		cases = append(cases, hostileCase{name: "email " + e.name, body: body, ok2xx: e.ok2xx})
	}
	return cases
}

// TestHostileJSONAPIs sends each credential API the malformed-request table
// and requires that API's own error shape with a 4xx (or a success where the
// input is odd but valid), never a 5xx and never a dropped connection.
func TestHostileJSONAPIs(t *testing.T) {
	env := testkit.New(t, hostileConfig)
	c := env.Client()
	tok := env.ServiceToken(t, "acme", "svc", "svc-secret")
	for _, a := range jsonAPIs() {
		for _, tc := range jsonCases(a) {
			t.Run(a.name+"/"+tc.name, func(t *testing.T) {
				var h http.Header
				if a.bearer {
					h = http.Header{"Authorization": {"Bearer " + tok}}
				}
				ct := tc.contentType
				if ct == "" {
					ct = "application/json"
				}
				got := hostileDo(t, c, http.MethodPost, env.URL+a.path, ct, tc.body, h)
				t.Logf("%d %.120s", got.status, got.body)
				checkStatus(t, got, tc.want, tc.ok2xx)
				if got.status >= 400 {
					if err := a.shape(got.status, got.body); err != nil {
						t.Errorf("answer %d not in the API's error shape: %v", got.status, err)
					}
				}
			})
		}
	}
	checkNoInjectedMail(t, env)
}

// checkStatus applies a case's expectation to an answer.
func checkStatus(t *testing.T, got hostileAnswer, want int, ok2xx bool) {
	t.Helper()
	switch {
	case got.status >= 500:
		t.Errorf("status = %d, want a 4xx (never a 5xx for bad input); body %.300s", got.status, got.body)
	case want != 0 && got.status != want:
		t.Errorf("status = %d, want %d; body %.300s", got.status, want, got.body)
	case got.status < 400 && !ok2xx:
		t.Errorf("status = %d, want a 4xx; body %.300s", got.status, got.body)
	}
}

// checkNoInjectedMail fails if any captured mail went to an address
// smuggled in through a header injection, or carries an injected header.
func checkNoInjectedMail(t *testing.T, env *testkit.Env) {
	t.Helper()
	for _, m := range env.Mail.Messages() {
		for _, to := range m.To {
			if strings.EqualFold(to, "x@y.com") || strings.ContainsAny(to, "\r\n") {
				t.Errorf("a mail went to %q: header injection through an email field", to)
			}
		}
		if hdr, _, _ := bytes.Cut(m.Raw, []byte("\r\n\r\n")); bytes.Contains(bytes.ToLower(hdr), []byte("\nbcc:")) {
			t.Errorf("a mail carries a Bcc header:\n%s", hdr)
		}
	}
}
