package realm_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/crypto/password"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage/bboltstore"
	"github.com/latchkey/latchkey/storage/bboltstore/bolttest"
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

// t0, clock and openStore are the shared test clock and checked store.
var t0 = bolttest.T0

type clock = bolttest.Clock

func newClock() *clock { return bolttest.NewClock() }

func openStore(t *testing.T, clk *clock) *bboltstore.Store { return bolttest.Open(t, clk.Now) }

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
