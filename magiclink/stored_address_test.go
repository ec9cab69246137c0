package magiclink_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/testkit"
)

// kelvinKim is "Kim@example.com" written with U+212A KELVIN SIGN instead of
// K. Simple Unicode lower-casing (storage's email index) folds it to
// kim@example.com, but it is another mailbox.
const kelvinKim = "\u212Aim@example.com"

// seedKim stores kim@example.com in realmName and checks that the Kelvin
// spelling finds that account, which is what makes the spelling dangerous.
func seedKim(t *testing.T, env *testkit.Env, realmName string) {
	t.Helper()
	r, ok := env.Server.Realms.Get(realmName)
	if !ok {
		t.Fatalf("realm %q missing", realmName)
	}
	u, _, err := r.EnsureUser(context.Background(), "kim@example.com")
	if err != nil {
		t.Fatal(err)
	}
	found, err := env.Store.GetUserByEmail(context.Background(), realmName, kelvinKim)
	if err != nil || found.ID != u.ID || found.Email != "kim@example.com" {
		t.Fatalf("the Kelvin spelling finds %+v, %v; want the stored kim@example.com (the premise of these tests)", found, err)
	}
}

// onlyMailToStored checks that exactly one mail arrived after the first
// `before` messages and that it went to kim@example.com — envelope and
// header, compared byte for byte (testkit's CountTo/WaitFor use EqualFold,
// which cannot tell the Kelvin sign from k) — and that no mail at all went
// to the Kelvin spelling.
func onlyMailToStored(t *testing.T, env *testkit.Env, before int) testkit.Message {
	t.Helper()
	all := env.Mail.Messages()
	for _, m := range all {
		if slices.Contains(m.To, kelvinKim) || strings.Contains(string(m.Raw), kelvinKim) {
			t.Errorf("a mail went to (or names) the request's spelling %q: envelope %q", kelvinKim, m.To)
		}
	}
	fresh := all[before:]
	if len(fresh) != 1 {
		t.Fatalf("%d mails sent, want exactly 1", len(fresh))
	}
	msg := fresh[0]
	msg.CheckOnlyTo(t, "kim@example.com")
	return msg
}

// TestAccessLinkMailsStoredAddress: the API finds kim's account by the Kelvin
// spelling, so the mail must go to kim's stored address, and the landing
// page must name that address.
func TestAccessLinkMailsStoredAddress(t *testing.T) {
	env := testkit.New(t, testConfig)
	seedKim(t, env, "acme")
	svc := env.ServiceToken(t, "acme", "svc", "svc-secret")
	users, _ := env.Store.CountUsers(context.Background(), "acme")

	for _, forceCreate := range []bool{false, true} {
		before := len(env.Mail.Messages())
		status, got, _ := callAPI(t, env, "acme", svc, linkRequest(kelvinKim, map[string]any{"forceCreate": forceCreate}))
		if status != http.StatusOK || got != okBody {
			t.Fatalf("forceCreate=%v: access-link = %d %s, want 200 %s", forceCreate, status, got, okBody)
		}
		msg := onlyMailToStored(t, env, before)
		link := msg.FindLink("/kobil-magic-link/login?key=")
		if link == "" {
			t.Fatalf("no magic link in the mail:\n%s", msg.Text)
		}
		p := get(t, env.Client(), link)
		if p.status != http.StatusOK || !strings.Contains(p.body, "kim@example.com") || strings.Contains(p.body, kelvinKim) {
			t.Errorf("forceCreate=%v: landing page = %d, want it to name the stored kim@example.com only:\n%s", forceCreate, p.status, p.body)
		}
	}
	if n, _ := env.Store.CountUsers(context.Background(), "acme"); n != users {
		t.Errorf("users = %d after the requests, want still %d (the Kelvin spelling is kim's account)", n, users)
	}
}

// TestLoginPageLinkMailsStoredAddress: the login page's "email me a sign-in
// link" (Service.SendLoginLink) mails the stored address too.
func TestLoginPageLinkMailsStoredAddress(t *testing.T) {
	env := testkit.New(t, testConfig)
	seedKim(t, env, "acme")
	c := env.Client()
	login, _ := loginPage(t, env, c, "kelvin")
	fields := cloneValues(login.fields)
	fields.Set("username", kelvinKim)
	fields.Set("action", "email-link")
	before := len(env.Mail.Messages())
	if p := post(t, c, login.action, fields); p.status != http.StatusOK || !strings.Contains(p.body, "Check your email") {
		t.Fatalf("email-link POST = %d:\n%s", p.status, p.body)
	}
	msg := onlyMailToStored(t, env, before)
	resp2 := authResponse(t, confirm(t, c, msg.FindLink("/kobil-magic-link/login?key=")), "query")
	if resp2.Get("state") != "kelvin" {
		t.Fatalf("state = %q, want the original request's", resp2.Get("state"))
	}
}

// TestPerEmailLimitsShareSpellings: the resend interval and the per-email
// limit are keyed by the folded address, so spelling variants of one
// account share them.
func TestPerEmailLimitsShareSpellings(t *testing.T) {
	env := testkit.New(t, testConfig)
	seedKim(t, env, "limited")
	tok := env.ServiceToken(t, "limited", "svc", "svc-secret")
	if status, got, _ := callAPI(t, env, "limited", tok, linkRequest("kim@example.com", nil)); status != http.StatusOK {
		t.Fatalf("first send = %d %s", status, got)
	}
	status, got, _ := callAPI(t, env, "limited", tok, linkRequest(kelvinKim, nil))
	want := body(429, "Too Many Requests", "A magic link was sent to this user for this client recently, please try again later")
	if status != 429 || got != want {
		t.Errorf("resend with the Kelvin spelling = %d %s, want %s", status, got, want)
	}
	status, got, _ = callAPI(t, env, "limited", tok, linkRequest("KIM@EXAMPLE.COM", map[string]any{"clientId": "other"}))
	want = body(429, "Too Many Requests", "Too many magic links for this email, please try again later")
	if status != 429 || got != want {
		t.Errorf("third send for kim (perAccount 2/m) = %d %s, want %s", status, got, want)
	}
	if n := len(env.Mail.Messages()); n != 1 {
		t.Errorf("%d mails, want 1", n)
	}
}
