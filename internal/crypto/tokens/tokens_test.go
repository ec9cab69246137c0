package tokens_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/crypto/keys"
	"github.com/latchkey/latchkey/internal/crypto/tokens"
	"github.com/latchkey/latchkey/storage"
)

func TestMintVerifyRoundTrip(t *testing.T) {
	verified := true
	spec := tokens.Spec{
		Subject: "user-1", Audience: []string{"web", "api"}, AuthorizedParty: "web",
		Scopes: []string{"openid", "email"}, Lifespan: 5 * time.Minute, Roles: []string{"link-generator"},
		Email: "a@example.com", EmailVerified: &verified, Username: "alice",
		UserID: "user-1", TokenType: "access", ClientID: "web",
	}
	for _, alg := range []string{keys.RS256, keys.ES256, keys.EdDSA} {
		t.Run(alg, func(t *testing.T) {
			e := newEnv(t, alg)
			raw, minted := e.mint(t, spec)
			got, err := e.svc.Verify(context.Background(), raw)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !reflect.DeepEqual(got, minted) {
				t.Errorf("Verify claims = %+v, want the minted %+v", got, minted)
			}
			want := tokens.Claims{
				Issuer: "https://id.example.com/auth/realms/demo", Subject: "user-1", Audience: tokens.Audience{"web", "api"},
				Expiry: t0.Add(5 * time.Minute).Unix(), IssuedAt: t0.Unix(), ID: minted.ID, Type: "Bearer",
				AuthorizedParty: "web", Scope: "openid email", ClientID: "web", Email: "a@example.com",
				EmailVerified: &verified, PreferredUsername: "alice", RealmAccess: &tokens.RealmAccess{Roles: []string{"link-generator"}},
				UserID: "user-1", TokenType: "access",
			}
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("claims = %+v, want %+v", *got, want)
			}
			var header struct {
				Alg, Kid, Typ string
			}
			h, _, _ := parts(t, raw)
			decodeSegment(t, h, &header)
			if header.Alg != alg || header.Kid != e.ring.Active().ID || header.Typ != "JWT" {
				t.Errorf("header = %+v, want alg %s, kid %s, typ JWT", header, alg, e.ring.Active().ID)
			}
		})
	}
}

// Zero spec fields are left out of the token.
func TestMintOmitsZeroFields(t *testing.T) {
	e := newEnv(t, keys.EdDSA)
	raw, _ := e.mint(t, tokens.Spec{Subject: "s"})
	_, p, _ := parts(t, raw)
	var m map[string]any
	decodeSegment(t, p, &m)
	var names []string
	for k := range m {
		names = append(names, k)
	}
	for _, absent := range []string{"aud", "azp", "sid", "scope", "client_id", "email", "email_verified", "preferred_username", "realm_access", "user_id", "token_type"} {
		if _, ok := m[absent]; ok {
			t.Errorf("claim %q present in %v, want it omitted", absent, names)
		}
	}
	for _, present := range []string{"iss", "sub", "exp", "iat", "jti", "typ"} {
		if _, ok := m[present]; !ok {
			t.Errorf("claim %q missing from %v", present, names)
		}
	}
}

func TestVerifyExpiry(t *testing.T) {
	e := newEnv(t, keys.EdDSA)
	raw, _ := e.mint(t, tokens.Spec{Subject: "s", Lifespan: time.Minute})
	steps := []struct {
		advance time.Duration
		want    error
	}{
		{0, nil},
		{59 * time.Second, nil},
		{time.Second, tokens.ErrExpired}, // exp itself is already too late
		{time.Hour, tokens.ErrExpired},
	}
	for i, st := range steps {
		e.clk.Advance(st.advance)
		_, err := e.svc.Verify(context.Background(), raw)
		if !errors.Is(err, st.want) || (st.want == nil && err != nil) {
			t.Fatalf("step %d (now %s): Verify error = %v, want %v", i, e.clk.Now().Sub(t0), err, st.want)
		}
	}
}

