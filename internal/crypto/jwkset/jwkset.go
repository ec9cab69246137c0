// Package jwkset reads the JWK Sets (RFC 7517) of clients that authenticate
// with signed JWTs (private_key_jwt, RFC 7523): the inline jwks of the config
// and the documents served at a client's jwksUri.
//
// Only public signature keys are ever kept. A symmetric ("oct") key in a set
// that anyone may read would let anyone sign assertions, and accepting one
// is the door to alg confusion (an HS256 "signature" keyed with public
// material). A private key in the set means the client's key has leaked.
package jwkset

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	jose "github.com/go-jose/go-jose/v4"
)

// SignatureAlgorithms are the asymmetric JWS algorithms a client's public
// keys may verify. HMAC algorithms are never among them: they take a shared
// secret, not a key from a published set; and "none" is no signature at all.
var SignatureAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512,
	jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512,
	jose.EdDSA,
}

// MaxKeys caps the keys read from one set: a client rotates through a few
// keys, and a set of thousands would only make every lookup slower.
const MaxKeys = 100

// Parse reads a JWK Set document ({"keys": [...]}). It returns the usable
// keys and, for each key it skipped, a problem naming the key's index (and
// kid); a config treats any problem as an error, a fetched set is used with
// the keys that are fine. err is set when doc is not a JWK Set at all or
// holds no key.
func Parse(doc []byte) (keys []jose.JSONWebKey, problems []error, err error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		return nil, nil, fmt.Errorf("not a JWK Set: %w", err)
	}
	if len(set.Keys) == 0 {
		return nil, nil, errors.New(`not a JWK Set with keys (want {"keys": [{"kty": ...}, ...]})`)
	}
	if len(set.Keys) > MaxKeys {
		return nil, nil, fmt.Errorf("%d keys; at most %d are read", len(set.Keys), MaxKeys)
	}
	kids := map[string]int{}
	for i, raw := range set.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			problems = append(problems, fmt.Errorf("keys[%d]: %w", i, err))
			continue
		}
		if err := check(&k); err != nil {
			problems = append(problems, fmt.Errorf("keys[%d]%s: %w", i, kidNote(k.KeyID), err))
			continue
		}
		if k.KeyID != "" {
			if j, dup := kids[k.KeyID]; dup {
				problems = append(problems, fmt.Errorf("keys[%d]: duplicate kid %q (also keys[%d]); a kid must name one key", i, k.KeyID, j))
				continue
			}
			kids[k.KeyID] = i
		}
		keys = append(keys, k)
	}
	return keys, problems, nil
}

// check reports why a parsed key cannot verify client assertions.
func check(k *jose.JSONWebKey) error {
	switch {
	case !k.IsPublic():
		if _, symmetric := k.Key.([]byte); symmetric {
			return errors.New(`a symmetric ("oct") key cannot be published; use client-secret-jwt for HMAC`)
		}
		return errors.New("a private key: publish only the public half (this key must be considered leaked)")
	case !k.Valid():
		return errors.New("incomplete public key")
	case k.Use != "" && k.Use != "sig":
		return fmt.Errorf("use %q: only signature keys (use \"sig\") verify client assertions", k.Use)
	case k.Algorithm != "" && !slices.Contains(SignatureAlgorithms, jose.SignatureAlgorithm(k.Algorithm)):
		return fmt.Errorf("alg %q is not an accepted signature algorithm (%v)", k.Algorithm, SignatureAlgorithms)
	}
	return nil
}

func kidNote(kid string) string {
	if kid == "" {
		return ""
	}
	return fmt.Sprintf(" (kid %q)", kid)
}

// Select picks the key that verifies a JWS with the given header kid and
// alg: the key with that kid, or the set's only key when the header names
// none. A key that declares an alg must match it, so that a key published
// for ES256 never verifies anything else.
func Select(keys []jose.JSONWebKey, kid string, alg jose.SignatureAlgorithm) (*jose.JSONWebKey, error) {
	var k *jose.JSONWebKey
	switch {
	case kid != "":
		for i := range keys {
			if keys[i].KeyID == kid {
				k = &keys[i]
				break
			}
		}
		if k == nil {
			return nil, fmt.Errorf("no key with kid %q", kid)
		}
	case len(keys) == 1:
		k = &keys[0]
	default:
		return nil, fmt.Errorf("the JWS names no kid and the set has %d keys", len(keys))
	}
	if k.Algorithm != "" && k.Algorithm != string(alg) {
		return nil, fmt.Errorf("key %q is for alg %s, not %s", k.KeyID, k.Algorithm, alg)
	}
	return k, nil
}

// HasKID reports whether a key of the set has the kid.
func HasKID(keys []jose.JSONWebKey, kid string) bool {
	return slices.ContainsFunc(keys, func(k jose.JSONWebKey) bool { return k.KeyID == kid })
}
