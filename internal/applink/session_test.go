package applink_test

import (
	"crypto/sha256"
	"encoding/base64"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/testkit"
)

var (
	csrfRE   = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
	actionRE = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
)

// browserLogin signs email in through the realm's login page with a public
// PKCE client, leaving the SSO session cookie in the returned client's jar.
func browserLogin(t *testing.T, env *testkit.Env, email, password string) *http.Client {
	t.Helper()
	c := env.Client()
	sum := sha256.Sum256([]byte("verifier-verifier-verifier-verifier-verifier"))
	q := url.Values{
		"client_id": {"web"}, "redirect_uri": {"https://app.example.com/cb"}, "response_type": {"code"},
		"scope": {"openid"}, "state": {"st"}, "nonce": {"nn"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	resp, err := c.Get(env.Issuer("acme") + "/protocol/openid-connect/auth?" + q.Encode())
	if err != nil {
		t.Fatalf("authorization request: %v", err)
	}
	resp.Body.Close()
	loginURL, err := resp.Location()
	if err != nil {
		t.Fatalf("authorization answered %d without a redirect to the login page", resp.StatusCode)
	}
	resp, err = c.Get(loginURL.String())
	if err != nil {
		t.Fatalf("login page: %v", err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	csrf, action := csrfRE.FindSubmatch(page), actionRE.FindSubmatch(page)
	if csrf == nil || action == nil {
		t.Fatalf("login page (%d) has no form: %s", resp.StatusCode, page)
	}
	form := url.Values{"username": {email}, "password": {password}, "csrf_token": {html.UnescapeString(string(csrf[1]))}}
	resp, err = c.PostForm(html.UnescapeString(string(action[1])), form)
	if err != nil {
		t.Fatalf("post login form: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("login answered %d, want 302", resp.StatusCode)
	}
	return c
}

func TestSessionCookieAuthorization(t *testing.T) {
	env, _ := newEnv(t)
	const body = `{"site":"testing","emails":["from-browser@example.com"]}`
	boss := browserLogin(t, env, "boss@example.com", "correct-horse-battery")
	pleb := browserLogin(t, env, "pleb@example.com", "correct-horse-battery")
	tests := []struct {
		name       string
		client     *http.Client
		path       string
		origin     string
		wantStatus int
		wantBody   string
	}{
		{"session with role", boss, apiPath, "", 200, ""},
		{"root alias", boss, "/generate-link-api/", "", 200, ""},
		{"same origin", boss, apiPath, env.URL, 200, ""},
		{"cross origin", boss, apiPath, "https://evil.example.com", 403, `{"error":"Cross-origin requests must authenticate with a Bearer access token"}`},
		{"session without role", pleb, apiPath, "", 403, `{"error":"The caller lacks the realm role link-generator"}`},
		{"no session", env.Client(), apiPath, "", 401, `{"error":"Authentication required: send a Bearer access token"}`},
		{"other realm's path", boss, "/auth/realms/other/generate-link-api/", "", 401, `{"error":"Authentication required: send a Bearer access token"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, env.URL+tt.path, strings.NewReader(body))
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			resp, err := tt.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus || (tt.wantBody != "" && string(b) != tt.wantBody) {
				t.Fatalf("POST %s = %d %s, want %d %s", tt.path, resp.StatusCode, b, tt.wantStatus, tt.wantBody)
			}
			if tt.wantStatus == 200 && len(links(t, string(b))) != 1 {
				t.Fatalf("answer %s, want one link", b)
			}
		})
	}
}
