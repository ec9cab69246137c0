package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/crypto/keys"
	"github.com/latchkey/latchkey/internal/testkit"
)

// TestKeyRotationElsewhereIsPickedUp rotates realm a's signing key the way
// another replica (or the CLI) would — through the store, behind the running
// server's back — and checks that after a key refresh the server publishes
// the new key and signs with it, while tokens of the old key still verify.
func TestKeyRotationElsewhereIsPickedUp(t *testing.T) {
	t.Parallel()
	env := testkit.New(t, gateRealms)
	ctx := context.Background()
	before := env.ServiceToken(t, "a", "svc", "svc-secret")
	oldKid := kidOf(t, before)

	other, err := keys.Open(ctx, env.Store, "a", "RS256", time.Hour, env.Clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	newKid := other.Active().ID
	if newKid == oldKid {
		t.Fatal("rotation kept the kid")
	}
	env.Server.RefreshKeys(ctx)

	resp, jwks := testkit.Get(t, env.Client(), env.Issuer("a")+"/protocol/openid-connect/certs")
	if resp.StatusCode != http.StatusOK || !strings.Contains(jwks, newKid) || !strings.Contains(jwks, oldKid) {
		t.Errorf("JWKS after the refresh = %d %s, want both %s and %s", resp.StatusCode, jwks, newKid, oldKid)
	}
	after := env.ServiceToken(t, "a", "svc", "svc-secret")
	if got := kidOf(t, after); got != newKid {
		t.Errorf("new tokens are signed with %s, want the rotated key %s", got, newKid)
	}
	for name, tok := range map[string]string{"old key's": before, "new key's": after} {
		if r := env.Userinfo(t, "a", tok); r.Status != http.StatusOK {
			t.Errorf("userinfo with the %s token = %d, want 200", name, r.Status)
		}
	}
}

// kidOf reads the kid from a compact JWS header.
func kidOf(t *testing.T, raw string) string {
	t.Helper()
	h := testkit.Header(t, raw)
	kid, _ := h["kid"].(string)
	if kid == "" {
		t.Fatalf("token without kid: %v", h)
	}
	return kid
}
