package testkit

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// JWKS fetches a realm's key set over HTTP, as a relying party would. A
// non-200 answer or a body that is not a key set fails the test.
func (e *Env) JWKS(t testing.TB, realm string) jose.JSONWebKeySet {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.Issuer(realm)+"/protocol/openid-connect/certs", nil)
	r := Do(t, e.apiClient(), req)
	var set jose.JSONWebKeySet
	if r.Status != http.StatusOK {
		t.Fatalf("GET JWKS of realm %q = %d %s", realm, r.Status, r.Body)
	}
	if err := json.Unmarshal([]byte(r.Body), &set); err != nil {
		t.Fatalf("decode JWKS of realm %q: %v", realm, err)
	}
	return set
}

// VerifyJWS verifies a compact JWS against a key set with go-jose and returns
// its claims. It is an error when the set has not exactly one key with the
// token's kid, when that key's alg is not the token's, or when the signature
// does not verify.
func VerifyJWS(set jose.JSONWebKeySet, raw string) (map[string]any, error) {
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		return nil, fmt.Errorf("parse JWS: %w", err)
	}
	h := jws.Signatures[0].Header
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		return nil, fmt.Errorf("the key set has %d keys with kid %q, want 1", len(keys), h.KeyID)
	}
	if keys[0].Algorithm != h.Algorithm {
		return nil, fmt.Errorf("token alg %s, but the key set's key %q has alg %s", h.Algorithm, h.KeyID, keys[0].Algorithm)
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		return nil, fmt.Errorf("verify with kid %q: %w", h.KeyID, err)
	}
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		return nil, fmt.Errorf("decode claims: %w", err)
	}
	return m, nil
}

// VerifyJWT checks raw's signature against the key set realm publishes over
// HTTP (JWKS, VerifyJWS) and returns its claims; a token that does not
// verify fails the test.
func (e *Env) VerifyJWT(t testing.TB, realm, raw string) map[string]any {
	t.Helper()
	claims, err := VerifyJWS(e.JWKS(t, realm), raw)
	if err != nil {
		t.Fatalf("token does not verify against the JWKS of realm %q: %v", realm, err)
	}
	return claims
}

// Claims decodes a JWT's payload without verifying it (VerifyJWT verifies).
func Claims(t testing.TB, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("%q is not a compact JWS", raw)
	}
	return decodeSegment(t, "payload", parts[1])
}

// Header decodes a JWT's protected header without verifying it.
func Header(t testing.TB, raw string) map[string]any {
	t.Helper()
	return decodeSegment(t, "header", strings.SplitN(raw, ".", 2)[0])
}

func decodeSegment(t testing.TB, what, seg string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatalf("decode JWT %s: %v", what, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decode JWT %s: %v", what, err)
	}
	return m
}
