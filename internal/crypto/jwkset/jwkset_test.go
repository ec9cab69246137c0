package jwkset_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/latchkey/latchkey/internal/crypto/jwkset"
)

func doc(t *testing.T, keys ...jose.JSONWebKey) []byte {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParse shows that a fetched set keeps its usable keys and reports the
// rest, and that a document that is no JWK Set is an error.
func TestParse(t *testing.T) {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	good := jose.JSONWebKey{Key: &rk.PublicKey, KeyID: "a", Use: "sig"}
	tests := []struct {
		name         string
		doc          []byte
		wantKIDs     string
		wantProblems []string
		wantErr      string
	}{
		{"public keys", doc(t, good, jose.JSONWebKey{Key: &ek.PublicKey, KeyID: "b", Algorithm: "ES256"}), "a b", nil, ""},
		{"private and symmetric keys skipped", doc(t, good, jose.JSONWebKey{Key: rk, KeyID: "p"},
			jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "s"}), "a",
			[]string{`keys[1] (kid "p"): a private key`, `keys[2] (kid "s"): a symmetric`}, ""},
		{"duplicate kid", doc(t, good, good), "a", []string{`keys[1]: duplicate kid "a"`}, ""},
		{"unknown key type", []byte(`{"keys":[{"kty":"XYZ","kid":"x"}]}`), "", []string{"keys[0]:"}, ""},
		{"not JSON", []byte(`<html>`), "", nil, "not a JWK Set"},
		{"no keys", []byte(`{"keys":[]}`), "", nil, "not a JWK Set with keys"},
		{"a single JWK, not a set", []byte(`{"kty":"RSA","n":"AQAB","e":"AQAB"}`), "", nil, "not a JWK Set with keys"},
		{"too many keys", []byte(`{"keys":[` + strings.Repeat(`{},`, jwkset.MaxKeys) + `{}]}`), "", nil, "at most"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, problems, err := jwkset.Parse(tt.doc)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			var kids []string
			for _, k := range keys {
				kids = append(kids, k.KeyID)
			}
			if got := strings.Join(kids, " "); got != tt.wantKIDs {
				t.Errorf("kept kids %q, want %q", got, tt.wantKIDs)
			}
			if len(problems) != len(tt.wantProblems) {
				t.Fatalf("problems = %v, want %d", problems, len(tt.wantProblems))
			}
			for i, want := range tt.wantProblems {
				if !strings.Contains(problems[i].Error(), want) {
					t.Errorf("problem %d = %q, want it to contain %q", i, problems[i], want)
				}
			}
		})
	}
}

func TestSelect(t *testing.T) {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	a := jose.JSONWebKey{Key: &rk.PublicKey, KeyID: "a", Algorithm: "RS256"}
	b := jose.JSONWebKey{Key: &rk.PublicKey, KeyID: "b"}
	tests := []struct {
		name    string
		keys    []jose.JSONWebKey
		kid     string
		alg     jose.SignatureAlgorithm
		wantKID string
		wantErr string
	}{
		{"by kid", []jose.JSONWebKey{a, b}, "b", jose.PS256, "b", ""},
		{"unknown kid", []jose.JSONWebKey{a, b}, "c", jose.RS256, "", "no key with kid"},
		{"no kid, one key", []jose.JSONWebKey{b}, "", jose.RS256, "b", ""},
		{"no kid, several keys", []jose.JSONWebKey{a, b}, "", jose.RS256, "", "names no kid"},
		{"alg other than the key's", []jose.JSONWebKey{a}, "a", jose.PS256, "", "is for alg RS256"},
		{"empty set", nil, "", jose.RS256, "", "names no kid"},
	}
	for _, tt := range tests {
		k, err := jwkset.Select(tt.keys, tt.kid, tt.alg)
		switch {
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: Select error = %v, want one containing %q", tt.name, err, tt.wantErr)
		case tt.wantErr == "" && (err != nil || k.KeyID != tt.wantKID):
			t.Errorf("%s: Select = %v, %v; want key %q", tt.name, k, err, tt.wantKID)
		}
	}
}
