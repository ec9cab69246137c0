package credentials_test

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/credentials"
	"github.com/latchkey/latchkey/internal/testkit"
)

// loginError is /user/login's error body.
func loginError(code int, msg string) string {
	return `{"responseCode":` + strconv.Itoa(code) + `,"responseMessage":"` + msg + `"}`
}

func TestUserLoginResponses(t *testing.T) {
	env := testkit.New(t, testConfig, testkit.Options{NoMail: true})
	c := env.Client()
	keys, err := credentials.LoadAPIKeys(env.Config.Storage.Path)
	if err != nil {
		t.Fatalf("LoadAPIKeys() = %v", err)
	}
	alice := user(t, env, "alice@example.com")
	huge := strings.Repeat("a", 10_000)
	tests := []struct {
		name        string
		method      string
		contentType string
		body        string
		wantStatus  int
		wantBody    string // "" for the success body, built from the answer
	}{
		{"wrong password", "POST", "application/json", loginBody("alice@example.com", "nope"), 405, loginError(405, "Please provide valid password")},
		{"success", "POST", "application/json", loginBody("alice@example.com", alicePassword), 200, ""},
		{"email case and spaces", "POST", "application/json", loginBody("  ALICE@Example.com ", alicePassword), 200, ""},
		{"form content type (the seed's curl)", "POST", "application/x-www-form-urlencoded", loginBody("alice@example.com", alicePassword), 200, ""},
		{"no content type", "POST", "", loginBody("alice@example.com", alicePassword), 200, ""},
		{"extra fields ignored", "POST", "application/json", `{"emailId":"alice@example.com","password":"` + alicePassword + `","x":[1,{}]}`, 200, ""},
		{"unknown email", "POST", "application/json", loginBody("nobody@example.com", alicePassword), 404, loginError(404, "Please provide valid user details")},
		{"disabled user", "POST", "application/json", loginBody("bob@example.com", bobPassword), 404, loginError(404, "Please provide valid user details")},
		{"user without password", "POST", "application/json", loginBody("nopass@example.com", "anything"), 405, loginError(405, "Please provide valid password")},
		{"not an email", "POST", "application/json", loginBody("alice", alicePassword), 404, loginError(404, "Please provide valid user details")},
		{"huge email", "POST", "application/json", loginBody(huge+"@example.com", alicePassword), 404, loginError(404, "Please provide valid user details")},
		{"huge password", "POST", "application/json", loginBody("alice@example.com", huge), 400, loginError(400, "password is too long")},
		{"missing emailId", "POST", "application/json", `{"password":"x"}`, 400, loginError(400, "emailId is required")},
		{"null emailId", "POST", "application/json", `{"emailId":null,"password":"x"}`, 400, loginError(400, "emailId is required")},
		{"blank emailId", "POST", "application/json", `{"emailId":"  ","password":"x"}`, 400, loginError(400, "emailId is required")},
		{"missing password", "POST", "application/json", `{"emailId":"alice@example.com"}`, 400, loginError(400, "password is required")},
		{"empty password", "POST", "application/json", `{"emailId":"alice@example.com","password":""}`, 400, loginError(400, "password is required")},
		{"emailId not a string", "POST", "application/json", `{"emailId":42,"password":"x"}`, 400, loginError(400, `Invalid request body: field \"emailId\" must be a string`)},
		{"password not a string", "POST", "application/json", `{"emailId":"alice@example.com","password":{"a":1}}`, 400, loginError(400, `Invalid request body: field \"password\" must be a string`)},
		{"array body", "POST", "application/json", `["alice@example.com"]`, 400, loginError(400, "Invalid request body: expected a JSON object")},
		{"null body", "POST", "application/json", `null`, 400, loginError(400, "emailId is required")},
		{"truncated JSON", "POST", "application/json", `{"emailId":"alice@example.com","pass`, 400, loginError(400, "Invalid request body: invalid JSON")},
		{"trailing data", "POST", "application/json", `{"emailId":"a@b.c","password":"x"} {}`, 400, loginError(400, "Invalid request body: unexpected data after the JSON value")},
		{"invalid UTF-8", "POST", "application/json", "{\"emailId\":\"\xff@example.com\",\"password\":\"x\"}", 400, loginError(400, "Invalid request body: body is not valid UTF-8")},
		{"deep nesting", "POST", "application/json", `{"emailId":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, 400, loginError(400, "Invalid request body: nesting too deep")},
		{"empty body", "POST", "application/json", ``, 400, loginError(400, "Request body is required")},
		{"2 MiB body", "POST", "application/json", `{"emailId":"` + strings.Repeat("a", 2<<20) + `"}`, 413, loginError(413, "Request body too large")},
		{"GET", "GET", "", "", 405, loginError(405, "Method not allowed")},
		{"PUT", "PUT", "application/json", loginBody("alice@example.com", alicePassword), 405, loginError(405, "Method not allowed")},
	}
	for _, path := range paths("/user/login") {
		for _, tt := range tests {
			t.Run(path+"/"+tt.name, func(t *testing.T) {
				got := call(t, c, tt.method, env.URL+path, tt.contentType, strings.NewReader(tt.body))
				want := tt.wantBody
				if tt.wantStatus == http.StatusOK {
					tok := between(got.body, `"token":"`, `"`)
					want = `{"responseCode":200,"responseMessage":"Success","responseData":{"token":"` + tok +
						`","apiKey":"` + keys.Key(alice) + `","expiry":"3600","emailId":"alice@example.com"}}`
				}
				if got.status != tt.wantStatus || got.body != want {
					t.Fatalf("%s %s = %d %s\nwant %d %s", tt.method, path, got.status, got.body, tt.wantStatus, want)
				}
				if ct := got.header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type = %q, want application/json", ct)
				}
				if cc := got.header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("Cache-Control = %q, want no-store", cc)
				}
				if tt.wantStatus == http.StatusMethodNotAllowed && tt.method != "POST" && got.header.Get("Allow") != "POST" {
					t.Errorf("Allow = %q, want POST", got.header.Get("Allow"))
				}
			})
		}
	}
}

