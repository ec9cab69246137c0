// Package replicas_test runs two real `latchkey serve` processes on one
// PostgreSQL database, the way replicas run behind a load balancer, and
// checks that everything that decides a security outcome is shared: codes,
// sessions, refresh rotation, magic links, lockout, resend limits, signing
// keys, client-assertion replay, device-grant polling state; and that a database outage is answered with 503 and recovered from
// without a restart.
package replicas_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/latchkey/latchkey/bench/crashtest"
	"github.com/latchkey/latchkey/internal/testkit"
	"github.com/latchkey/latchkey/internal/testkit/poll"
	"github.com/latchkey/latchkey/internal/testkit/smtptest"
	"github.com/latchkey/latchkey/storage/postgres/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const (
	redirectURI = "http://127.0.0.1:9/cb"
	password    = "correct-horse-battery"
	apiSecret   = "replicas-share-this-api-key-secret-0123456789"
)

const configTemplate = `
server:
  listen: "127.0.0.1:%[1]d"
  publicURL: "%[2]s"
  tls: {mode: "off"}
storage:
  driver: postgres
  path: "%[3]s/latchkey.db"
  postgres: {dsn: "%[4]s", maxConns: 8}
defaultRealm: demo
log: {level: warn}
smtp: {host: "127.0.0.1", port: %[5]d, security: none, from: "Latchkey <no-reply@example.com>"}
realms:
  - name: demo
    sslRequired: none
    bruteForce: {failureFactor: 3, waitIncrement: 1m, maxWait: 15m}
    rateLimits: {perIP: "off", perAccount: "1000/m"}
    magicLink: {resendInterval: 60s}
    clients:
      - clientId: svc
        secret: svc-secret
        grantTypes: [client_credentials]
        serviceAccountRoles: [magic-link-sender, link-generator]
      - clientId: web
        public: true
        redirectUris: ["%[6]s"]
        grantTypes: [authorization_code, refresh_token]
      - clientId: signer
        secret: "a-client-secret-of-at-least-32-bytes"
        clientAuthenticator: client-secret-jwt
        grantTypes: [client_credentials]
      - clientId: tv
        public: true
        grantTypes: ["urn:ietf:params:oauth:grant-type:device_code"]
    users:
      - {email: alice@example.com, password: "%[7]s", emailVerified: true}
      - {email: bob@example.com, password: "%[7]s", emailVerified: true}
    sites:
      - {name: shop, appURL: "https://shop.example.com/app"}
    workflows:
      - {name: notify, webhook: "%[8]s", secret: "hook-secret", maxAttempts: 100, initialBackoff: 100ms, timeout: 5s}
`

// replicas are two servers on one database.
type replicas struct {
	a, b    *crashtest.Process
	cfgPath string
	bin     string
	mail    *smtptest.Server
	pg      *pgtest.Cluster
	hook    *hook
	issuer  string // both replicas' public URL is A's, as behind one load balancer name
}

func start(t *testing.T) *replicas {
	t.Helper()
	pg := pgtest.Shared(t)
	dsn := pg.NewDatabase(t)
	bin, err := crashtest.Build(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	mail := smtptest.Start(t)
	t.Setenv("LATCHKEY_API_KEY_SECRET", apiSecret)
	pa, err := crashtest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	pb, err := crashtest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	public := fmt.Sprintf("http://127.0.0.1:%d", pa)
	r := &replicas{bin: bin, mail: mail, pg: pg, issuer: public + "/auth/realms/demo", hook: newHook(t)}
	dir := t.TempDir()
	launch := func(port int, name string) *crashtest.Process {
		cfg := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(cfg, []byte(fmt.Sprintf(configTemplate, port, public, dir, dsn, mail.Port, redirectURI, password, r.hook.url)), 0o600); err != nil {
			t.Fatal(err)
		}
		r.cfgPath = cfg
		p, err := crashtest.Start(bin, cfg, fmt.Sprintf("http://127.0.0.1:%d", port), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if p.Exited() {
				return // killed by the test
			}
			if _, err := p.Terminate(20 * time.Second); err != nil {
				t.Logf("stop replica %s: %v\n%s", name, err, p.Logs())
			}
		})
		if _, err := p.WaitReady(60 * time.Second); err != nil {
			t.Fatalf("replica %s not ready: %v\n%s", name, err, p.Logs())
		}
		return p
	}
	r.a = launch(pa, "a")
	r.b = launch(pb, "b") // started second: the first migrated the database
	return r
}

