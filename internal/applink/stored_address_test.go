package applink_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/applink"
	"github.com/latchkey/latchkey/internal/testkit/poll"
	"github.com/latchkey/latchkey/storage"
)

// kelvinKim is "Kim@example.com" written with U+212A KELVIN SIGN instead of
// K: storage's simple Unicode lower-casing folds it to kim@example.com, but
// it is another mailbox.
const kelvinKim = "\u212Aim@example.com"

// TestEmailWorkflowMailsStoredAddress: a request naming an existing user by
// another spelling of their address mails the link to the address stored for
// the user, never to the request's spelling. The answer's "user" stays the
// request's spelling (as the seed and TestTokensAndUsers have it); the
// link's username and the mail's text name the stored address.
func TestEmailWorkflowMailsStoredAddress(t *testing.T) {
	env, _ := newEnv(t)
	ctx := context.Background()
	kim, _, err := realmOf(t, env, "acme").EnsureUser(ctx, "kim@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if u, err := env.Store.GetUserByEmail(ctx, "acme", kelvinKim); err != nil || u.ID != kim.ID {
		t.Fatalf("the Kelvin spelling finds %+v, %v; want kim (the premise of this test)", u, err)
	}
	users, _ := env.Store.CountUsers(ctx, "acme")

	gen := env.ServiceToken(t, "acme", "gen", "gen-secret")
	req, _ := json.Marshal(map[string]any{"site": "testing", "workflows_list": "email", "emails": []string{kelvinKim}, "metadata": "m"})
	status, body := call(t, env.Client(), env, "POST", apiPath, gen, string(req))
	if status != 200 {
		t.Fatalf("generate = %d %s, want 200", status, body)
	}
	got := links(t, body)
	if len(got) != 1 || got[0]["user"] != kelvinKim {
		t.Fatalf("answer %s: want one entry whose user is the request's spelling", body)
	}
	u, _ := url.Parse(got[0]["GeneratedMessage"])
	if un := u.Query().Get("username"); un != "kim@example.com@chamcha" {
		t.Errorf("link username = %q, want the stored address with the suffix, kim@example.com@chamcha", un)
	}
	if n, _ := env.Store.CountUsers(ctx, "acme"); n != users {
		t.Errorf("users = %d, want still %d (the Kelvin spelling is kim's account)", n, users)
	}

	poll.Until(t, 5*time.Second, "the mail", func() bool { return len(env.Mail.Messages()) > 0 })
	poll.Until(t, 5*time.Second, "an empty outbox", func() bool { return len(queued(t, env)) == 0 })
	msgs := env.Mail.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d mails, want exactly 1", len(msgs))
	}
	msg := msgs[0]
	msg.CheckOnlyTo(t, "kim@example.com") // the stored address, byte for byte
	if strings.Contains(string(msg.Raw), kelvinKim) || strings.Contains(msg.Text, kelvinKim) {
		t.Errorf("the mail names the request's spelling:\n%s", msg.Text)
	}
	if !strings.Contains(msg.Text, "meant for kim@example.com only") {
		t.Errorf("the mail's text does not name the stored address:\n%s", msg.Text)
	}
	if found := msg.FindLink("https://store.app.example.com/"); found != got[0]["GeneratedMessage"] {
		t.Errorf("link in the mail =\n%s\nwant the answer's\n%s", found, got[0]["GeneratedMessage"])
	}
}

// TestEmailWorkflowLegacyEntry: an email entry queued before events carried
// the stored address (its payload names only the request's spelling) is
// mailed to the user's stored address as well.
func TestEmailWorkflowLegacyEntry(t *testing.T) {
	env, _ := newEnv(t)
	ctx := context.Background()
	if _, _, err := realmOf(t, env, "acme").EnsureUser(ctx, "kim@example.com"); err != nil {
		t.Fatal(err)
	}
	now := env.Clock.Now()
	payload, _ := json.Marshal(map[string]any{
		"event": applink.EventLinkGenerated, "realm": "acme", "workflow": applink.WorkflowEmail, "site": "testing",
		"user": kelvinKim, "link": "https://store.app.example.com/app.html?token=t&username=x", "metadata": "m",
		"lifetime": int64(time.Hour),
	})
	if err := env.Store.EnqueueOutbox(ctx, storage.OutboxEntry{Realm: "acme", Kind: applink.KindEmail, Payload: payload,
		NextAttemptAt: now, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 5*time.Second, "an empty outbox", func() bool { return len(queued(t, env)) == 0 })
	msgs := env.Mail.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d mails, want exactly 1", len(msgs))
	}
	msgs[0].CheckOnlyTo(t, "kim@example.com")
}
