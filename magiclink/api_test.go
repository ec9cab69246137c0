package magiclink_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/testkit"
)

func body(code int, status, msg string) string {
	return fmt.Sprintf(`{"message":%q,"status":%q,"subSystem":5}`, msg, status)
}

func TestAccessLinkStatuses(t *testing.T) {
	env := testkit.New(t, testConfig)
	svc := env.ServiceToken(t, "acme", "svc", "svc-secret")
	noRole := env.ServiceToken(t, "acme", "norole", "norole-secret")
	otherRealm := env.ServiceToken(t, "limited", "svc", "svc-secret")
	badRequest := func(msg string) string { return body(400, "BAD REQUEST", msg) }
	notPresent := body(404, "Not Found", "User is not present, Please enable user")
	invalidRT := `{"message":"Invalid response type or response mode","status":"BAD REQUEST","subSystem":5}`

	tests := []struct {
		name       string
		method     string
		prefix     string
		token      string
		body       any
		wantStatus int
		wantBody   string
		wantMail   string // recipient that must have got exactly one mail
	}{
		{name: "existing user", body: linkRequest("alice@example.com", map[string]any{"forceCreate": false}),
			wantStatus: 200, wantBody: okBody, wantMail: "alice@example.com"},
		{name: "seed example request", body: map[string]any{
			"email": "abc@gmail.com", "clientId": "conf", "redirectUri": redirectURI, "scope": "open_id",
			"responseMode": "form_post", "responseType": "code token", "forceCreate": true, "resetPassword": true,
		}, wantStatus: 200, wantBody: okBody, wantMail: "abc@gmail.com"},
		{name: "Keycloak 17+ prefix", prefix: "/realms/acme", body: linkRequest("prefix@example.com", nil),
			wantStatus: 200, wantBody: okBody, wantMail: "prefix@example.com"},
		{name: "all extras", body: linkRequest("extras@example.com", map[string]any{"state": "s1", "nonce": "n1",
			"codeChallenge": strings.Repeat("a", 43), "codeChallengeMethod": "S256", "lifespanSeconds": 300}),
			wantStatus: 200, wantBody: okBody, wantMail: "extras@example.com"},
		{name: "unknown user without forceCreate", body: linkRequest("nobody@example.com", map[string]any{"forceCreate": false}),
			wantStatus: 404, wantBody: notPresent},
		{name: "disabled user even with forceCreate", body: linkRequest("bob@example.com", nil),
			wantStatus: 404, wantBody: notPresent},
		{name: "response type not allowed for the client", body: linkRequest("alice@example.com", map[string]any{
			"clientId": "codeonly", "responseType": "code token", "responseMode": "fragment"}), wantStatus: 400, wantBody: invalidRT},
		{name: "unknown response type", body: linkRequest("alice@example.com", map[string]any{"responseType": "magic"}),
			wantStatus: 400, wantBody: invalidRT},
		{name: "unknown response mode", body: linkRequest("alice@example.com", map[string]any{"responseMode": "web_message"}),
			wantStatus: 400, wantBody: invalidRT},
		{name: "tokens in a query", body: linkRequest("alice@example.com", map[string]any{"responseType": "code token", "responseMode": "query"}),
			wantStatus: 400, wantBody: invalidRT},
		{name: "unknown client", body: linkRequest("alice@example.com", map[string]any{"clientId": "nope"}),
			wantStatus: 400, wantBody: badRequest("Invalid clientId: client not found")},
		{name: "redirect URI not registered", body: linkRequest("alice@example.com", map[string]any{"redirectUri": "https://evil.example.com/cb"}),
			wantStatus: 400, wantBody: badRequest("Invalid redirectUri: not registered for the client")},
		{name: "scope without openid", body: linkRequest("alice@example.com", map[string]any{"scope": "email profile"}),
			wantStatus: 400, wantBody: badRequest("Invalid scope: scope must include openid")},
		{name: "missing email", body: linkRequest("", nil), wantStatus: 400, wantBody: badRequest("Missing required field: email")},
		{name: "missing responseMode", body: linkRequest("alice@example.com", map[string]any{"responseMode": ""}),
			wantStatus: 400, wantBody: badRequest("Missing required field: responseMode")},
		{name: "invalid email", body: linkRequest("alice@example.com\r\nBcc: x@example.com", nil),
			wantStatus: 400, wantBody: badRequest("Invalid email address")},
		{name: "lifespan above the realm maximum", body: linkRequest("alice@example.com", map[string]any{"lifespanSeconds": 86401}),
			wantStatus: 400, wantBody: badRequest("lifespanSeconds must not exceed 86400 (the realm's magicLink.maxLifespan)")},
		{name: "negative lifespan", body: linkRequest("alice@example.com", map[string]any{"lifespanSeconds": -1}),
			wantStatus: 400, wantBody: badRequest("lifespanSeconds must be a positive number of seconds")},
		{name: "id_token without nonce", body: linkRequest("alice@example.com", map[string]any{"responseType": "code id_token", "responseMode": "fragment"}),
			wantStatus: 400, wantBody: badRequest("Missing nonce: required when the response type includes id_token")},
		{name: "plain PKCE", body: linkRequest("alice@example.com", map[string]any{"codeChallenge": strings.Repeat("a", 43), "codeChallengeMethod": "plain"}),
			wantStatus: 400, wantBody: badRequest("Invalid codeChallenge or codeChallengeMethod (only S256 is supported)")},
		{name: "malformed JSON", body: `{"email":`, wantStatus: 400, wantBody: badRequest("Invalid request body: invalid JSON")},
		{name: "wrong field type", body: `{"forceCreate":"yes"}`, wantStatus: 400, wantBody: badRequest(`Invalid request body: field "forceCreate" must be a bool`)},
		{name: "empty body", body: ``, wantStatus: 400, wantBody: badRequest("Request body is required")},
		{name: "oversized body", body: `{"email":"` + strings.Repeat("a", 70<<10) + `"}`,
			wantStatus: 413, wantBody: body(413, "Payload Too Large", "Request body too large")},
		{name: "no token", token: "-", body: linkRequest("alice@example.com", nil),
			wantStatus: 401, wantBody: body(401, "Unauthorized", "Missing bearer token")},
		{name: "garbage token", token: "not.a.jwt", body: linkRequest("alice@example.com", nil),
			wantStatus: 401, wantBody: body(401, "Unauthorized", "Invalid or expired bearer token")},
		{name: "token of another realm", token: otherRealm, body: linkRequest("alice@example.com", nil),
			wantStatus: 401, wantBody: body(401, "Unauthorized", "Invalid or expired bearer token")},
		{name: "token without the role", token: noRole, body: linkRequest("alice@example.com", nil),
			wantStatus: 403, wantBody: body(403, "Forbidden", "Missing required role magic-link-sender")},
		{name: "unknown realm", prefix: "/auth/realms/nope", body: linkRequest("alice@example.com", nil),
			wantStatus: 404, wantBody: body(404, "Not Found", "Realm does not exist")},
		{name: "GET", method: http.MethodGet, body: ``,
			wantStatus: 405, wantBody: body(405, "Method Not Allowed", "Method not allowed, use POST")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method, prefix, token := tt.method, tt.prefix, tt.token
			if method == "" {
				method = http.MethodPost
			}
			if prefix == "" {
				prefix = "/auth/realms/acme"
			}
			switch token {
			case "":
				token = svc
			case "-":
				token = ""
			}
			before := 0
			if tt.wantMail != "" {
				before = env.Mail.CountTo(tt.wantMail)
			}
			total := len(env.Mail.Messages())
			status, got, hdr := callAPIMethod(t, env, method, prefix, token, tt.body)
			if status != tt.wantStatus || got != tt.wantBody {
				t.Fatalf("got %d %s\nwant %d %s", status, got, tt.wantStatus, tt.wantBody)
			}
			if ct := hdr.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if tt.wantMail != "" {
				if n := env.Mail.CountTo(tt.wantMail); n != before+1 {
					t.Fatalf("mails to %s = %d, want %d", tt.wantMail, n, before+1)
				}
			} else if n := len(env.Mail.Messages()); n != total {
				t.Fatalf("a refused request sent mail: %d messages, want %d", n, total)
			}
		})
	}

	t.Run("expired token", func(t *testing.T) {
		env.Clock.Advance(6 * time.Minute) // access tokens live 5m
		status, got, _ := callAPI(t, env, "acme", svc, linkRequest("alice@example.com", nil))
		want := body(401, "Unauthorized", "Invalid or expired bearer token")
		if status != 401 || got != want {
			t.Fatalf("got %d %s, want 401 %s", status, got, want)
		}
	})
}