// TestVerifyRejects forges, alters and replays tokens; each must fail with
// the named error, which tokens.IsInvalid must recognise.
func TestVerifyRejects(t *testing.T) {
	e := newEnv(t, keys.RS256)
	ctx := context.Background()
	good, claims := e.mint(t, tokens.Spec{Subject: "user-1", Roles: []string{"user"}})
	other, _ := e.mint(t, tokens.Spec{Subject: "user-2"})
	h, p, sig := parts(t, good)
	_, _, otherSig := parts(t, other)
	kid := e.ring.Active().ID
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	rsaPub, err := x509.MarshalPKIXPublicKey(e.ring.Active().Public)
	if err != nil {
		t.Fatal(err)
	}
	rsaPubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaPub})
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

	// hs256 builds a token whose header claims alg HS256 with our kid, MACed
	// with secret (the classic public-key-as-HMAC-secret confusion).
	hs256 := func(secret []byte) string {
		head := encodeSegment(t, map[string]string{"alg": "HS256", "kid": kid, "typ": "JWT"})
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(head + "." + p))
		return head + "." + p + "." + b64.EncodeToString(m.Sum(nil))
	}
	tamperedClaims := *claims
	tamperedClaims.Subject = "admin"
	tamperedClaims.RealmAccess = &tokens.RealmAccess{Roles: []string{"link-generator"}}
	otherRealm := service("other", e.ring, e.store, e.clk)

	tests := []struct {
		name string
		raw  string
		svc  *tokens.Service
		want error
	}{
		{"empty", "", nil, tokens.ErrMalformed},
		{"one dot", h + "." + p, nil, tokens.ErrMalformed},
		{"three dots", good + ".x", nil, tokens.ErrMalformed},
		{"oversized", h + "." + strings.Repeat("A", 16<<10) + "." + sig, nil, tokens.ErrMalformed},
		{"not base64", h + "." + p + ".!!!", nil, tokens.ErrMalformed},
		{"header not JSON", b64.EncodeToString([]byte("nope")) + "." + p + "." + sig, nil, tokens.ErrMalformed},
		{"JSON serialization", `{"protected":"` + h + `","payload":"` + p + `","signature":"` + sig + `","x":".."}`, nil, tokens.ErrMalformed},
		{"alg none", encodeSegment(t, map[string]string{"alg": "none", "kid": kid}) + "." + p + ".", nil, tokens.ErrMalformed},
		{"alg none with signature", encodeSegment(t, map[string]string{"alg": "none", "kid": kid}) + "." + p + "." + sig, nil, tokens.ErrMalformed},
		{"HS256 keyed with the public key DER", hs256(rsaPub), nil, tokens.ErrMalformed},
		{"HS256 keyed with the public key PEM", hs256(rsaPubPEM), nil, tokens.ErrMalformed},
		{"ES256 not in the ring", signWith(t, jose.ES256, ecKey, kid, payload), nil, tokens.ErrMalformed},
		{"tampered payload", h + "." + encodeSegment(t, tamperedClaims) + "." + sig, nil, tokens.ErrSignature},
		{"payload of another token", h + "." + p[:len(p)-2] + "AA" + "." + sig, nil, tokens.ErrSignature},
		{"signature of another token", h + "." + p + "." + otherSig, nil, tokens.ErrSignature},
		{"truncated signature", h + "." + p + "." + sig[:len(sig)/2], nil, tokens.ErrSignature},
		{"empty signature", h + "." + p + ".", nil, tokens.ErrSignature},
		{"unknown kid", signWith(t, jose.RS256, mustRSA(t), "unknown-kid", payload), nil, tokens.ErrSignature},
		{"no kid", signWith(t, jose.RS256, mustRSA(t), "", payload), nil, tokens.ErrSignature},
		{"our kid, another key", signWith(t, jose.RS256, mustRSA(t), kid, payload), nil, tokens.ErrSignature},
		{"wrong issuer (another realm, same keys)", good, otherRealm, tokens.ErrIssuer},
		{"EdDSA not in the ring", signWith(t, jose.EdDSA, edKey, kid, payload), nil, tokens.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := tt.svc
			if svc == nil {
				svc = e.svc
			}
			c, err := svc.Verify(ctx, tt.raw)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %+v, %v; want %v", c, err, tt.want)
			}
			if !tokens.IsInvalid(err) {
				t.Errorf("IsInvalid(%v) = false, want true", err)
			}
		})
	}
	if _, err := e.svc.Verify(ctx, good); err != nil {
		t.Errorf("the untouched token no longer verifies: %v", err)
	}
}

