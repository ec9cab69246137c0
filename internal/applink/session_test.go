package applink_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/testkit"
)

// browserLogin signs email in through the realm's login page with the public
// PKCE client web (testkit's LoginCode), leaving the SSO session cookie in
// the returned client's jar.
func browserLogin(t *testing.T, env *testkit.Env, email, password string) *http.Client {
	t.Helper()
	c := env.Client()
	env.LoginCode(t, c, "acme", "web", "https://app.example.com/cb", email, password, testkit.NewPKCE())
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
