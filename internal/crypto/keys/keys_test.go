package keys_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/latchkey/latchkey/internal/crypto/keys"
	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/bboltstore"
	"github.com/latchkey/latchkey/storage/bboltstore/bolttest"
)

// t0, clock and openStore are the shared test clock and checked store.
var t0 = bolttest.T0

type clock = bolttest.Clock

func newClock() *clock { return bolttest.NewClock() }

func openStore(t *testing.T, clk *clock) *bboltstore.Store { return bolttest.Open(t, clk.Now) }

func open(t *testing.T, store storage.Keys, realm, alg string, overlap time.Duration, clk *clock) *keys.Ring {
	t.Helper()
	r, err := keys.Open(context.Background(), store, realm, alg, overlap, clk.Now)
	if err != nil {
		t.Fatalf("keys.Open(%s, %s): %v", realm, alg, err)
	}
	return r
}

// sign signs a payload with the ring's active key and verifies it with the
// key Lookup returns for its kid.
func sign(t *testing.T, r *keys.Ring) string {
	t.Helper()
	jws, err := r.Active().Signer().Sign([]byte(`{"sub":"x"}`))
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func verifies(r *keys.Ring, raw string) error {
	jws, err := jose.ParseSignedCompact(raw, r.Algorithms())
	if err != nil {
		return fmt.Errorf("parse: %w", err)
	}
	k, ok := r.Lookup(jws.Signatures[0].Header.KeyID)
	if !ok {
		return fmt.Errorf("kid %q not found", jws.Signatures[0].Header.KeyID)
	}
	if _, err := jws.Verify(k.Public); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	return nil
}

func TestOpenGeneratesOnceAndReuses(t *testing.T) {
	for _, alg := range []string{keys.RS256, keys.ES256, keys.EdDSA} {
		t.Run(alg, func(t *testing.T) {
			clk := newClock()
			store := openStore(t, clk)
			first := open(t, store, "demo", alg, time.Hour, clk)
			a := first.Active()
			if a == nil || string(a.Algorithm) != alg || a.ID == "" || !a.VerifyUntil.IsZero() {
				t.Fatalf("active key = %+v, want an %s key with a kid and no VerifyUntil", a, alg)
			}
			raw := sign(t, first)
			clk.Advance(time.Hour)
			second := open(t, store, "demo", alg, time.Hour, clk)
			if got := second.Active().ID; got != a.ID {
				t.Errorf("reopened ring's active kid = %q, want %q (reused)", got, a.ID)
			}
			if n := len(second.All()); n != 1 {
				t.Errorf("reopened ring has %d keys, want 1", n)
			}
			if err := verifies(second, raw); err != nil {
				t.Errorf("token of the first ring does not verify with the reopened one: %v", err)
			}
			recs, err := store.ListSigningKeys(context.Background(), "demo")
			if err != nil || len(recs) != 1 {
				t.Errorf("stored keys = %d, %v; want 1", len(recs), err)
			}
			var wantType any
			switch alg {
			case keys.RS256:
				wantType = &rsa.PublicKey{}
			case keys.ES256:
				wantType = &ecdsa.PublicKey{}
			case keys.EdDSA:
				wantType = ed25519.PublicKey{}
			}
			if got, want := fmt.Sprintf("%T", a.Public), fmt.Sprintf("%T", wantType); got != want {
				t.Errorf("public key type = %s, want %s", got, want)
			}
		})
	}
}

// Realms have separate rings on one store.
func TestRealmsHaveSeparateKeys(t *testing.T) {
	clk := newClock()
	store := openStore(t, clk)
	a := open(t, store, "a", keys.EdDSA, time.Hour, clk)
	b := open(t, store, "b", keys.EdDSA, time.Hour, clk)
	if a.Active().ID == b.Active().ID {
		t.Fatalf("realms a and b share kid %q", a.Active().ID)
	}
	if _, ok := b.Lookup(a.Active().ID); ok {
		t.Error("realm b finds realm a's key")
	}
	if err := verifies(b, sign(t, a)); err == nil {
		t.Error("a token of realm a verifies with realm b's ring")
	}
}

// Changing the configured algorithm rotates: the new active key has the new
// algorithm and the old one keeps verifying through the overlap.
func TestOpenRotatesOnAlgorithmChange(t *testing.T) {
	clk := newClock()
	store := openStore(t, clk)
	old := open(t, store, "demo", keys.RS256, time.Hour, clk)
	oldToken := sign(t, old)
	clk.Advance(time.Minute)
	ring := open(t, store, "demo", keys.ES256, time.Hour, clk)
	if got := ring.Active(); string(got.Algorithm) != keys.ES256 || got.ID == old.Active().ID {
		t.Fatalf("active key after algorithm change = %s %q, want a new ES256 key", got.Algorithm, got.ID)
	}
	if got := fmt.Sprint(ring.Algorithms()); got != "[ES256 RS256]" {
		t.Errorf("Algorithms() = %s, want [ES256 RS256]", got)
	}
	if err := verifies(ring, oldToken); err != nil {
		t.Errorf("RS256 token after the change: %v, want it still verifying", err)
	}
	// Reopening with the same (new) algorithm does not rotate again.
	again := open(t, store, "demo", keys.ES256, time.Hour, clk)
	if again.Active().ID != ring.Active().ID || len(again.All()) != 2 {
		t.Errorf("reopen after the change: active %q with %d keys, want %q with 2", again.Active().ID, len(again.All()), ring.Active().ID)
	}
}

// Rotate keeps the old key verifying until the overlap has passed, then it
// is gone from Lookup, All, Algorithms and the JWKS.
func TestRotateOverlap(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	store := openStore(t, clk)
	ring := open(t, store, "demo", keys.EdDSA, time.Hour, clk)
	oldKid := ring.Active().ID
	oldToken := sign(t, ring)
	if err := ring.Rotate(ctx); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	newKid := ring.Active().ID
	if newKid == oldKid {
		t.Fatal("Rotate kept the active kid")
	}
	steps := []struct {
		advance time.Duration
		reload  bool
		wantOld bool // old kid still verifies
		wantN   int  // len(All())
	}{
		{0, false, true, 2},
		{30 * time.Minute, false, true, 2},
		{29 * time.Minute, true, true, 2},
		// VerifyUntil itself is too late.
		{time.Minute, false, false, 2},
		{0, true, false, 1},
		{time.Hour, true, false, 1},
	}
	for i, st := range steps {
		clk.Advance(st.advance)
		if st.reload {
			if err := ring.Reload(ctx); err != nil {
				t.Fatal(err)
			}
		}
		_, ok := ring.Lookup(oldKid)
		err := verifies(ring, oldToken)
		if ok != st.wantOld || (err == nil) != st.wantOld {
			t.Errorf("step %d (+%s): old key lookup %v, verify %v; want verifying=%v", i, clk.Now().Sub(t0), ok, err, st.wantOld)
		}
		if n := len(ring.All()); n != st.wantN {
			t.Errorf("step %d: All() has %d keys, want %d", i, n, st.wantN)
		}
		if _, ok := ring.Lookup(newKid); !ok {
			t.Errorf("step %d: active key not found", i)
		}
		if got := strings.Contains(string(ring.JWKSJSON()), oldKid); got != (st.wantN == 2) {
			t.Errorf("step %d: JWKS lists the old kid = %v, want %v", i, got, st.wantN == 2)
		}
	}
	// A fresh ring on the same store never sees the expired key.
	fresh := open(t, store, "demo", keys.EdDSA, time.Hour, clk)
	if _, ok := fresh.Lookup(oldKid); ok {
		t.Error("a reopened ring finds the expired retired key")
	}
}

// The JWKS carries every verifying key's public half only.
func TestJWKSPublicOnly(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	store := openStore(t, clk)
	_ = open(t, store, "demo", keys.RS256, time.Hour, clk)
	_ = open(t, store, "demo", keys.ES256, time.Hour, clk)
	ring := open(t, store, "demo", keys.EdDSA, time.Hour, clk)
	if err := ring.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	raw := ring.JWKSJSON()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatalf("JWKS is not JSON: %v\n%s", err, raw)
	}
	if len(set.Keys) != 4 {
		t.Fatalf("JWKS has %d keys, want 4 (RS256, ES256 and two EdDSA)", len(set.Keys))
	}
	private := []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
	kids := map[string]bool{}
	for _, k := range set.Keys {
		for _, m := range private {
			if _, ok := k[m]; ok {
				t.Errorf("JWKS key %v has private member %q", k["kid"], m)
			}
		}
		if k["use"] != "sig" || k["kid"] == "" || k["alg"] == "" {
			t.Errorf("JWKS key = %v, want use sig, a kid and an alg", k)
		}
		kids[fmt.Sprint(k["kid"])] = true
	}
	for _, k := range ring.All() {
		if !kids[k.ID] {
			t.Errorf("JWKS lacks verifying key %q", k.ID)
		}
	}
	// go-jose agrees that every key is public.
	var js jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &js); err != nil {
		t.Fatal(err)
	}
	for _, k := range js.Keys {
		if !k.IsPublic() || !k.Valid() {
			t.Errorf("JWKS key %q: public %v, valid %v", k.KeyID, k.IsPublic(), k.Valid())
		}
	}
}

