// Package tokens mints and verifies a realm's JWT access tokens. Every access
// token Latchkey issues — OIDC grants, /user/login, /wf/generate-user-token and
// application links — goes through Service.Mint, so all carry the same
// Keycloak-shaped claims and are accepted by the same Service.Verify.
//
// Access tokens are stateless: issuing one writes nothing. Revocation records
// the token id (jti) until the token expires, and tokens bound to a browser
// session (sid) die with the session.
package tokens

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/latchkey/latchkey/internal/keys"
	"github.com/latchkey/latchkey/storage"
)

// Errors returned by Verify; all mean "not a usable token of this realm".
var (
	ErrMalformed = errors.New("malformed token")
	ErrSignature = errors.New("invalid token signature")
	ErrExpired   = errors.New("token expired")
	ErrIssuer    = errors.New("token issued by another realm")
	ErrRevoked   = errors.New("token revoked")
)

// Audience is the aud claim: a single string on the wire when it has one
// element (as Keycloak does), an array otherwise.
type Audience []string

// MarshalJSON implements json.Marshaler.
func (a Audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

// UnmarshalJSON accepts a string or an array of strings; null (which
// encoding/json hands to UnmarshalJSON too) means no audience.
func (a *Audience) UnmarshalJSON(b []byte) error {
	if string(bytes.TrimSpace(b)) == "null" {
		*a = nil
		return nil
	}
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = Audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*a = many
	return nil
}

// Contains reports whether aud lists s.
func (a Audience) Contains(s string) bool {
	for _, x := range a {
		if x == s {
			return true
		}
	}
	return false
}

// RealmAccess is Keycloak's realm_access claim.
type RealmAccess struct {
	Roles []string `json:"roles"`
}

// Claims are the claims of a Latchkey access token.
type Claims struct {
	Issuer            string       `json:"iss"`
	Subject           string       `json:"sub"`
	Audience          Audience     `json:"aud,omitempty"`
	Expiry            int64        `json:"exp"`
	IssuedAt          int64        `json:"iat"`
	ID                string       `json:"jti"`
	Type              string       `json:"typ"` // "Bearer", as Keycloak
	AuthorizedParty   string       `json:"azp,omitempty"`
	SessionID         string       `json:"sid,omitempty"`
	Scope             string       `json:"scope,omitempty"`
	ClientID          string       `json:"client_id,omitempty"`
	Email             string       `json:"email,omitempty"`
	EmailVerified     *bool        `json:"email_verified,omitempty"`
	PreferredUsername string       `json:"preferred_username,omitempty"`
	RealmAccess       *RealmAccess `json:"realm_access,omitempty"`
	UserID            string       `json:"user_id,omitempty"`
	TokenType         string       `json:"token_type,omitempty"`
}

// Roles returns the realm roles of the token.
func (c *Claims) Roles() []string {
	if c.RealmAccess == nil {
		return nil
	}
	return c.RealmAccess.Roles
}

// HasRole reports whether the token carries the realm role.
func (c *Claims) HasRole(role string) bool {
	for _, r := range c.Roles() {
		if r == role {
			return true
		}
	}
	return false
}

// ExpiresAt returns exp as a time.
func (c *Claims) ExpiresAt() time.Time { return time.Unix(c.Expiry, 0) }

// Scopes splits the scope claim.
func (c *Claims) Scopes() []string { return strings.Fields(c.Scope) }

// Spec describes a token to mint. Zero fields are omitted from the token.
type Spec struct {
	Subject         string
	Audience        []string
	AuthorizedParty string // client id (azp)
	SessionID       string
	Scopes          []string
	Lifespan        time.Duration
	Roles           []string // nil: no realm_access claim
	Email           string
	EmailVerified   *bool
	Username        string
	// UserID and TokenType are the claims of the seed APIs' tokens.
	UserID    string
	TokenType string
	ClientID  string
}

// Service mints and verifies the access tokens of one realm.
type Service struct {
	Issuer string
	Realm  string
	Ring   *keys.Ring
	// Revocations and Sessions back Verify's liveness checks.
	Revocations storage.Revocations
	Sessions    storage.Sessions
	Now         func() time.Time

	// verified caches tokens whose signature, issuer and expiry were checked,
	// so that a service account reusing one bearer token for thousands of
	// calls pays for one signature verification, not one per call.
	// Liveness (revocation, session) is still checked on every call, and so
	// are expiry and whether the signing key still verifies.
	mu       sync.RWMutex
	verified map[string]verifiedToken
}

// verifiedToken is a cache entry: the claims and the kid that signed them.
type verifiedToken struct {
	claims *Claims
	kid    string
}

// verifiedCacheSize bounds the cache; when full, a quarter is dropped.
const verifiedCacheSize = 8192

// NewID returns a random 128-bit token id.
func NewID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

// Mint signs a new access token and returns it with its claims.
func (s *Service) Mint(ctx context.Context, spec Spec) (string, *Claims, error) {
	now := s.Now()
	c := &Claims{
		Issuer: s.Issuer, Subject: spec.Subject, Audience: spec.Audience,
		IssuedAt: now.Unix(), Expiry: now.Add(spec.Lifespan).Unix(), ID: NewID(), Type: "Bearer",
		AuthorizedParty: spec.AuthorizedParty, SessionID: spec.SessionID, Scope: strings.Join(spec.Scopes, " "),
		Email: spec.Email, EmailVerified: spec.EmailVerified, PreferredUsername: spec.Username,
		UserID: spec.UserID, TokenType: spec.TokenType, ClientID: spec.ClientID,
	}
	if spec.Roles != nil {
		c.RealmAccess = &RealmAccess{Roles: spec.Roles}
	}
	raw, err := s.Sign(c)
	if err != nil {
		return "", nil, err
	}
	return raw, c, nil
}

// Sign signs arbitrary claims with the realm's active key.
func (s *Service) Sign(claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encode claims: %w", err)
	}
	key := s.Ring.Active()
	if key == nil {
		return "", fmt.Errorf("realm %q has no active signing key", s.Realm)
	}
	jws, err := key.Signer().Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return jws.CompactSerialize()
}

