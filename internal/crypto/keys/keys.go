// Package keys manages a realm's JWS signing keys: generation on first start,
// persistence through storage.Keys, rotation with overlap, reloading keys
// rotated elsewhere (Ring.Reload), and in-memory caches of parsed keys,
// ready-made signers and the serialized JWKS so that no token or JWKS request
// parses a key or re-encodes the key set.
package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/latchkey/latchkey/storage"
)

// Supported algorithms.
const (
	RS256 = "RS256"
	ES256 = "ES256"
	EdDSA = "EdDSA"
)

// Key is one parsed signing key.
type Key struct {
	ID          string
	Algorithm   jose.SignatureAlgorithm
	Private     crypto.Signer
	Public      crypto.PublicKey
	VerifyUntil time.Time // zero for the active key
	signer      jose.Signer
}

// Signer returns a cached JOSE signer that stamps kid and typ=JWT.
func (k *Key) Signer() jose.Signer { return k.signer }

// snapshot is an immutable view swapped atomically on rotation.
type snapshot struct {
	active *Key
	byID   map[string]*Key
	all    []*Key
	jwks   []byte
	algs   []jose.SignatureAlgorithm
}

// Ring is the key set of one realm. It is safe for concurrent use.
type Ring struct {
	realm   string
	alg     string
	overlap time.Duration
	store   storage.Keys
	now     func() time.Time
	snap    atomic.Pointer[snapshot]
}

// Open loads the realm's keys, generating and persisting an active key of alg
// when the realm has none or its active key uses another algorithm (a change of
// signingAlgorithm in the config rotates the key).
func Open(ctx context.Context, store storage.Keys, realm, alg string, overlap time.Duration, now func() time.Time) (*Ring, error) {
	if now == nil {
		now = time.Now
	}
	r := &Ring{realm: realm, alg: alg, overlap: overlap, store: store, now: now}
	if err := r.Reload(ctx); err != nil {
		return nil, err
	}
	if a := r.snap.Load().active; a == nil || string(a.Algorithm) != alg {
		if err := r.Rotate(ctx); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Reload re-reads the keys from storage and rebuilds the caches.
func (r *Ring) Reload(ctx context.Context) error {
	recs, err := r.store.ListSigningKeys(ctx, r.realm)
	if err != nil {
		return fmt.Errorf("load signing keys of realm %q: %w", r.realm, err)
	}
	s := &snapshot{byID: map[string]*Key{}}
	now := r.now()
	var pub jose.JSONWebKeySet
	for _, rec := range recs {
		if rec.State == storage.KeyRetired && !rec.VerifyUntil.After(now) {
			continue
		}
		k, err := parse(rec)
		if err != nil {
			return fmt.Errorf("parse signing key %q of realm %q: %w", rec.ID, r.realm, err)
		}
		if rec.State == storage.KeyActive && s.active == nil {
			s.active = k
		}
		s.byID[k.ID] = k
		s.all = append(s.all, k)
		pub.Keys = append(pub.Keys, jose.JSONWebKey{Key: k.Public, KeyID: k.ID, Algorithm: string(k.Algorithm), Use: "sig"})
		s.algs = appendUnique(s.algs, k.Algorithm)
	}
	if s.jwks, err = json.Marshal(pub); err != nil {
		return fmt.Errorf("encode JWKS of realm %q: %w", r.realm, err)
	}
	r.snap.Store(s)
	return nil
}

// Rotate generates a new active key and retires the current one, which keeps
// verifying for the ring's overlap.
func (r *Ring) Rotate(ctx context.Context) error {
	rec, err := Generate(r.realm, r.alg, r.now())
	if err != nil {
		return err
	}
	if err := r.store.RotateSigningKey(ctx, rec, r.now().Add(r.overlap)); err != nil {
		return fmt.Errorf("rotate signing key of realm %q: %w", r.realm, err)
	}
	return r.Reload(ctx)
}

// Active returns the key new tokens are signed with.
func (r *Ring) Active() *Key { return r.snap.Load().active }

// Lookup returns a verifying key by kid (active or still-valid retired).
func (r *Ring) Lookup(kid string) (*Key, bool) {
	k, ok := r.snap.Load().byID[kid]
	if ok && !k.VerifyUntil.IsZero() && !k.VerifyUntil.After(r.now()) {
		return nil, false
	}
	return k, ok
}

// All returns every key that still verifies, active first.
func (r *Ring) All() []*Key { return r.snap.Load().all }

// JWKSJSON returns the serialized public JWKS; callers must not modify it.
func (r *Ring) JWKSJSON() []byte { return r.snap.Load().jwks }

// Algorithms lists the algorithms of the keys that still verify.
func (r *Ring) Algorithms() []jose.SignatureAlgorithm { return r.snap.Load().algs }

// Generate creates a new active key record for realm.
func Generate(realm, alg string, now time.Time) (storage.SigningKey, error) {
	var priv any
	var err error
	switch alg {
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		return storage.SigningKey{}, fmt.Errorf("unsupported signing algorithm %q", alg)
	}
	if err != nil {
		return storage.SigningKey{}, fmt.Errorf("generate %s key: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return storage.SigningKey{}, fmt.Errorf("encode %s key: %w", alg, err)
	}
	id := make([]byte, 12)
	if _, err := rand.Read(id); err != nil {
		return storage.SigningKey{}, fmt.Errorf("generate key id: %w", err)
	}
	return storage.SigningKey{
		Realm: realm, ID: base64.RawURLEncoding.EncodeToString(id), Algorithm: alg,
		PrivateDER: der, State: storage.KeyActive, CreatedAt: now,
	}, nil
}

func parse(rec storage.SigningKey) (*Key, error) {
	raw, err := x509.ParsePKCS8PrivateKey(rec.PrivateDER)
	if err != nil {
		return nil, err
	}
	signer, ok := raw.(crypto.Signer)
	if !ok {
		return nil, errors.New("key is not a signer")
	}
	alg := jose.SignatureAlgorithm(rec.Algorithm)
	switch raw.(type) {
	case *rsa.PrivateKey:
		if alg != jose.RS256 {
			return nil, fmt.Errorf("RSA key labelled %s", alg)
		}
	case *ecdsa.PrivateKey:
		if alg != jose.ES256 {
			return nil, fmt.Errorf("EC key labelled %s", alg)
		}
	case ed25519.PrivateKey:
		if alg != jose.EdDSA {
			return nil, fmt.Errorf("Ed25519 key labelled %s", alg)
		}
	default:
		return nil, fmt.Errorf("unsupported key type %T", raw)
	}
	k := &Key{ID: rec.ID, Algorithm: alg, Private: signer, Public: signer.Public()}
	if rec.State == storage.KeyRetired {
		k.VerifyUntil = rec.VerifyUntil
	}
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), rec.ID)
	if k.signer, err = jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: signer}, opts); err != nil {
		return nil, fmt.Errorf("build signer: %w", err)
	}
	return k, nil
}

func appendUnique(algs []jose.SignatureAlgorithm, a jose.SignatureAlgorithm) []jose.SignatureAlgorithm {
	for _, x := range algs {
		if x == a {
			return algs
		}
	}
	return append(algs, a)
}
