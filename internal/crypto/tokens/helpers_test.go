package tokens_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/latchkey/latchkey/internal/crypto/keys"
	"github.com/latchkey/latchkey/internal/crypto/tokens"
	"github.com/latchkey/latchkey/storage/bboltstore"
	"github.com/latchkey/latchkey/storage/bboltstore/bolttest"
)

// t0 and clock are the shared test clock.
var t0 = bolttest.T0

type clock = bolttest.Clock

// env is a realm's token service on a real bbolt store.
type env struct {
	clk   *clock
	store *bboltstore.Store
	ring  *keys.Ring
	svc   *tokens.Service
}

// newEnv opens a store in t.TempDir() (checked and closed at cleanup) and a
// key ring of alg for realm "demo".
func newEnv(t testing.TB, alg string) *env {
	t.Helper()
	clk := bolttest.NewClock()
	store := bolttest.Open(t, clk.Now)
	ring, err := keys.Open(context.Background(), store, "demo", alg, 24*time.Hour, clk.Now)
	if err != nil {
		t.Fatalf("keys.Open(%s): %v", alg, err)
	}
	return &env{clk: clk, store: store, ring: ring, svc: service("demo", ring, store, clk)}
}

func service(realm string, ring *keys.Ring, store *bboltstore.Store, clk *clock) *tokens.Service {
	return &tokens.Service{
		Issuer: "https://id.example.com/auth/realms/" + realm, Realm: realm, Ring: ring,
		Revocations: store, Sessions: store, Now: clk.Now,
	}
}

func (e *env) mint(t testing.TB, spec tokens.Spec) (string, *tokens.Claims) {
	t.Helper()
	if spec.Lifespan == 0 {
		spec.Lifespan = 5 * time.Minute
	}
	raw, c, err := e.svc.Mint(context.Background(), spec)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	return raw, c
}

var b64 = base64.RawURLEncoding

// parts splits a compact JWS.
func parts(t *testing.T, raw string) (header, payload, sig string) {
	t.Helper()
	p := strings.Split(raw, ".")
	if len(p) != 3 {
		t.Fatalf("token has %d parts, want 3", len(p))
	}
	return p[0], p[1], p[2]
}

// decodeSegment base64url-decodes a JWS segment into v.
func decodeSegment(t *testing.T, seg string, v any) {
	t.Helper()
	b, err := b64.DecodeString(seg)
	if err != nil {
		t.Fatalf("decode segment: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("unmarshal segment %s: %v", b, err)
	}
}

// encodeSegment is decodeSegment's inverse.
func encodeSegment(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b64.EncodeToString(b)
}

// signWith signs payload with key under alg, stamping kid when non-empty.
func signWith(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, payload []byte) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatalf("NewSigner(%s): %v", alg, err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