// Verify checks signature, issuer, expiry, revocation and (for session-bound
// tokens) that the session is still alive, and returns the claims.
func (s *Service) Verify(ctx context.Context, raw string) (*Claims, error) {
	c, err := s.VerifySignature(raw)
	if err != nil {
		return nil, err
	}
	if err := s.CheckLive(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

// VerifySignature checks the signature, issuer and expiry only. The returned
// claims may be shared with other callers and must not be modified.
func (s *Service) VerifySignature(raw string) (*Claims, error) {
	if len(raw) > 16<<10 || strings.Count(raw, ".") != 2 {
		return nil, ErrMalformed
	}
	s.mu.RLock()
	v, ok := s.verified[raw]
	s.mu.RUnlock()
	if ok {
		// A retired key stops verifying after its overlap: so do its tokens.
		if _, live := s.Ring.Lookup(v.kid); !live {
			return nil, ErrSignature
		}
		if !s.Now().Before(time.Unix(v.claims.Expiry, 0)) {
			return nil, ErrExpired
		}
		return v.claims, nil
	}
	c, kid, err := s.verifySignature(raw)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.verified == nil {
		s.verified = make(map[string]verifiedToken)
	}
	if len(s.verified) >= verifiedCacheSize {
		n := 0
		for k := range s.verified { // map order is random: a random quarter goes
			delete(s.verified, k)
			if n++; n >= verifiedCacheSize/4 {
				break
			}
		}
	}
	s.verified[raw] = verifiedToken{claims: c, kid: kid}
	s.mu.Unlock()
	return c, nil
}

// verifySignature does VerifySignature's work without the cache and also
// returns the kid of the key that verified the token.
func (s *Service) verifySignature(raw string) (*Claims, string, error) {
	// Compact only: a JWT access token is never in the JWS JSON serialization,
	// whose unprotected headers we do not want to reason about.
	jws, err := jose.ParseSignedCompact(raw, s.Ring.Algorithms())
	if err != nil || len(jws.Signatures) != 1 {
		return nil, "", ErrMalformed
	}
	key, ok := s.Ring.Lookup(jws.Signatures[0].Header.KeyID)
	if !ok {
		return nil, "", ErrSignature
	}
	if jws.Signatures[0].Header.Algorithm != string(key.Algorithm) {
		return nil, "", ErrSignature
	}
	payload, err := jws.Verify(key.Public)
	if err != nil {
		return nil, "", ErrSignature
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, "", ErrMalformed
	}
	if c.Issuer != s.Issuer {
		return nil, "", ErrIssuer
	}
	if !s.Now().Before(time.Unix(c.Expiry, 0)) {
		return nil, "", ErrExpired
	}
	return &c, key.ID, nil
}

// CheckLive reports ErrRevoked when the token id was revoked or its browser
// session has ended.
func (s *Service) CheckLive(ctx context.Context, c *Claims) error {
	if revoked, err := s.Revocations.IsTokenIDRevoked(ctx, s.Realm, c.ID); err != nil {
		return fmt.Errorf("check revocation: %w", err)
	} else if revoked {
		return ErrRevoked
	}
	if c.SessionID == "" {
		return nil
	}
	sess, err := s.Sessions.GetSession(ctx, s.Realm, c.SessionID)
	if errors.Is(err, storage.ErrNotFound) {
		return ErrRevoked
	}
	if err != nil {
		return fmt.Errorf("check session: %w", err)
	}
	now := s.Now()
	if !now.Before(sess.ExpiresAt) || !now.Before(sess.IdleUntil) {
		return ErrRevoked
	}
	return nil
}

// Revoke records the token id as revoked until exp.
func (s *Service) Revoke(ctx context.Context, jti string, exp time.Time) error {
	if err := s.Revocations.RevokeTokenID(ctx, s.Realm, jti, exp); err != nil {
		return fmt.Errorf("revoke token in realm %q: %w", s.Realm, err)
	}
	return nil
}

// IsInvalid reports whether err means the token is not acceptable (as opposed
// to a server fault while checking it).
func IsInvalid(err error) bool {
	return errors.Is(err, ErrMalformed) || errors.Is(err, ErrSignature) || errors.Is(err, ErrExpired) ||
		errors.Is(err, ErrIssuer) || errors.Is(err, ErrRevoked)
}
