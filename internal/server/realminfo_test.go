package server_test

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"testing"

	"github.com/latchkey/latchkey/internal/testkit"
)

// TestRealmInfo: Keycloak's GET /realms/{realm}, which client libraries read
// for the realm's RS256 public key, under both prefixes; the key is the one
// the JWKS publishes and tokens are signed with.
func TestRealmInfo(t *testing.T) {
	t.Parallel()
	env := testkit.New(t, gateRealms)
	kid := kidOf(t, env.ServiceToken(t, "a", "svc", "svc-secret"))
	var jwk *rsa.PublicKey
	for _, k := range env.JWKS(t, "a").Keys {
		if k.KeyID == kid {
			jwk, _ = k.Key.(*rsa.PublicKey)
		}
	}
	if jwk == nil {
		t.Fatalf("no RSA key %s in the JWKS", kid)
	}
	for _, base := range []string{env.URL + "/realms/a", env.URL + "/auth/realms/a"} {
		resp, body := testkit.Get(t, env.Client(), base)
		m := testkit.Call{Status: resp.StatusCode, Body: body}.JSON()
		if resp.StatusCode != http.StatusOK || m["realm"] != "a" || m["token-service"] != base+"/protocol/openid-connect" ||
			m["account-service"] != base+"/account" || m["tokens-not-before"] != 0.0 {
			t.Fatalf("GET %s = %d %s", base, resp.StatusCode, body)
		}
		der, err := base64.StdEncoding.DecodeString(m["public_key"].(string))
		if err != nil {
			t.Fatal(err)
		}
		pub, err := x509.ParsePKIXPublicKey(der)
		if err != nil || !jwk.Equal(pub) {
			t.Errorf("public_key = %v (%v), want the active JWKS key", pub, err)
		}
	}
	if resp, _ := testkit.Get(t, env.Client(), env.URL+"/realms/nope"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown realm = %d, want 404", resp.StatusCode)
	}
}