func mustRSA(t *testing.T) any {
	t.Helper()
	rec, err := keys.Generate("x", keys.RS256, t0)
	if err != nil {
		t.Fatal(err)
	}
	k, err := x509.ParsePKCS8PrivateKey(rec.PrivateDER)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// After the realm's algorithm changes, the ring verifies two algorithms. A
// token whose header names the new algorithm but the old key's kid must not
// be checked against the old key's algorithm or accepted.
func TestVerifyAlgorithmMustMatchKey(t *testing.T) {
	e := newEnv(t, keys.RS256)
	ctx := context.Background()
	oldKid := e.ring.Active().ID
	oldToken, _ := e.mint(t, tokens.Spec{Subject: "s"})
	ring, err := keys.Open(ctx, e.store, "demo", keys.EdDSA, 24*time.Hour, e.clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	svc := service("demo", ring, e.store, e.clk)
	if got := fmt.Sprint(ring.Algorithms()); got != "[EdDSA RS256]" {
		t.Fatalf("Algorithms() = %s, want [EdDSA RS256]", got)
	}
	_, attacker, _ := ed25519.GenerateKey(rand.Reader)
	payload := []byte(`{"iss":"https://id.example.com/auth/realms/demo","sub":"admin","exp":` + fmt.Sprint(t0.Add(time.Hour).Unix()) + `}`)
	tests := []struct {
		name string
		raw  string
		want error // nil = accepted
	}{
		{"old token still verifies", oldToken, nil},
		{"EdDSA header with the RS256 kid", signWith(t, jose.EdDSA, attacker, oldKid, payload), tokens.ErrSignature},
		{"EdDSA header with the EdDSA kid, foreign key", signWith(t, jose.EdDSA, attacker, ring.Active().ID, payload), tokens.ErrSignature},
	}
	for _, tt := range tests {
		_, err := svc.Verify(ctx, tt.raw)
		if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
			t.Errorf("%s: Verify error = %v, want %v", tt.name, err, tt.want)
		}
	}
}

// Payloads that are signed by the realm but are not token claims.
func TestVerifyBadClaims(t *testing.T) {
	e := newEnv(t, keys.EdDSA)
	key := e.ring.Active()
	tests := []struct {
		name, payload string
		want          error
	}{
		{"not JSON", "hello", tokens.ErrMalformed},
		{"exp as a string", `{"iss":"https://id.example.com/auth/realms/demo","exp":"later"}`, tokens.ErrMalformed},
		{"aud as a number", `{"iss":"https://id.example.com/auth/realms/demo","exp":1999999999999,"aud":5}`, tokens.ErrMalformed},
		{"no iss", `{"exp":1999999999999}`, tokens.ErrIssuer},
		{"no exp", `{"iss":"https://id.example.com/auth/realms/demo"}`, tokens.ErrExpired},
	}
	for _, tt := range tests {
		raw := signWith(t, key.Algorithm, key.Private, key.ID, []byte(tt.payload))
		if _, err := e.svc.Verify(context.Background(), raw); !errors.Is(err, tt.want) {
			t.Errorf("%s: Verify error = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestVerifyRevoked(t *testing.T) {
	e := newEnv(t, keys.EdDSA)
	ctx := context.Background()
	raw, c := e.mint(t, tokens.Spec{Subject: "s"})
	keep, _ := e.mint(t, tokens.Spec{Subject: "s"})
	if err := e.svc.Revoke(ctx, c.ID, c.ExpiresAt()); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if _, err := e.svc.Verify(ctx, raw); !errors.Is(err, tokens.ErrRevoked) {
		t.Errorf("Verify(revoked) = %v, want ErrRevoked", err)
	}
	if _, err := e.svc.VerifySignature(raw); err != nil {
		t.Errorf("VerifySignature(revoked) = %v, want nil (revocation is CheckLive's job)", err)
	}
	if _, err := e.svc.Verify(ctx, keep); err != nil {
		t.Errorf("Verify(another token of the subject) = %v, want nil", err)
	}
	// Another realm's revocation list is separate.
	otherSvc := service("other", e.ring, e.store, e.clk)
	if err := otherSvc.Revoke(ctx, "some-jti", c.ExpiresAt()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Verify(ctx, keep); err != nil {
		t.Errorf("Verify after a revocation in another realm = %v, want nil", err)
	}
}

// A token bound to a browser session (sid) dies with the session: deleted,
// idle-expired or past its maximum age.
func TestVerifySessionBound(t *testing.T) {
	tests := []struct {
		name    string
		idle    time.Duration // session IdleUntil - now
		max     time.Duration // session ExpiresAt - now
		act     func(e *env) error
		advance time.Duration
		want    error
	}{
		{"live session", 10 * time.Minute, time.Hour, nil, 9 * time.Minute, nil},
		{"session deleted", 10 * time.Minute, time.Hour, func(e *env) error {
			return e.store.DeleteSession(context.Background(), "demo", "sid-1")
		}, 0, tokens.ErrRevoked},
		{"all sessions of the user deleted", 10 * time.Minute, time.Hour, func(e *env) error {
			return e.store.DeleteUserSessions(context.Background(), "demo", "user-1")
		}, 0, tokens.ErrRevoked},
		{"session idle-expired", 10 * time.Minute, time.Hour, nil, 10 * time.Minute, tokens.ErrRevoked},
		{"session past its maximum", time.Hour, 5 * time.Minute, nil, 5 * time.Minute, tokens.ErrRevoked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, keys.EdDSA)
			ctx := context.Background()
			now := e.clk.Now()
			err := e.store.CreateSession(ctx, storage.Session{
				Realm: "demo", ID: "sid-1", TokenHash: "th", UserID: "user-1", AuthTime: now, LastSeen: now,
				IdleUntil: now.Add(tt.idle), ExpiresAt: now.Add(tt.max), CreatedAt: now,
			})
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := e.mint(t, tokens.Spec{Subject: "user-1", SessionID: "sid-1", Lifespan: 30 * time.Minute})
			free, _ := e.mint(t, tokens.Spec{Subject: "user-1", Lifespan: 30 * time.Minute})
			if tt.act != nil {
				if err := tt.act(e); err != nil {
					t.Fatal(err)
				}
			}
			e.clk.Advance(tt.advance)
			if _, err := e.svc.Verify(ctx, raw); !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("Verify(session-bound) = %v, want %v", err, tt.want)
			}
			if _, err := e.svc.Verify(ctx, free); err != nil {
				t.Errorf("Verify(token without sid) = %v, want nil", err)
			}
		})
	}
}

// Unknown session ids in a validly signed token are revoked too, and a
// closed store is a fault, not an invalid token.
func TestCheckLiveErrors(t *testing.T) {
	e := newEnv(t, keys.EdDSA)
	ctx := context.Background()
	raw, c := e.mint(t, tokens.Spec{Subject: "s", SessionID: "never-existed"})
	if _, err := e.svc.Verify(ctx, raw); !errors.Is(err, tokens.ErrRevoked) {
		t.Errorf("Verify(unknown sid) = %v, want ErrRevoked", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	err := e.svc.CheckLive(cctx, c)
	if err == nil || tokens.IsInvalid(err) {
		t.Errorf("CheckLive(cancelled context) = %v, want a fault that IsInvalid rejects", err)
	}
}

func TestIsInvalid(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{tokens.ErrMalformed, true},
		{tokens.ErrSignature, true},
		{tokens.ErrExpired, true},
		{tokens.ErrIssuer, true},
		{tokens.ErrRevoked, true},
		{fmt.Errorf("wrapped: %w", tokens.ErrRevoked), true},
		{errors.New("storage down"), false},
		{storage.ErrUnavailable, false},
	}
	for _, tt := range tests {
		if got := tokens.IsInvalid(tt.err); got != tt.want {
			t.Errorf("IsInvalid(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// Verify caches checked signatures; the cache must not outlive what the
// uncached check would accept: liveness is checked on every call, expiry is
// re-checked, and a token whose signing key stopped verifying is refused.
func TestVerifyCachedToken(t *testing.T) {
	tests := []struct {
		name string
		// change runs after a first, successful Verify.
		change func(t *testing.T, e *env, c *tokens.Claims)
		want   error
	}{
		{"nothing changed", func(*testing.T, *env, *tokens.Claims) {}, nil},
		{"revoked", func(t *testing.T, e *env, c *tokens.Claims) {
			if err := e.svc.Revoke(context.Background(), c.ID, c.ExpiresAt()); err != nil {
				t.Fatal(err)
			}
		}, tokens.ErrRevoked},
		{"session deleted", func(t *testing.T, e *env, c *tokens.Claims) {
			if err := e.store.DeleteSession(context.Background(), "demo", c.SessionID); err != nil {
				t.Fatal(err)
			}
		}, tokens.ErrRevoked},
		{"expired", func(_ *testing.T, e *env, _ *tokens.Claims) { e.clk.Advance(10 * time.Minute) }, tokens.ErrExpired},
		// The overlap (1m here) is shorter than the token's life: once the
		// retired key stops verifying, so does the token, cached or not.
		{"signing key retired past its overlap", func(t *testing.T, e *env, _ *tokens.Claims) {
			if err := e.ring.Rotate(context.Background()); err != nil {
				t.Fatal(err)
			}
			e.clk.Advance(time.Minute)
		}, tokens.ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, keys.EdDSA)
			ring, err := keys.Open(context.Background(), e.store, "demo", keys.EdDSA, time.Minute, e.clk.Now)
			if err != nil {
				t.Fatal(err)
			}
			e.ring, e.svc = ring, service("demo", ring, e.store, e.clk)
			now := e.clk.Now()
			err = e.store.CreateSession(context.Background(), storage.Session{
				Realm: "demo", ID: "sid-1", TokenHash: "th", UserID: "user-1", AuthTime: now, LastSeen: now,
				IdleUntil: now.Add(time.Hour), ExpiresAt: now.Add(time.Hour), CreatedAt: now,
			})
			if err != nil {
				t.Fatal(err)
			}
			raw, c := e.mint(t, tokens.Spec{Subject: "user-1", SessionID: "sid-1", Lifespan: 5 * time.Minute})
			if _, err := e.svc.Verify(context.Background(), raw); err != nil {
				t.Fatalf("first Verify: %v", err)
			}
			tt.change(t, e, c)
			for i := range 2 {
				_, err := e.svc.Verify(context.Background(), raw)
				if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
					t.Fatalf("Verify #%d after the change = %v, want %v", i+2, err, tt.want)
				}
			}
		})
	}
}

// TestReservedPartiesAreReservedClientIDs keeps config's list of reserved
// client ids in step with the parties tokens are minted for.
func TestReservedPartiesAreReservedClientIDs(t *testing.T) {
	for _, party := range []string{tokens.PartyAPI, tokens.PartyLink} {
		if !slices.Contains(config.ReservedClientIDs, party) {
			t.Errorf("config.ReservedClientIDs lacks %q: a client of that id would pass the token gate's kind check", party)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		typ, azp string
		want     tokens.Kind
	}{
		{"Bearer", "web", tokens.KindAccess},
		{"Bearer", tokens.PartyAPI, tokens.KindAPI},
		{"Bearer", tokens.PartyLink, tokens.KindLink},
		{"Bearer", "", tokens.KindUnknown}, // link tokens minted before kinds existed
		{"ID", "web", tokens.KindID},
		{"", "web", tokens.KindUnknown}, // ID tokens minted before kinds existed
		{"Refresh", "web", tokens.KindUnknown},
		{"bearer", "web", tokens.KindUnknown},
	}
	for _, tt := range tests {
		if got := tokens.Classify(&tokens.Claims{Type: tt.typ, AuthorizedParty: tt.azp}); got != tt.want {
			t.Errorf("Classify(typ %q, azp %q) = %s, want %s", tt.typ, tt.azp, got, tt.want)
		}
	}
}
