package applink_test

import (
	"bufio"
	"crypto/hmac"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/applink"
	"github.com/latchkey/latchkey/internal/testkit"
	"github.com/latchkey/latchkey/internal/testkit/poll"
)

// checkSignature verifies a delivery the way a receiver would.
func checkSignature(t *testing.T, d delivery, secret string, clock time.Time) {
	t.Helper()
	ts, err := strconv.ParseInt(d.Header.Get(applink.HeaderTimestamp), 10, 64)
	if err != nil {
		t.Fatalf("timestamp header %q: %v", d.Header.Get(applink.HeaderTimestamp), err)
	}
	if diff := clock.Sub(time.Unix(ts, 0)).Abs(); diff > time.Minute {
		t.Errorf("timestamp %d is %s away from the server clock", ts, diff)
	}
	want := applink.Sign(secret, ts, d.Body)
	if got := d.Header.Get(applink.HeaderSignature); !hmac.Equal([]byte(got), []byte(want)) {
		t.Errorf("signature = %q, want %q", got, want)
	}
	if ct := d.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
}

// webhookBody decodes a delivery and checks it has exactly the SPEC's fields.
func webhookBody(t *testing.T, d delivery) map[string]string {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal(d.Body, &m); err != nil {
		t.Fatalf("webhook body %s: %v", d.Body, err)
	}
	for _, k := range []string{"id", "event", "realm", "site", "user", "link", "metadata"} {
		if _, ok := m[k]; !ok {
			t.Errorf("webhook body lacks %q: %s", k, d.Body)
		}
	}
	if len(m) != 7 {
		t.Errorf("webhook body has %d fields, want 7: %s", len(m), d.Body)
	}
	return m
}

func generate(t *testing.T, env *testkit.Env, workflows string, emails ...string) []map[string]string {
	t.Helper()
	gen := env.ServiceToken(t, "acme", "gen", "gen-secret")
	req, _ := json.Marshal(map[string]any{"site": "testing", "workflows_list": workflows, "emails": emails, "metadata": "order-42"})
	status, body := call(t, env.Client(), env, "POST", apiPath, gen, string(req))
	if status != 200 {
		t.Fatalf("generate = %d %s, want 200", status, body)
	}
	return links(t, body)
}

func TestWebhookDeliveredSigned(t *testing.T) {
	env, rc := newEnv(t)
	got := generate(t, env, " hook ,,hook", "w1@example.com", "w2@example.com")
	poll.Until(t, 5*time.Second, "two deliveries", func() bool { return len(rc.deliveries()) == 2 })
	poll.Until(t, 5*time.Second, "an empty outbox", func() bool { return len(queued(t, env)) == 0 })
	ids := map[string]bool{}
	for _, d := range rc.deliveries() {
		checkSignature(t, d, "hook-secret", env.Clock.Now())
		b := webhookBody(t, d)
		if d.Path != "/hook" || b["id"] != d.Header.Get(applink.HeaderDelivery) || b["event"] != "link.generated" ||
			b["realm"] != "acme" || b["site"] != "testing" || b["metadata"] != "order-42" {
			t.Errorf("delivery %s %v: want /hook, id = %s header, event link.generated, realm acme, site testing, metadata order-42",
				d.Path, b, applink.HeaderDelivery)
		}
		ids[b["id"]] = true
		for _, l := range got {
			if l["user"] == b["user"] && l["GeneratedMessage"] != b["link"] {
				t.Errorf("webhook link for %s = %s, want the answer's %s", b["user"], b["link"], l["GeneratedMessage"])
			}
		}
	}
	if len(ids) != 2 {
		t.Errorf("delivery ids %v, want 2 distinct (one per link; the repeated workflow counts once)", ids)
	}
}

