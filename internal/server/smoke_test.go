package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/testkit"
)

const smokeConfig = `
server: {publicURL: "https://localhost"}
realms:
  - name: acme
    clients:
      - clientId: svc
        secret: s3cret
        grantTypes: [client_credentials]
        serviceAccountRoles: [magic-link-sender]
`

func TestSmokeClientCredentialsAndHealth(t *testing.T) {
	env := testkit.New(t, smokeConfig)
	c := env.Client()
	tests := []struct {
		name, method, path, body string
		user, pass               string
		wantStatus               int
		wantIn                   string
	}{
		{"live", "GET", "/health/live", "", "", "", 200, `"UP"`},
		{"ready", "GET", "/health/ready", "", "", "", 200, `"UP"`},
		{"discovery", "GET", "/auth/realms/acme/.well-known/openid-configuration", "", "", "", 200, `"issuer":"` + env.Issuer("acme") + `"`},
		{"discovery alias", "GET", "/realms/acme/.well-known/openid-configuration", "", "", "", 200, `"issuer":"` + env.URL + "/realms/acme" + `"`},
		{"unknown realm", "GET", "/auth/realms/nope/.well-known/openid-configuration", "", "", "", 404, ""},
		{"client credentials", "POST", "/auth/realms/acme/protocol/openid-connect/token", "grant_type=client_credentials", "svc", "s3cret", 200, `"access_token"`},
		{"wrong secret", "POST", "/auth/realms/acme/protocol/openid-connect/token", "grant_type=client_credentials", "svc", "nope", 401, `invalid_client`},
		{"metrics", "GET", "/metrics", "", "", "", 200, `latchkey_http_requests_total{realm="acme",route="discovery",status="200"} `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, env.URL+tt.path, strings.NewReader(tt.body))
			if tt.body != "" {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			if tt.user != "" {
				req.SetBasicAuth(url.QueryEscape(tt.user), url.QueryEscape(tt.pass))
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var buf bytes.Buffer
			_, _ = buf.ReadFrom(resp.Body)
			if resp.StatusCode != tt.wantStatus || !strings.Contains(buf.String(), tt.wantIn) {
				t.Fatalf("%s %s = %d %s, want %d containing %q", tt.method, tt.path, resp.StatusCode, buf.String(), tt.wantStatus, tt.wantIn)
			}
			if tt.name == "client credentials" {
				var tok struct {
					AccessToken string `json:"access_token"`
				}
				_ = json.Unmarshal([]byte(buf.String()), &tok)
				if _, err := env.Server.Realms.All()[0].Tokens.Verify(req.Context(), tok.AccessToken); err != nil {
					t.Fatalf("issued token does not verify: %v", err)
				}
			}
		})
	}
}