func TestUserTokenWithoutRoleIsForbidden(t *testing.T) {
	env := testkit.New(t, testConfig)
	link := sendLink(t, env, "acme", env.ServiceToken(t, "acme", "svc", "svc-secret"), linkRequest("carol@example.com", nil))
	code := authResponse(t, confirm(t, env.Client(), link), "query").Get("code")
	tok, _ := newRP(t, env, "acme", "conf", "conf-secret").exchange(t, code)
	status, got, _ := callAPI(t, env, "acme", tok.AccessToken, linkRequest("alice@example.com", nil))
	want := body(403, "Forbidden", "Missing required role magic-link-sender")
	if status != 403 || got != want {
		t.Fatalf("user token: got %d %s, want 403 %s", status, got, want)
	}
}

func TestSSLRequired(t *testing.T) {
	tests := []struct {
		name        string
		sslRequired string
		wantStatus  int
		wantBody    string
	}{
		{"external allows loopback over http", config.SSLExternal, 200, okBody},
		{"none allows http", config.SSLNone, 200, okBody},
		{"all refuses http", config.SSLAll, 403, body(403, "Forbidden", "HTTPS required")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := testkit.New(t, testConfig, testkit.Options{PlainHTTP: true, Mutate: func(c *config.Config) {
				c.Realms[0].SSLRequired = tt.sslRequired
			}})
			tok := env.ServiceToken(t, "acme", "svc", "svc-secret")
			status, got, _ := callAPI(t, env, "acme", tok, linkRequest("alice@example.com", nil))
			if status != tt.wantStatus || got != tt.wantBody {
				t.Fatalf("got %d %s, want %d %s", status, got, tt.wantStatus, tt.wantBody)
			}
		})
	}
}

