package realm_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/realm"
)

func TestRegistryGetHidesDisabledRealms(t *testing.T) {
	clk := newClock()
	store := openStore(t, clk)
	reg := buildRegistry(t, `
server: {publicURL: "https://id.example.com"}
defaultRealm: live
realms:
  - name: live
    signingAlgorithm: EdDSA
  - name: closed
    enabled: false
    signingAlgorithm: EdDSA
`, store, clk)
	tests := []struct {
		name string
		want bool
	}{
		{"live", true},
		{"closed", false},
		{"LIVE", false}, // realm names are exact
		{"missing", false},
		{"", false},
	}
	for _, tt := range tests {
		r, ok := reg.Get(tt.name)
		if ok != tt.want || (ok && r.Name != tt.name) {
			t.Errorf("Get(%q) = %v, %v; want found=%v", tt.name, r, ok, tt.want)
		}
	}
	var names []string
	for _, r := range reg.All() {
		names = append(names, r.Name)
	}
	if !slices.Equal(names, []string{"live", "closed"}) {
		t.Errorf("All() = %q, want [live closed] (config order, disabled included)", names)
	}
	if reg.Default() != "live" {
		t.Errorf("Default = %q, want %q", reg.Default(), "live")
	}
	if r, _ := reg.Get("live"); r.Issuer != "https://id.example.com/auth/realms/live" {
		t.Errorf("Issuer = %q, want https://id.example.com/auth/realms/live", r.Issuer)
	}
}

// Build maps the config onto the runtime realm; a spot check of the fields
// other packages rely on.
func TestBuildSettings(t *testing.T) {
	r, _, clk := newDemo(t)
	checks := []struct {
		name      string
		got, want any
	}{
		{"SSLRequired", r.SSLRequired, realm.SSLExternal},
		{"BruteForce", r.BruteForce, realm.BruteForcePolicy{Enabled: true, FailureFactor: 3, WaitIncrement: time.Minute, MaxWait: 150 * time.Second, FailureResetTime: time.Hour}},
		{"RateLimits", r.RateLimits, realm.RateLimits{}},
		{"IPLimiter is nil (unlimited)", r.IPLimiter == nil, true},
		{"AccountLimiter is nil (unlimited)", r.AccountLimiter == nil, true},
		{"MinPasswordLen", r.MinPasswordLen, 8},
		{"APIToken lifetime", r.Lifetimes.APIToken, time.Hour},
		{"DeviceFlow defaults", r.DeviceFlow, realm.DeviceFlowPolicy{Lifespan: 10 * time.Minute, PollInterval: 5 * time.Second}},
		{"clients in config order", len(r.Clients()), 6},
		{"active key algorithm", string(r.Keys.Active().Algorithm), "EdDSA"},
		{"token issuer", r.Tokens.Issuer, r.Issuer},
		{"clock", r.Now(), clk.Now()},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if _, ok := r.Client("nope"); ok {
		t.Error(`Client("nope") found, want absent`)
	}
}

// Seed users are created on the first Build and never overwritten: a second
// Build with a changed password, roles and flags leaves the stored user as it
// was, and keeps the realm's signing key.
func TestSeedUsersCreatedOnce(t *testing.T) {
	clk := newClock()
	store := openStore(t, clk)
	ctx := context.Background()
	const seed = `
realms:
  - name: demo
    signingAlgorithm: EdDSA
    users:
      - email: Seed@Example.com
        username: seeder
        password: "%s"
        roles: [%s]
        emailVerified: %s
`
	first := buildRegistry(t, fmt.Sprintf(seed, "first-password", "b, a", "true"), store, clk)
	r1 := mustRealm(t, first, "demo")
	u1, err := store.GetUserByEmail(ctx, "demo", "seed@example.com")
	if err != nil {
		t.Fatalf("seed user not created: %v", err)
	}
	want := []struct {
		name      string
		got, want any
	}{
		{"email", u1.Email, "Seed@Example.com"},
		{"username", u1.Username, "seeder"},
		{"roles sorted", strings.Join(u1.Roles, ","), "a,b"},
		{"email verified", u1.EmailVerified, true},
		{"enabled", u1.Enabled, true},
		{"hashed", strings.HasPrefix(u1.PasswordHash, "$argon2id$"), true},
	}
	for _, w := range want {
		if w.got != w.want {
			t.Errorf("first Build: seed user %s = %v, want %v", w.name, w.got, w.want)
		}
	}

	clk.Advance(time.Hour)
	second := buildRegistry(t, fmt.Sprintf(seed, "second-password", "c", "false"), store, clk)
	r2 := mustRealm(t, second, "demo")
	u2, err := store.GetUserByEmail(ctx, "demo", "seed@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if u2.ID != u1.ID || u2.PasswordHash != u1.PasswordHash || !slices.Equal(u2.Roles, u1.Roles) ||
		u2.EmailVerified != u1.EmailVerified || !u2.UpdatedAt.Equal(u1.UpdatedAt) {
		t.Errorf("second Build changed the seed user:\n got %+v\nwant %+v", u2, u1)
	}
	if n, err := store.CountUsers(ctx, "demo"); err != nil || n != 1 {
		t.Errorf("CountUsers = %d, %v; want 1", n, err)
	}
	if k1, k2 := r1.Keys.Active().ID, r2.Keys.Active().ID; k1 != k2 {
		t.Errorf("second Build changed the active key from %q to %q, want it reused", k1, k2)
	}
}