// hook is a webhook receiver that can hold the first delivery open until
// released (so that a replica can be killed mid-delivery).
type hook struct {
	url      string
	mu       sync.Mutex
	hold     bool
	held     chan string
	releaseC chan struct{}
	ok       map[string]bool
	tries    map[string]int
}

func newHook(t *testing.T) *hook {
	h := &hook{held: make(chan string, 1), releaseC: make(chan struct{}), ok: map[string]bool{}, tries: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		id := req.Header.Get("X-Latchkey-Delivery")
		h.mu.Lock()
		h.tries[id]++
		hold := h.hold
		h.hold = false
		h.mu.Unlock()
		if hold {
			h.held <- id
			<-h.releaseC // the sender is killed meanwhile; this answer goes nowhere
			return
		}
		h.mu.Lock()
		h.ok[id] = true
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	h.url = srv.URL + "/hook"
	return h
}

func (h *hook) holdFirst() { h.mu.Lock(); h.hold = true; h.mu.Unlock() }
func (h *hook) release()   { close(h.releaseC) }

func (h *hook) waitHeld(t *testing.T) string {
	t.Helper()
	select {
	case id := <-h.held:
		return id
	case <-time.After(20 * time.Second):
		t.Fatal("no webhook delivery arrived")
		return ""
	}
}

func (h *hook) delivered(id string) bool { h.mu.Lock(); defer h.mu.Unlock(); return h.ok[id] }
func (h *hook) attempts(id string) int   { h.mu.Lock(); defer h.mu.Unlock(); return h.tries[id] }

// at is path under the realm on replica p.
func at(p *crashtest.Process, path string) string { return p.URL + "/auth/realms/demo" + path }

func client() *http.Client {
	jar, _ := cookiejar.New(nil) // cookies are per host, not port: both replicas see them, as behind one name
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// onReplica rewrites a URL of the public name to replica p, as a load
// balancer would route it.
func onReplica(t *testing.T, raw string, p *crashtest.Process) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	pu, _ := url.Parse(p.URL)
	u.Host = pu.Host
	return u.String()
}

// login runs the code flow's browser part at replica p and returns the code.
func login(t *testing.T, c *http.Client, p *crashtest.Process, user string, pkce testkit.PKCE) string {
	t.Helper()
	q := url.Values{"client_id": {"web"}, "redirect_uri": {redirectURI}, "response_type": {"code"}, "scope": {"openid email"},
		"state": {"s"}, "code_challenge": {pkce.Challenge}, "code_challenge_method": {"S256"}}
	resp, body := testkit.Get(t, c, at(p, "/protocol/openid-connect/auth?"+q.Encode()))
	loc := resp.Header.Get("Location")
	if strings.Contains(loc, "/login-actions/authenticate") {
		resp, body = testkit.Get(t, c, onReplica(t, loc, p))
		f := testkit.ParseForm(t, body)
		f.Fields.Set("username", user)
		f.Fields.Set("password", password)
		f.Fields.Set("action", "password")
		resp, body = testkit.PostForm(t, c, onReplica(t, f.Action, p), f.Fields)
		loc = resp.Header.Get("Location")
	}
	if !strings.Contains(loc, "/auth/callback") {
		t.Fatalf("authorize at %s = %d %q %s, want the callback", p.URL, resp.StatusCode, loc, body)
	}
	resp, body = testkit.Get(t, c, onReplica(t, loc, p))
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || u.Query().Get("code") == "" {
		t.Fatalf("callback = %d %s, want a code", resp.StatusCode, body)
	}
	return u.Query().Get("code")
}

// token posts a token request to replica p.
func token(t *testing.T, p *crashtest.Process, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, body := testkit.PostForm(t, client(), at(p, "/protocol/openid-connect/token"), form)
	var m map[string]any
	_ = json.Unmarshal([]byte(body), &m)
	return resp.StatusCode, m
}

func serviceToken(t *testing.T, p *crashtest.Process) string {
	t.Helper()
	status, m := token(t, p, url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}, "client_secret": {"svc-secret"}})
	tok, _ := m["access_token"].(string)
	if status != http.StatusOK || tok == "" {
		t.Fatalf("client_credentials = %d %v", status, m)
	}
	return tok
}

