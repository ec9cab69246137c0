package realm_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/password"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage/bboltstore"
)

// testPassword is the password behind cheapHash.
const testPassword = "correct horse battery"

// cheapHash is one argon2id hash of testPassword with a tiny cost, shared by
// every test: a default-cost hash or verification takes ~30 ms, which adds
// up over the brute-force sequences.
var cheapHash = sync.OnceValue(func() string {
	h, err := password.HashWith(testPassword, password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		panic(fmt.Sprintf("hash test password: %v", err))
	}
	return h
})

// t0 is the tests' starting instant; fixed so that durations are exact.
var t0 = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

// clock is a manually moved clock, safe for concurrent use.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// openStore opens a bbolt file in t.TempDir(); at cleanup it checks the
// file's structure and indexes, then closes it.
func openStore(t *testing.T, clk *clock) *bboltstore.Store {
	t.Helper()
	s, err := bboltstore.Open(filepath.Join(t.TempDir(), "latchkey.db"), bboltstore.Options{NoSync: true, Now: clk.Now})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Check(); err != nil {
			t.Errorf("store check: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return s
}

// loadConfig parses a YAML config the way the server does.
func loadConfig(t *testing.T, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.LoadBytes([]byte(yaml), "yaml")
	if err != nil {
		t.Fatalf("load config: %v", err)
	}
	return cfg
}

// buildRegistry builds the realms of yaml on store with clk.
func buildRegistry(t *testing.T, yaml string, store *bboltstore.Store, clk *clock) *realm.Registry {
	t.Helper()
	reg, err := realm.Build(context.Background(), loadConfig(t, yaml), store, clk.Now)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return reg
}

// mustRealm returns the enabled realm called name.
func mustRealm(t *testing.T, reg *realm.Registry, name string) *realm.Realm {
	t.Helper()
	r, ok := reg.Get(name)
	if !ok {
		t.Fatalf("realm %q not found", name)
	}
	return r
}

// demoYAML is the realm most tests use: EdDSA keys (fast to generate), a
// brute-force policy small enough to walk through, rate limits off, and
// clients for every grant combination.
func demoYAML() string {
	return fmt.Sprintf(`
server:
  listen: "127.0.0.1:8443"
  tls: {mode: "off"}
realms:
  - name: demo
    signingAlgorithm: EdDSA
    bruteForce: {failureFactor: 3, waitIncrement: 1m, maxWait: 150s, failureResetTime: 1h}
    rateLimits: {perIP: "off", perAccount: "off"}
    clients:
      - clientId: code
        public: true
        redirectUris: ["https://app.example.com/cb"]
        grantTypes: [authorization_code, refresh_token]
      - clientId: implicit
        public: true
        redirectUris: ["https://app.example.com/cb"]
        grantTypes: [implicit]
      - clientId: hybrid
        public: true
        redirectUris: ["https://app.example.com/cb"]
        grantTypes: [authorization_code, implicit]
      - clientId: wild
        public: true
        wildcardRedirects: true
        redirectUris: ["https://app.example.com/cb", "https://app.example.com/spa/*", "com.example.app:/oauth/*"]
      - clientId: svc
        secret: "s3cret-value"
        grantTypes: [client_credentials]
      - clientId: hashed
        secretHash: %q
        grantTypes: [client_credentials]
    users:
      - email: alice@example.com
        username: alice
        passwordHash: %q
        roles: [link-generator]
      - email: nopass@example.com
      - email: off@example.com
        passwordHash: %q
        enabled: false
`, cheapHash(), cheapHash(), cheapHash())
}

// newDemo builds demoYAML on a fresh store.
func newDemo(t *testing.T) (*realm.Realm, *bboltstore.Store, *clock) {
	t.Helper()
	clk := newClock()
	store := openStore(t, clk)
	return mustRealm(t, buildRegistry(t, demoYAML(), store, clk), "demo"), store, clk
}
