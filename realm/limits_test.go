package realm_test

import (
	"context"
	"testing"
	"time"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/realm"
)

// limitsYAML has a per-account budget of 3 a minute and a per-IP one of 2.
const limitsYAML = `
server: {publicURL: "https://localhost"}
realms:
  - name: demo
    signingAlgorithm: EdDSA
    rateLimits: {perIP: "2/m", perAccount: "3/m"}
`

// TestLimits runs the same budget in memory (bbolt: one process owns the
// store) and counted in the store (as on PostgreSQL, where replicas share
// it): two registries on one store then spend one budget.
func TestLimits(t *testing.T) {
	ctx := context.Background()
	for _, shared := range []bool{false, true} {
		name := map[bool]string{false: "in memory", true: "in the store"}[shared]
		t.Run(name, func(t *testing.T) {
			clk := newClock()
			store := openStore(t, clk)
			cfg := loadConfig(t, limitsYAML)
			if shared {
				cfg.Storage.Driver = config.DriverPostgres // the store decides nothing; the realm counts in it
			}
			build := func() *realm.Realm {
				reg, err := realm.Build(ctx, cfg, store, clk.Now)
				if err != nil {
					t.Fatal(err)
				}
				return mustRealm(t, reg, "demo")
			}
			a, b := build(), build()
			replicas := []*realm.Realm{a, a, a}
			if shared {
				replicas = []*realm.Realm{a, b, a} // alternate replicas
			}
			for i, r := range replicas {
				if ok, _, err := r.AccountLimiter.Allow(ctx, "kim"); !ok || err != nil {
					t.Fatalf("attempt %d = %v, %v; want allowed", i+1, ok, err)
				}
			}
			ok, wait, err := replicas[1].AccountLimiter.Allow(ctx, "kim")
			if ok || err != nil || wait <= 0 || wait > time.Minute {
				t.Fatalf("4th attempt = %v wait %s, %v; want refused within a minute", ok, wait, err)
			}
			if ok, _, _ := a.AccountLimiter.Allow(ctx, "other"); !ok {
				t.Error("another account was refused")
			}
			clk.Advance(time.Minute)
			if ok, _, _ := replicas[1].AccountLimiter.Allow(ctx, "kim"); !ok {
				t.Error("refused after the period")
			}

			release, _, ok, err := a.ResendSlots.Reserve(ctx, "kim/web", time.Minute)
			if !ok || err != nil {
				t.Fatalf("first slot = %v, %v", ok, err)
			}
			other := a
			if shared {
				other = b
			}
			if _, wait, ok, _ := other.ResendSlots.Reserve(ctx, "kim/web", time.Minute); ok || wait <= 0 {
				t.Fatalf("second slot = %v wait %s, want refused", ok, wait)
			}
			release() // what the slot guarded failed: free at once
			if _, _, ok, _ := other.ResendSlots.Reserve(ctx, "kim/web", time.Minute); !ok {
				t.Fatal("slot not free after release")
			}
		})
	}
}