func TestTwoReplicasShareEverything(t *testing.T) {
	r := start(t)

	t.Run("a client assertion used at A is a replay at B; a device polled at A is too fast at B", func(t *testing.T) {
		assertion := clientAssertion(t, r.issuer, "signer", "a-client-secret-of-at-least-32-bytes")
		form := url.Values{"grant_type": {"client_credentials"}, "client_assertion": {assertion},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}}
		if status, m := token(t, r.a, form); status != http.StatusOK {
			t.Fatalf("assertion at A = %d %v", status, m)
		}
		if status, m := token(t, r.b, form); status != http.StatusUnauthorized || m["error"] != "invalid_client" {
			t.Errorf("the same assertion at B = %d %v, want 401 invalid_client (replay)", status, m)
		}

		resp, body := testkit.PostForm(t, client(), at(r.a, "/protocol/openid-connect/auth/device"), url.Values{"client_id": {"tv"}})
		var da struct {
			DeviceCode string `json:"device_code"`
		}
		if err := json.Unmarshal([]byte(body), &da); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("device authorization at A = %d %s", resp.StatusCode, body)
		}
		poll := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "client_id": {"tv"}, "device_code": {da.DeviceCode}}
		if _, m := token(t, r.a, poll); m["error"] != "authorization_pending" {
			t.Fatalf("first poll at A = %v, want authorization_pending", m)
		}
		if _, m := token(t, r.b, poll); m["error"] != "slow_down" {
			t.Errorf("poll at B right after A's = %v, want slow_down (the polling state is shared)", m)
		}
	})

	t.Run("code from A redeemed at B, session from A used at B, refresh rotated at B replayed at A", func(t *testing.T) {
		c := client()
		pkce := testkit.NewPKCE()
		code := login(t, c, r.a, "alice@example.com", pkce)
		status, tr := token(t, r.b, url.Values{"grant_type": {"authorization_code"}, "client_id": {"web"}, "code": {code},
			"redirect_uri": {redirectURI}, "code_verifier": {pkce.Verifier}})
		if status != http.StatusOK || tr["refresh_token"] == nil {
			t.Fatalf("code of A at B = %d %v", status, tr)
		}
		// A's SSO cookie at B: no login page.
		login(t, c, r.b, "", testkit.NewPKCE())
		rt := tr["refresh_token"].(string)
		status, rotated := token(t, r.b, url.Values{"grant_type": {"refresh_token"}, "client_id": {"web"}, "refresh_token": {rt}})
		if status != http.StatusOK {
			t.Fatalf("refresh at B = %d %v", status, rotated)
		}
		if status, m := token(t, r.a, url.Values{"grant_type": {"refresh_token"}, "client_id": {"web"}, "refresh_token": {rt}}); m["error"] != "invalid_grant" {
			t.Errorf("replay at A = %d %v, want invalid_grant", status, m)
		}
		next := rotated["refresh_token"].(string)
		if _, m := token(t, r.b, url.Values{"grant_type": {"refresh_token"}, "client_id": {"web"}, "refresh_token": {next}}); m["error"] != "invalid_grant" {
			t.Errorf("the rotated token after the replay = %v, want invalid_grant (session revoked)", m)
		}
	})

	t.Run("magic link sent via A used at B; resend limit held across replicas", func(t *testing.T) {
		body := `{"email":"bob@example.com","clientId":"web","redirectUri":"` + redirectURI + `","scope":"openid","responseMode":"query","responseType":"code"}`
		if res := testkit.PostJSON(t, client(), at(r.a, "/kobil-magic-link/access-link"), serviceToken(t, r.a), body); res.Status != http.StatusOK {
			t.Fatalf("magic link at A = %d %s", res.Status, res.Body)
		}
		if res := testkit.PostJSON(t, client(), at(r.b, "/kobil-magic-link/access-link"), serviceToken(t, r.b), body); res.Status != http.StatusTooManyRequests {
			t.Errorf("second link at B within the resend interval = %d %s, want 429", res.Status, res.Body)
		}
		msg := r.mail.WaitFor(t, "bob@example.com", 10*time.Second)
		link := onReplica(t, msg.FindLink("/kobil-magic-link/login"), r.b)
		c := client()
		_, page := testkit.Get(t, c, link)
		f := testkit.ParseForm(t, page)
		resp, out := testkit.PostForm(t, c, onReplica(t, f.Action, r.b), f.Fields)
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.Contains(loc, "code=") {
			t.Fatalf("link used at B = %d %q %s, want a redirect with a code", resp.StatusCode, loc, out)
		}
	})

	t.Run("lockout holds across replicas under parallel load", func(t *testing.T) {
		var mu sync.Mutex
		counts := map[int]int{}
		var wg sync.WaitGroup
		for i := range 24 {
			p := r.a
			if i%2 == 1 {
				p = r.b
			}
			wg.Go(func() {
				res := testkit.PostJSON(t, client(), at(p, "/user/login"), "", `{"emailId":"alice@example.com","password":"wrong"}`)
				mu.Lock()
				counts[res.Status]++
				mu.Unlock()
			})
		}
		wg.Wait()
		if counts[http.StatusMethodNotAllowed] > 3 || counts[http.StatusMethodNotAllowed]+counts[http.StatusTooManyRequests] != 24 {
			t.Errorf("24 parallel wrong guesses over two replicas: %v, want at most 3 × 405 and the rest 429", counts)
		}
		if res := testkit.PostJSON(t, client(), at(r.b, "/user/login"), "", `{"emailId":"alice@example.com","password":"`+password+`"}`); res.Status != http.StatusTooManyRequests {
			t.Errorf("right password while locked = %d, want 429", res.Status)
		}
	})

	t.Run("a key rotated via the CLI is served and used by both within 30 s", func(t *testing.T) {
		out, err := exec.Command(r.bin, "keys", "rotate", "--config", r.cfgPath).CombinedOutput()
		if err != nil {
			t.Fatalf("keys rotate: %v\n%s", err, out)
		}
		kid := strings.Fields(strings.SplitN(string(out), "new active key ", 2)[1])[0]
		for _, p := range []*crashtest.Process{r.a, r.b} {
			poll.Until(t, 30*time.Second, p.URL+" to sign with the new key", func() bool {
				return testkit.Header(t, serviceToken(t, p))["kid"] == kid
			})
			if _, jwks := testkit.Get(t, client(), at(p, "/protocol/openid-connect/certs")); !strings.Contains(jwks, kid) {
				t.Errorf("%s's JWKS lacks %s", p.URL, kid)
			}
		}
	})

	t.Run("database stopped under load: 503 and DOWN, then back without a restart", func(t *testing.T) {
		if err := r.pg.Stop(); err != nil {
			t.Fatal(err)
		}
		restarted := false
		defer func() {
			if !restarted {
				_ = r.pg.Start()
			}
		}()
		poll.Until(t, 10*time.Second, "readiness DOWN", func() bool {
			resp, _ := testkit.Get(t, client(), r.a.URL+"/health/ready")
			return resp.StatusCode == http.StatusServiceUnavailable
		})
		res := testkit.PostJSON(t, client(), at(r.b, "/wf/generate-user-token"), "", `{"email":"bob@example.com","password":"`+password+`"}`)
		if res.Status != http.StatusServiceUnavailable || !strings.Contains(res.Body, "message") {
			t.Errorf("an API during the outage = %d %s, want 503 in its shape", res.Status, res.Body)
		}
		if err := r.pg.Start(); err != nil {
			t.Fatal(err)
		}
		restarted = true
		poll.Until(t, 20*time.Second, "both replicas serving again", func() bool {
			for _, p := range []*crashtest.Process{r.a, r.b} {
				resp, _ := testkit.Get(t, client(), p.URL+"/health/ready")
				if resp.StatusCode != http.StatusOK {
					return false
				}
			}
			return true
		})
		if res := testkit.PostJSON(t, client(), at(r.b, "/wf/generate-user-token"), "", `{"email":"bob@example.com","password":"`+password+`"}`); res.Status != http.StatusOK {
			t.Errorf("after the outage = %d %s, want 200", res.Status, res.Body)
		}
	})

	t.Run("an outbox delivery in flight on A killed -9 is delivered by B after the lease", func(t *testing.T) {
		// Last: it kills A.
		r.hook.holdFirst()
		body := `{"metadata":"m","workflows_list":"notify","site":"shop","emails":["carol@example.com"]}`
		if res := testkit.PostJSON(t, client(), at(r.a, "/generate-link-api/"), serviceToken(t, r.a), body); res.Status != http.StatusOK {
			t.Fatalf("generate link at A = %d %s", res.Status, res.Body)
		}
		id := r.hook.waitHeld(t)
		if err := r.a.Kill(); err != nil {
			t.Fatal(err)
		}
		r.hook.release()
		// B takes the entry over once A's lease (10 s) has run out.
		poll.Until(t, 30*time.Second, "B to deliver "+id, func() bool { return r.hook.delivered(id) })
		if n := r.hook.attempts(id); n < 2 {
			t.Errorf("%d attempts of %s, want A's cut-short one and B's", n, id)
		}
	})
}

// clientAssertion is an RFC 7523 client assertion of a client_secret_jwt
// client (HS256 keyed by its secret), for audience aud.
func clientAssertion(t *testing.T, aud, clientID, secret string) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(secret)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	b, _ := json.Marshal(map[string]any{"iss": clientID, "sub": clientID, "aud": aud,
		"jti": fmt.Sprintf("jti-%d", now.UnixNano()), "iat": now.Unix(), "exp": now.Add(30 * time.Second).Unix()})
	jws, err := signer.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
