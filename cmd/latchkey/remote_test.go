package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/testkit"
)

const remoteConfig = `
server: {publicURL: "http://localhost"}
defaultRealm: a
realms:
  - name: a
    passwordPolicy: {minLength: 8}
    bruteForce: {failureFactor: 3}
    rateLimits: {perIP: "off", perAccount: "off"}
    clients:
      - {clientId: admin, secret: admin-secret, grantTypes: [client_credentials], serviceAccountRoles: [realm-admin]}
      - {clientId: viewer, secret: viewer-secret, grantTypes: [client_credentials], serviceAccountRoles: [view-users]}
`

// TestUserCommandsThroughServer runs the admin commands against a running
// server through its Admin REST API (--server), with the storage commands'
// output, and checks what the server then holds.
func TestUserCommandsThroughServer(t *testing.T) {
	t.Setenv("LATCHKEY_PASSWORD", "")
	env := testkit.New(t, remoteConfig, testkit.Options{PlainHTTP: true})
	server := []string{"--server", env.URL, "--client-id", "admin", "--client-secret", "admin-secret", "--realm", "a"}
	uuid := `[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}`
	steps := []struct {
		args    []string
		wantOut string
		wantErr string
	}{
		{args: []string{"user", "add", "dave@example.com", "--role", "b", "--role", "a"},
			wantOut: `^created user dave@example\.com \(id ` + uuid + `\) in realm a\n$`},
		{args: []string{"user", "add", "erin@example.com", "--password", "erin's password"}, wantOut: `^$`},
		{args: []string{"user", "add", "dave@example.com"}, wantErr: `add user "dave@example.com": 409`},
		{args: []string{"user", "add", "frank@example.com", "--password", "short"}, wantErr: "400 Invalid password"},
		{args: []string{"user", "set-password", "dave@example.com", "--password", "dave's password"},
			wantOut: `^password of dave@example\.com set\n$`},
		{args: []string{"user", "set-password", "nobody@example.com", "--password", "whatever1"},
			wantErr: `no user "nobody@example.com" in realm "a"`},
		{args: []string{"user", "disable", "erin@example.com"}, wantOut: `^user erin@example\.com disabled\n$`},
		{args: []string{"user", "unlock", "erin@example.com"}, wantOut: `^user erin@example\.com unlocked\n$`},
		{args: []string{"user", "list"},
			wantOut: `^ID {4,}EMAIL {12,}ENABLED  VERIFIED  ROLES\n` +
				`(` + uuid + `  (dave@example\.com  true     true      a,b|erin@example\.com  false    true      )\n){2}$`},
		{args: []string{"user", "rotate-api-key", "dave@example.com"}, wantErr: "works on the storage only"},
		{args: []string{"keys", "rotate"}, wantOut: `^realm a: new active key \S+ \(previous \S+ still verifies\)\n$`},
	}
	for _, st := range steps {
		out, err := runCLI(t, append(st.args, server...)...)
		name := strings.Join(st.args, " ")
		if st.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), st.wantErr) {
				t.Errorf("latchkey %s --server = %v, want an error containing %q", name, err, st.wantErr)
			}
			continue
		}
		if err != nil || !regexp.MustCompile(st.wantOut).MatchString(out) {
			t.Errorf("latchkey %s --server = %q, %v; want output matching %q", name, out, err, st.wantOut)
		}
	}
	if r := testkit.PostJSON(t, env.Client(), env.Issuer("a")+"/user/login", "", `{"emailId":"dave@example.com","password":"dave's password"}`); r.Status != 200 {
		t.Errorf("login with the password set through the server = %d %s", r.Status, r.Body)
	}
	if _, err := runCLI(t, "user", "list", "--server", env.URL, "--client-id", "viewer", "--client-secret", "wrong", "--realm", "a"); err == nil {
		t.Error("wrong client credentials were accepted")
	}
	if _, err := runCLI(t, "user", "disable", "dave@example.com", "--server", env.URL, "--client-id", "viewer", "--client-secret", "viewer-secret", "--realm", "a"); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("disable with view-users only = %v, want 403", err)
	}
}
