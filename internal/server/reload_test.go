package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/testkit"
)

// reloadConfig parses yaml as the running env's next config (same public
// URL, storage and mail server) and reloads the server with it.
func reloadConfig(t *testing.T, env *testkit.Env, yaml string) error {
	t.Helper()
	cfg, err := config.LoadBytes([]byte(yaml), "yaml")
	if err != nil {
		t.Fatalf("load the new config: %v", err)
	}
	cfg.Server.PublicURL, cfg.Storage, cfg.SMTP = env.Config.Server.PublicURL, env.Config.Storage, env.Config.SMTP
	return env.Server.Reload(context.Background(), cfg)
}

// TestReload swaps the realms while the server runs: a client added, a realm
// added, a realm removed; tokens and users of the realms that stay work on.
func TestReload(t *testing.T) {
	t.Parallel()
	env := testkit.New(t, twoRealms)
	before := env.ServiceToken(t, "a", "svc", "svc-secret")
	next := strings.Replace(twoRealms, `      - clientId: svc
        secret: svc-secret
        grantTypes: [client_credentials]
        serviceAccountRoles: [magic-link-sender, link-generator]
    users:
      - {email: alice@example.com, password: "alice-in-a", roles: [link-generator]}`, `      - clientId: svc
        secret: svc-secret
        grantTypes: [client_credentials]
        serviceAccountRoles: [magic-link-sender, link-generator]
      - clientId: late
        secret: late-secret
        grantTypes: [client_credentials]
    users:
      - {email: alice@example.com, password: "alice-in-a", roles: [link-generator]}`, 1)
	next = next[:strings.Index(next, "  - name: b")] + `  - name: c
    clients:
      - {clientId: svc, secret: svc-secret, grantTypes: [client_credentials]}
`
	if err := reloadConfig(t, env, next); err != nil {
		t.Fatalf("reload: %v", err)
	}
	env.ServiceToken(t, "a", "late", "late-secret") // the added client works at once
	env.ServiceToken(t, "c", "svc", "svc-secret")   // so does the added realm
	if resp, _ := testkit.Get(t, env.Client(), env.Issuer("b")+"/.well-known/openid-configuration"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the removed realm's discovery = %d, want 404", resp.StatusCode)
	}
	if r := env.Userinfo(t, "a", before); r.Status != http.StatusOK {
		t.Errorf("a token from before the reload = %d, want 200 (the realm's keys stay)", r.Status)
	}
	resp, body := testkit.Get(t, env.Client(), env.URL+"/metrics")
	if resp.StatusCode != 200 || !strings.Contains(body, `latchkey_config_reloads_total{result="ok"}`) {
		t.Errorf("metrics lack the reload counter")
	}
}

// TestReloadUnderLoad reloads several times while clients keep calling the
// token, userinfo and password APIs: no request fails.
func TestReloadUnderLoad(t *testing.T) {
	t.Parallel()
	env := testkit.New(t, twoRealms)
	tok := env.ServiceToken(t, "a", "svc", "svc-secret")
	var failed atomic.Int32
	var sent atomic.Int32
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			c := env.Client()
			for {
				select {
				case <-stop:
					return
				default:
				}
				tr := env.Token(t, c, "a", url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}, "client_secret": {"svc-secret"}})
				r := env.Userinfo(t, "a", tok)
				sent.Add(2)
				if tr.Status != 200 || r.Status != 200 {
					failed.Add(1)
				}
			}
		})
	}
	for range 5 {
		if err := reloadConfig(t, env, twoRealms); err != nil {
			t.Fatalf("reload: %v", err)
		}
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Errorf("%d of %d requests failed during 5 reloads, want none", failed.Load(), sent.Load())
	}
}