func TestWebhookRetriedAfter500(t *testing.T) {
	env, rc := newEnv(t)
	rc.answer(http.StatusInternalServerError, http.StatusOK)
	generate(t, env, "hook", "retry@example.com")
	poll.Until(t, 5*time.Second, "the failed attempt to be recorded", func() bool {
		q := queued(t, env)
		return len(q) == 1 && q[0].Attempts == 1
	})
	e := queued(t, env)[0]
	if e.LastError != `workflow "hook": webhook answered 500` {
		t.Errorf("LastError = %q, want the status without URL or secret", e.LastError)
	}
	if wait := e.NextAttemptAt.Sub(env.Clock.Now()); wait < 55*time.Second || wait > time.Minute {
		t.Errorf("next attempt in %s, want initialBackoff (1m)", wait)
	}
	workerLooked(t, env) // and found nothing due yet
	if n := len(rc.deliveries()); n != 1 {
		t.Fatalf("%d deliveries before the backoff passed, want 1", n)
	}
	env.Clock.Advance(time.Minute + time.Second)
	poll.Until(t, 5*time.Second, "the retry", func() bool { return len(rc.deliveries()) == 2 })
	poll.Until(t, 5*time.Second, "an empty outbox", func() bool { return len(queued(t, env)) == 0 })
	ds := rc.deliveries()
	if ds[0].Header.Get(applink.HeaderDelivery) != ds[1].Header.Get(applink.HeaderDelivery) {
		t.Errorf("retry has delivery id %s, want the first attempt's %s", ds[1].Header.Get(applink.HeaderDelivery), ds[0].Header.Get(applink.HeaderDelivery))
	}
	checkSignature(t, ds[1], "hook-secret", env.Clock.Now())
}

func TestWebhookGivenUp(t *testing.T) {
	env, rc := newEnv(t)
	before := metricValue(t, env, `latchkey_outbox_deliveries_total{kind="applink.webhook",result="given_up"}`)
	rc.answer(http.StatusServiceUnavailable)
	generate(t, env, "flaky", "doomed@example.com") // maxAttempts: 2
	poll.Until(t, 5*time.Second, "the first failure", func() bool {
		q := queued(t, env)
		return len(q) == 1 && q[0].Attempts == 1
	})
	env.Clock.Advance(time.Minute + time.Second)
	poll.Until(t, 5*time.Second, "the entry to be given up", func() bool { return len(queued(t, env)) == 0 })
	if n := len(rc.deliveries()); n != 2 {
		t.Errorf("%d attempts, want maxAttempts = 2", n)
	}
	if !strings.Contains(env.Logs.String(), "outbox: delivery given up") {
		t.Error("giving up was not logged")
	}
	if after := metricValue(t, env, `latchkey_outbox_deliveries_total{kind="applink.webhook",result="given_up"}`); after != before+1 {
		t.Errorf("given_up counter = %v, want %v", after, before+1)
	}
	env.Clock.Advance(time.Hour)
	workerLooked(t, env) // an hour later: nothing left to retry
	if n := len(rc.deliveries()); n != 2 {
		t.Errorf("%d attempts after giving up, want still 2", n)
	}
}

func TestWebhookSurvivesRestart(t *testing.T) {
	env, rc := newEnv(t)
	rc.answer(http.StatusServiceUnavailable) // the receiver is down
	got := generate(t, env, "hook", "durable@example.com")
	poll.Until(t, 5*time.Second, "the failed attempt to be recorded", func() bool {
		q := queued(t, env)
		return len(q) == 1 && q[0].Attempts == 1
	})
	id := queued(t, env)[0].ID
	env.Restart() // the store is closed with the outbox non-empty and reopened
	if q := queued(t, env); len(q) != 1 || q[0].ID != id {
		t.Fatalf("outbox after restart = %v, want entry %s", q, id)
	}
	rc.answer(http.StatusOK)
	env.Clock.Advance(time.Minute + time.Second)
	poll.Until(t, 5*time.Second, "delivery after the restart", func() bool { return len(rc.deliveries()) == 2 })
	poll.Until(t, 5*time.Second, "an empty outbox", func() bool { return len(queued(t, env)) == 0 })
	d := rc.deliveries()[1]
	b := webhookBody(t, d)
	if b["id"] != id || b["link"] != got[0]["GeneratedMessage"] {
		t.Errorf("delivery after restart: id %s link %s, want id %s and the answer's link", b["id"], b["link"], id)
	}
	checkSignature(t, d, "hook-secret", env.Clock.Now())
	// The link still opens: the token verifies with the restarted server's keys.
	if _, err := realmOf(t, env, "acme").Tokens.Verify(t.Context(), tokenOf(t, b["link"])); err != nil {
		t.Errorf("link token after restart: %v", err)
	}
}

