package applink_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/applink"
	"github.com/latchkey/latchkey/internal/crypto/tokens"
	"github.com/latchkey/latchkey/internal/testkit"
	"github.com/latchkey/latchkey/internal/testkit/poll"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
)

// testConfig is the realm every test uses; %s is the webhook receiver's URL.
const testConfig = `
defaultRealm: acme
realms:
  - name: acme
    displayName: Acme
    linkAPI: {maxEmails: 5}
    clients:
      - clientId: gen
        secret: gen-secret
        grantTypes: [client_credentials]
        serviceAccountRoles: [link-generator]
      - clientId: nogen
        secret: nogen-secret
        grantTypes: [client_credentials]
        serviceAccountRoles: [magic-link-sender]
      - clientId: web
        public: true
        redirectUris: [https://app.example.com/cb]
    users:
      - email: boss@example.com
        password: correct-horse-battery
        roles: [link-generator]
      - email: pleb@example.com
        password: correct-horse-battery
      - email: gone@example.com
        enabled: false
    sites:
      - name: testing
        appURL: https://store.app.example.com/app.html
        usernameSuffix: chamcha
      - name: plain
        appURL: https://plain.example.com/open
        extraParams: []
        tokenLifespan: 1h
    workflows:
      - name: hook
        webhook: %[1]s/hook
        secret: hook-secret
        maxAttempts: 3
        initialBackoff: 1m
        timeout: 2s
      - name: flaky
        webhook: %[1]s/flaky
        secret: flaky-secret
        maxAttempts: 2
        initialBackoff: 1m
        timeout: 2s
  - name: other
    clients:
      - clientId: gen
        secret: gen-secret
        grantTypes: [client_credentials]
        serviceAccountRoles: [link-generator]
`

// delivery is one webhook request the receiver saw.
type delivery struct {
	Path   string
	Header http.Header
	Body   []byte
	Status int
}

// receiver is a webhook endpoint whose answers tests script.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	status []int // answers in order; the last one repeats
	got    []delivery
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{status: []int{http.StatusOK}}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		st := rc.status[0]
		if len(rc.status) > 1 {
			rc.status = rc.status[1:]
		}
		rc.got = append(rc.got, delivery{Path: r.URL.Path, Header: r.Header.Clone(), Body: b, Status: st})
		rc.mu.Unlock()
		w.WriteHeader(st)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// answer sets the statuses of the next deliveries.
func (rc *receiver) answer(status ...int) {
	rc.mu.Lock()
	rc.status = status
	rc.mu.Unlock()
}

func (rc *receiver) deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.got...)
}

// newEnv starts Latchkey with testConfig and a webhook receiver.
func newEnv(t testing.TB) (*testkit.Env, *receiver) {
	tt, _ := t.(*testing.T)
	var rc *receiver
	hookURL := "http://127.0.0.1:1" // benchmarks and fuzzing deliver no webhooks
	if tt != nil {
		rc = newReceiver(tt)
		hookURL = rc.URL
	}
	return testkit.New(t, fmt.Sprintf(testConfig, hookURL)), rc
}

// realmOf returns a runtime realm of the env.
func realmOf(t testing.TB, env *testkit.Env, name string) *realm.Realm {
	t.Helper()
	r, ok := env.Server.Realms.Get(name)
	if !ok {
		t.Fatalf("realm %q missing", name)
	}
	return r
}

// mintToken mints an access token directly (for expired and role variants).
func mintToken(t testing.TB, env *testkit.Env, lifespan time.Duration, roles ...string) string {
	t.Helper()
	// The service account of the configured client gen, as client_credentials
	// would mint it, but with any lifespan (an expired one too).
	tok, _, err := realmOf(t, env, "acme").Tokens.Mint(context.Background(), tokens.Spec{
		Subject: "service-account-gen", AuthorizedParty: "gen", Audience: []string{"gen"}, Lifespan: lifespan, Roles: roles})
	if err != nil {
		t.Fatalf("mint: %v", err)
	}
	return tok
}

// call sends body as JSON to path with an optional bearer token and returns
// status and body.
func call(t testing.TB, c *http.Client, env *testkit.Env, method, path, bearer, body string) (int, string) {
	t.Helper()
	r := testkit.SendJSON(t, c, method, env.URL+path, bearer, body)
	return r.Status, r.Body
}

// links decodes a 200 answer.
func links(t testing.TB, body string) []map[string]string {
	t.Helper()
	var out []map[string]string
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("decode answer %s: %v", body, err)
	}
	return out
}

// tokenOf returns the token parameter of a generated link.
func tokenOf(t testing.TB, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatalf("parse link %q: %v", link, err)
	}
	tok := u.Query().Get("token")
	if tok == "" {
		t.Fatalf("link %q has no token", link)
	}
	return tok
}

// probes numbers the probe mails of workerLooked.
var probes atomic.Int64

// workerLooked proves that the outbox worker has looked at the queue since
// the call, for tests that assert that an entry was not retried: it queues
// a mail of the email workflow to a fresh probe address, due at once, and
// waits for the mail and for its entry to be gone. The worker's look that
// found the probe saw every other entry as it then was, and left those that
// were not due alone.
func workerLooked(t testing.TB, env *testkit.Env) {
	t.Helper()
	to := fmt.Sprintf("probe-%d@probe.example.com", probes.Add(1))
	payload, err := json.Marshal(applink.Event{Event: applink.EventLinkGenerated, Realm: "acme", Workflow: applink.WorkflowEmail,
		Site: "testing", User: to, Email: to, Link: "https://store.app.example.com/app.html?token=probe", Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	now := env.Clock.Now()
	e := storage.OutboxEntry{Realm: "acme", Kind: applink.KindEmail, Payload: payload, NextAttemptAt: now, CreatedAt: now}
	if err := env.Store.EnqueueOutbox(context.Background(), e); err != nil {
		t.Fatalf("queue the probe mail: %v", err)
	}
	env.Mail.WaitFor(t, to, 5*time.Second)
	poll.Until(t, 5*time.Second, "the probe's entry to be deleted", func() bool {
		for _, q := range queued(t, env) {
			if strings.Contains(string(q.Payload), to) {
				return false
			}
		}
		return true
	})
}

// queued returns every outbox entry, due or not.
func queued(t testing.TB, env *testkit.Env) []storage.OutboxEntry {
	t.Helper()
	es, err := env.Store.DueOutbox(context.Background(), time.Now().Add(100*365*24*time.Hour), 0)
	if err != nil {
		t.Fatalf("list outbox: %v", err)
	}
	return es
}