func TestUserLoginUnknownRealm(t *testing.T) {
	env := testkit.New(t, testConfig, testkit.Options{NoMail: true})
	c := env.Client()
	for _, path := range []string{"/auth/realms/nope/user/login", "/realms/nope/user/login", "/auth/realms/closed/user/login"} {
		got := postJSON(t, c, env.URL+path, loginBody("alice@example.com", alicePassword))
		if want := loginError(404, "Realm not found"); got.status != 404 || got.body != want {
			t.Errorf("POST %s = %d %s, want 404 %s", path, got.status, got.body, want)
		}
	}
	// The root alias follows defaultRealm, here a disabled one.
	env2 := testkit.New(t, strings.Replace(testConfig, "defaultRealm: acme", "defaultRealm: closed", 1), testkit.Options{NoMail: true})
	got := postJSON(t, env2.Client(), env2.URL+"/user/login", loginBody("alice@example.com", alicePassword))
	if want := loginError(404, "Realm not found"); got.status != 404 || got.body != want {
		t.Errorf("POST /user/login with a disabled default realm = %d %s, want 404 %s", got.status, got.body, want)
	}
}

// TestUserLoginChunkedOversize sends an oversized body without a length, so
// that the cap is hit while reading rather than from Content-Length.
func TestUserLoginChunkedOversize(t *testing.T) {
	env := testkit.New(t, testConfig, testkit.Options{NoMail: true})
	body := struct{ *bytes.Reader }{bytes.NewReader([]byte(`{"emailId":"` + strings.Repeat("a", 2<<20) + `"}`))}
	got := call(t, env.Client(), http.MethodPost, env.URL+"/user/login", "application/json", body)
	if want := loginError(413, "Request body too large"); got.status != 413 || got.body != want {
		t.Fatalf("chunked 2 MiB POST /user/login = %d %s, want 413 %s", got.status, got.body, want)
	}
}

// between returns the text of s between the first from and the next to.
func between(s, from, to string) string {
	_, rest, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, to)
	return v
}
