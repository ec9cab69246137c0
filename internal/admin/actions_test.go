package admin_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testkit"
)

// TestExecuteActionsEmail: Keycloak's execute-actions-email as a magic link
// that performs the actions, then signs the user in to the given client (or,
// without one, says the account is updated).
func TestExecuteActionsEmail(t *testing.T) {
	env := testkit.New(t, adminRealms)
	adm := adminAPI{env: env, token: env.ServiceToken(t, "a", "admin", "admin-secret"), base: env.URL + "/admin/realms/a"}
	var users []map[string]any
	if err := jsonDecode(adm.do(t, "GET", "/users?email=alice@example.com", "").Body, &users); err != nil || len(users) != 1 {
		t.Fatalf("find alice: %v %v", users, err)
	}
	id := users[0]["id"].(string)

	if r := adm.do(t, "PUT", "/users/"+id+"/execute-actions-email", `["CONFIGURE_TOTP"]`); r.Status != http.StatusBadRequest {
		t.Errorf("an unsupported action = %d %s, want 400", r.Status, r.Body)
	}
	if r := adm.do(t, "PUT", "/users/"+id+"/execute-actions-email?client_id=web&redirect_uri=https://evil.example/cb", `["VERIFY_EMAIL"]`); r.Status != http.StatusBadRequest {
		t.Errorf("an unregistered redirect_uri = %d %s, want 400", r.Status, r.Body)
	}

	// Update the password, then land in the client with a code.
	r := adm.do(t, "PUT", "/users/"+id+"/execute-actions-email?client_id=web&redirect_uri=https://app.example.com/cb&lifespan=600",
		`["UPDATE_PASSWORD","VERIFY_EMAIL"]`)
	if r.Status != http.StatusNoContent {
		t.Fatalf("execute-actions-email = %d %s", r.Status, r.Body)
	}
	msg := env.Mail.WaitFor(t, "alice@example.com", 10*time.Second)
	c := env.Client()
	_, page := testkit.Get(t, c, msg.FindLink("/kobil-magic-link/login"))
	f := testkit.ParseForm(t, page)
	_, page = testkit.PostForm(t, c, f.Action, f.Fields)
	f = testkit.ParseForm(t, page)
	if _, ok := f.Fields["reset"]; !ok {
		t.Fatalf("UPDATE_PASSWORD did not ask for a password: %s", page)
	}
	f.Fields.Set("password-new", "alice-new-password")
	f.Fields.Set("password-confirm", "alice-new-password")
	resp, body := testkit.PostForm(t, c, f.Action, f.Fields)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, "https://app.example.com/cb?code=") {
		t.Fatalf("after the new password = %d %q %s, want a code at the client", resp.StatusCode, loc, body)
	}
	if r := testkit.PostJSON(t, env.Client(), env.Issuer("a")+"/user/login", "", `{"emailId":"alice@example.com","password":"alice-new-password"}`); r.Status != 200 {
		t.Errorf("login with the new password = %d %s", r.Status, r.Body)
	}
	if got := adm.do(t, "GET", "/users/"+id, "").JSON(); got["emailVerified"] != true {
		t.Errorf("emailVerified after the link = %v, want true", got["emailVerified"])
	}

	// Without a client: the link ends on "account updated".
	if r := adm.do(t, "PUT", "/users/"+id+"/execute-actions-email", `["VERIFY_EMAIL"]`); r.Status != http.StatusNoContent {
		t.Fatalf("execute-actions-email without a client = %d %s", r.Status, r.Body)
	}
	msgs := env.Mail.Messages()
	link := msgs[len(msgs)-1].FindLink("/kobil-magic-link/login")
	c = env.Client()
	_, page = testkit.Get(t, c, link)
	f = testkit.ParseForm(t, page)
	resp, body = testkit.PostForm(t, c, f.Action, f.Fields)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "account has been updated") {
		t.Errorf("a client-less actions link = %d %s", resp.StatusCode, body)
	}
}