func TestEmailWorkflow(t *testing.T) {
	env, rc := newEnv(t)
	got := generate(t, env, "email,hook", "mailme+x@example.com")
	msg := env.Mail.WaitFor(t, "mailme+x@example.com", 5*time.Second)
	link := got[0]["GeneratedMessage"]
	if found := msg.FindLink("https://store.app.example.com/"); found != link {
		t.Errorf("link in the mail =\n%s\nwant the answer's\n%s", found, link)
	}
	if !strings.Contains(msg.HTML, "Continue to testing") {
		t.Errorf("HTML part lacks the button: %s", msg.HTML)
	}
	if msg.Subject != "Your link to testing" {
		t.Errorf("subject = %q, want %q", msg.Subject, "Your link to testing")
	}
	if !strings.Contains(msg.Text, "valid for 1 day") {
		t.Errorf("text part does not state the lifetime: %s", msg.Text)
	}
	poll.Until(t, 5*time.Second, "the webhook too", func() bool { return len(rc.deliveries()) == 1 })
	poll.Until(t, 5*time.Second, "an empty outbox", func() bool { return len(queued(t, env)) == 0 })
}

func TestEmailWorkflowRetried(t *testing.T) {
	env, _ := newEnv(t)
	env.Mail.Fail.Set(errTemporary("mailbox busy"))
	generate(t, env, "email", "later@example.com")
	poll.Until(t, 5*time.Second, "the failed send to be recorded", func() bool {
		q := queued(t, env)
		return len(q) == 1 && q[0].Attempts == 1
	})
	env.Mail.Fail.Set(nil)
	env.Clock.Advance(2 * time.Second) // the email workflow's initial backoff is 1s
	env.Mail.WaitFor(t, "later@example.com", 5*time.Second)
	poll.Until(t, 5*time.Second, "an empty outbox", func() bool { return len(queued(t, env)) == 0 })
}

type errTemporary string

func (e errTemporary) Error() string { return string(e) }

// metricValue reads one sample from /metrics (0 when absent).
func metricValue(t *testing.T, env *testkit.Env, series string) float64 {
	t.Helper()
	_, body := call(t, env.Client(), env, "GET", "/metrics", "", "")
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// TestWorkflowRemovedFromConfig restarts with the webhook's workflow gone
// from the config: its queued delivery is given up and logged, not retried
// forever.
func TestWorkflowRemovedFromConfig(t *testing.T) {
	env, rc := newEnv(t)
	rc.answer(http.StatusServiceUnavailable)
	generate(t, env, "hook", "orphan@example.com")
	poll.Until(t, 5*time.Second, "the failed attempt to be recorded", func() bool {
		q := queued(t, env)
		return len(q) == 1 && q[0].Attempts == 1
	})
	env.Config.Realms[0].Workflows = env.Config.Realms[0].Workflows[1:] // drop "hook"
	env.Restart()
	env.Clock.Advance(time.Minute + time.Second)
	poll.Until(t, 5*time.Second, "the entry to be given up", func() bool { return len(queued(t, env)) == 0 })
	if !strings.Contains(env.Logs.String(), `workflow \"hook\" of realm \"acme\" is no longer configured`) {
		t.Errorf("the give-up was not logged with its reason")
	}
	if n := len(rc.deliveries()); n != 1 {
		t.Errorf("%d deliveries, want only the first attempt", n)
	}
}
