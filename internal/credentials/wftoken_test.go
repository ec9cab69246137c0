package credentials_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/testkit"
)

func wfMessage(msg string) string { return `{"message":"` + msg + `"}` }

func wfMissing(msg string) string { return `{"status":"MISSING_DATA","message":"` + msg + `"}` }

func TestGenerateUserTokenResponses(t *testing.T) {
	env := testkit.New(t, testConfig, testkit.Options{NoMail: true})
	c := env.Client()
	alice := user(t, env, "alice@example.com")
	huge := strings.Repeat("a", 10_000)
	const invalid = "Invalid email or password"
	tests := []struct {
		name        string
		method      string
		contentType string
		body        string
		wantStatus  int
		wantBody    string // "" for the success body, built from the answer
	}{
		{"wrong password", "POST", "application/json", wfBody("alice@example.com", "nope"), 401, wfMessage(invalid)},
		{"success", "POST", "application/json", wfBody("alice@example.com", alicePassword), 200, ""},
		{"email case and spaces", "POST", "application/json", wfBody(" Alice@EXAMPLE.com", alicePassword), 200, ""},
		{"form content type (the seed's curl)", "POST", "application/x-www-form-urlencoded", wfBody("alice@example.com", alicePassword), 200, ""},
		{"text content type", "POST", "text/plain", wfBody("alice@example.com", alicePassword), 200, ""},
		{"unknown email", "POST", "application/json", wfBody("nobody@example.com", alicePassword), 401, wfMessage(invalid)},
		{"disabled user", "POST", "application/json", wfBody("bob@example.com", bobPassword), 401, wfMessage(invalid)},
		{"user without password", "POST", "application/json", wfBody("nopass@example.com", "anything"), 401, wfMessage(invalid)},
		{"not an email", "POST", "application/json", wfBody("alice", alicePassword), 400, wfMissing("Invalid data for workflow generate-user-token: parameter email is not an email address")},
		{"huge email", "POST", "application/json", wfBody(huge+"@example.com", alicePassword), 400, wfMissing("Invalid data for workflow generate-user-token: parameter email is not an email address")},
		{"huge password", "POST", "application/json", wfBody("alice@example.com", huge), 400, wfMissing("Invalid data for workflow generate-user-token: parameter password is too long")},
		{"missing email", "POST", "application/json", `{"password":"x"}`, 400, wfMissing("Missing parameter for workflow generate-user-token: parameter email")},
		{"null email", "POST", "application/json", `{"email":null,"password":"x"}`, 400, wfMissing("Missing parameter for workflow generate-user-token: parameter email")},
		{"missing password", "POST", "application/json", `{"email":"alice@example.com"}`, 400, wfMissing("Missing parameter for workflow generate-user-token: parameter password")},
		{"null password", "POST", "application/json", `{"email":"alice@example.com","password":null}`, 400, wfMissing("Missing parameter for workflow generate-user-token: parameter password")},
		{"the seed's emailId spelling", "POST", "application/json", loginBody("alice@example.com", alicePassword), 400, wfMissing("Missing parameter for workflow generate-user-token: parameter email")},
		{"email not a string", "POST", "application/json", `{"email":["a"],"password":"x"}`, 400, wfMissing(`Invalid request body: field \"email\" must be a string`)},
		{"password a number", "POST", "application/json", `{"email":"alice@example.com","password":12345678}`, 400, wfMissing(`Invalid request body: field \"password\" must be a string`)},
		{"string body", "POST", "application/json", `"alice@example.com"`, 400, wfMissing("Invalid request body: expected a JSON object")},
		{"truncated JSON", "POST", "application/json", `{"email":"alice@example.com","password":"`, 400, wfMissing("Invalid request body: invalid JSON")},
		{"invalid UTF-8", "POST", "application/json", "{\"email\":\"a@example.com\",\"password\":\"\xc3\x28\"}", 400, wfMissing("Invalid request body: body is not valid UTF-8")},
		{"deep nesting", "POST", "application/json", strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 40), 400, wfMissing("Invalid request body: nesting too deep")},
		{"empty body", "POST", "application/json", "  \n", 400, wfMissing("Request body is required")},
		{"2 MiB body", "POST", "application/json", `{"email":"` + strings.Repeat("a", 2<<20) + `"}`, 413, wfMessage("Request body too large")},
		{"GET", "GET", "", "", 405, wfMessage("Method not allowed, use POST")},
		{"DELETE", "DELETE", "", "", 405, wfMessage("Method not allowed, use POST")},
	}
	for _, path := range paths("/wf/generate-user-token") {
		for _, tt := range tests {
			t.Run(path+"/"+tt.name, func(t *testing.T) {
				got := call(t, c, tt.method, env.URL+path, tt.contentType, strings.NewReader(tt.body))
				want := tt.wantBody
				if tt.wantStatus == http.StatusOK {
					tok := between(got.body, `"token":"`, `"`)
					want = `{"status":"success","response":{"user_id":"` + alice.ID + `","token":"` + tok + `","expires":3600.0}}`
				}
				if got.status != tt.wantStatus || got.body != want {
					t.Fatalf("%s %s = %d %s\nwant %d %s", tt.method, path, got.status, got.body, tt.wantStatus, want)
				}
				if ct := got.header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type = %q, want application/json", ct)
				}
				if tt.wantStatus == http.StatusMethodNotAllowed && got.header.Get("Allow") != "POST" {
					t.Errorf("Allow = %q, want POST", got.header.Get("Allow"))
				}
			})
		}
	}
}

func TestGenerateUserTokenNotFound(t *testing.T) {
	env := testkit.New(t, testConfig, testkit.Options{NoMail: true})
	c := env.Client()
	body := wfBody("alice@example.com", alicePassword)
	tests := []struct {
		name, method, path, want string
	}{
		{"unknown workflow", "POST", "/wf/generate-user-tokens", wfMessage("Workflow not found")},
		{"unknown workflow, realm path", "POST", "/auth/realms/acme/wf/other", wfMessage("Workflow not found")},
		{"unknown workflow, alias path", "POST", "/realms/acme/wf/x/generate-user-token", wfMessage("Workflow not found")},
		{"empty workflow name", "POST", "/wf/", wfMessage("Workflow not found")},
		{"trailing slash", "POST", "/wf/generate-user-token/", wfMessage("Workflow not found")},
		{"unknown workflow, GET", "GET", "/wf/nope", wfMessage("Workflow not found")},
		{"unknown realm", "POST", "/auth/realms/nope/wf/generate-user-token", wfMessage("Realm not found")},
		{"unknown realm, alias path", "POST", "/realms/nope/wf/generate-user-token", wfMessage("Realm not found")},
		{"disabled realm", "POST", "/auth/realms/closed/wf/generate-user-token", wfMessage("Realm not found")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := call(t, c, tt.method, env.URL+tt.path, "application/json", strings.NewReader(body))
			if got.status != http.StatusNotFound || got.body != tt.want {
				t.Fatalf("%s %s = %d %s, want 404 %s", tt.method, tt.path, got.status, got.body, tt.want)
			}
		})
	}
}