func TestGenerate(t *testing.T) {
	tests := []struct {
		alg     string
		wantErr bool
	}{
		{keys.RS256, false},
		{keys.ES256, false},
		{keys.EdDSA, false},
		{"HS256", true},
		{"none", true},
		{"", true},
		{"rs256", true},
	}
	for _, tt := range tests {
		rec, err := keys.Generate("demo", tt.alg, t0)
		if (err != nil) != tt.wantErr {
			t.Errorf("Generate(%q) error = %v, want error %v", tt.alg, err, tt.wantErr)
			continue
		}
		if err == nil && (rec.Realm != "demo" || rec.Algorithm != tt.alg || rec.State != storage.KeyActive ||
			len(rec.PrivateDER) == 0 || len(rec.ID) != 16 || !rec.CreatedAt.Equal(t0)) {
			t.Errorf("Generate(%q) = realm %q alg %q state %q kid %q der %d bytes created %v", tt.alg,
				rec.Realm, rec.Algorithm, rec.State, rec.ID, len(rec.PrivateDER), rec.CreatedAt)
		}
	}
	clk := newClock()
	store := openStore(t, clk)
	if _, err := keys.Open(context.Background(), store, "demo", "HS256", time.Hour, clk.Now); err == nil {
		t.Error("Open with HS256 succeeded, want an error")
	}
	if recs, err := store.ListSigningKeys(context.Background(), "demo"); err != nil || len(recs) != 0 {
		t.Errorf("Open with HS256 stored %d keys (err %v), want none", len(recs), err)
	}
}

// A stored key whose label does not match its type is refused on load.
func TestOpenRefusesMislabelledKey(t *testing.T) {
	clk := newClock()
	store := openStore(t, clk)
	rec, err := keys.Generate("demo", keys.ES256, t0)
	if err != nil {
		t.Fatal(err)
	}
	rec.Algorithm = keys.RS256
	if err := store.RotateSigningKey(context.Background(), rec, t0); err != nil {
		t.Fatal(err)
	}
	_, err = keys.Open(context.Background(), store, "demo", keys.RS256, time.Hour, clk.Now)
	if err == nil || !strings.Contains(err.Error(), "EC key labelled RS256") {
		t.Errorf("Open of a mislabelled key = %v, want an error naming the mismatch", err)
	}
}