func TestRevealUnknownUsersOff(t *testing.T) {
	env := testkit.New(t, testConfig, testkit.Options{Mutate: func(c *config.Config) {
		off := false
		c.Realms[0].MagicLink.RevealUnknownUsers = &off
	}})
	tok := env.ServiceToken(t, "acme", "svc", "svc-secret")
	for _, email := range []string{"nobody@example.com", "bob@example.com"} {
		status, got, _ := callAPI(t, env, "acme", tok, linkRequest(email, map[string]any{"forceCreate": false}))
		if status != 200 || got != okBody {
			t.Fatalf("%s: got %d %s, want 200 %s", email, status, got, okBody)
		}
		if n := env.Mail.CountTo(email); n != 0 {
			t.Fatalf("%s got %d mails, want none", email, n)
		}
	}
	// Validation still answers before anything else.
	status, got, _ := callAPI(t, env, "acme", tok, linkRequest("nobody@example.com", map[string]any{"responseType": "magic"}))
	if status != 400 {
		t.Fatalf("invalid request for an unknown user: got %d %s, want 400", status, got)
	}
	// Known users still get their mail.
	sendLink(t, env, "acme", tok, linkRequest("alice@example.com", nil))
}

func TestResendIntervalAndEmailLimit(t *testing.T) {
	env := testkit.New(t, testConfig)
	tok := env.ServiceToken(t, "limited", "svc", "svc-secret")
	req := linkRequest("dave@example.com", nil)
	sendLink(t, env, "limited", tok, req)

	status, got, hdr := callAPI(t, env, "limited", tok, req)
	want := body(429, "Too Many Requests", "A magic link was sent to this user for this client recently, please try again later")
	if status != 429 || got != want || hdr.Get("Retry-After") != "60" {
		t.Fatalf("resend: got %d %s Retry-After %q, want 429 %s Retry-After 60", status, got, hdr.Get("Retry-After"), want)
	}
	// perAccount is 2/m per email, and both attempts counted.
	other := linkRequest("dave@example.com", map[string]any{"clientId": "other"})
	status, got, hdr = callAPI(t, env, "limited", tok, other)
	want = body(429, "Too Many Requests", "Too many magic links for this email, please try again later")
	if status != 429 || got != want || hdr.Get("Retry-After") == "" {
		t.Fatalf("email limit: got %d %s Retry-After %q, want 429 %s with Retry-After", status, got, hdr.Get("Retry-After"), want)
	}
	if n := env.Mail.CountTo("dave@example.com"); n != 1 {
		t.Fatalf("mails = %d, want 1", n)
	}
	env.Clock.Advance(61 * time.Second)
	sendLink(t, env, "limited", tok, req)
}

func TestCallerRateLimit(t *testing.T) {
	env := testkit.New(t, testConfig)
	tok := env.ServiceToken(t, "limited", "svc", "svc-secret")
	for i := range 3 { // perIP: 3/m, keyed by the calling service account
		sendLink(t, env, "limited", tok, linkRequest(fmt.Sprintf("user%d@example.com", i), nil))
	}
	status, got, hdr := callAPI(t, env, "limited", tok, linkRequest("user9@example.com", nil))
	want := body(429, "Too Many Requests", "Too many requests, please try again later")
	if status != 429 || got != want || hdr.Get("Retry-After") != "20" {
		t.Fatalf("got %d %s Retry-After %q, want 429 %s Retry-After 20", status, got, hdr.Get("Retry-After"), want)
	}
}
