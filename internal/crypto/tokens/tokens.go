// Package tokens mints and verifies a realm's JWT bearer tokens. Every bearer
// token Latchkey issues — OIDC grants, /user/login, /wf/generate-user-token and
// application links — goes through Service.Mint, so all carry the same
// Keycloak-shaped claims, and each says what it is (Kind): the typ claim tells
// bearer tokens from ID tokens, and the azp claim tells an OIDC client's access
// token from an API token or a link token. Service.Verify checks signature,
// issuer and expiry; deciding which kinds an endpoint accepts is the realm's
// token gate (realm.Realm.Gate), built on Classify.
//
// Access tokens are stateless: issuing one writes nothing. Revocation records
// the token id (jti), or the grant id (gid) of a whole grant, until the token
// expires, and tokens bound to a browser session (sid) die with the session.
package tokens

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/latchkey/latchkey/internal/crypto/keys"
	"github.com/latchkey/latchkey/storage"
)

// Errors returned by Verify; all mean "not a usable token of this realm".
var (
	ErrMalformed = errors.New("malformed token")
	ErrSignature = errors.New("invalid token signature")
	ErrExpired   = errors.New("token expired")
	ErrIssuer    = errors.New("token issued by another realm")
	ErrRevoked   = errors.New("token revoked")
	// ErrWrongKind means the token is valid but not of a kind the endpoint
	// accepts (an ID token or a link token presented as a bearer credential).
	ErrWrongKind = errors.New("token kind not accepted here")
	// ErrSubject means the token's user or service account no longer exists
	// or is disabled.
	ErrSubject = errors.New("token subject disabled or deleted")
)

// RealmManagementClient is Keycloak's client whose roles authorize the
// Admin REST API; RealmManagementRoles are the ones Latchkey knows. A user or
// service account holds them as realm roles.
const RealmManagementClient = "realm-management"

// RealmManagementRoles are Keycloak's realm-management roles.
var RealmManagementRoles = []string{"view-users", "manage-users", "view-realm", "manage-realm", "view-clients", "realm-admin"}

// Values of the typ claim, Keycloak's.
const (
	TypeBearer = "Bearer"
	TypeID     = "ID"
)

// Authorized parties (azp) of tokens that are not issued to a configured
// client. Config validation reserves these names as client ids.
const (
	// PartyAPI is the azp of /user/login's and /wf/generate-user-token's tokens.
	PartyAPI = "latchkey-api"
	// PartyLink is the azp of the application-link API's link tokens.
	PartyLink = "latchkey-link"
)

// Kind is what a token is good for (see Classify).
type Kind uint8

// Token kinds. They are bits so that an endpoint can accept a set of them.
const (
	// KindAccess is an OIDC client's access token (azp: a client of the realm).
	KindAccess Kind = 1 << iota
	// KindAPI is a password credential API's token (azp: PartyAPI).
	KindAPI
	// KindLink is an application link's token (azp: PartyLink, aud: the site).
	KindLink
	// KindID is an ID token (typ: ID); it is a hint, never a credential.
	KindID
	// KindUnknown is any other signed token of the realm: refused everywhere.
	KindUnknown
)

// Bearer is the set of kinds that carry authority over the realm's APIs.
const Bearer = KindAccess | KindAPI

// String names the kind for logs and test output.
func (k Kind) String() string {
	switch k {
	case KindAccess:
		return "access"
	case KindAPI:
		return "api"
	case KindLink:
		return "link"
	case KindID:
		return "id"
	}
	return "unknown"
}

// Classify tells the kind of a verified token from its typ and azp claims.
// It does not know the realm's clients: the gate checks that a KindAccess
// token's azp names one.
func Classify(c *Claims) Kind {
	switch c.Type {
	case TypeID:
		return KindID
	case TypeBearer:
	default:
		return KindUnknown
	}
	switch c.AuthorizedParty {
	case "":
		return KindUnknown
	case PartyAPI:
		return KindAPI
	case PartyLink:
		return KindLink
	}
	return KindAccess
}

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
	// ResourceAccess carries Keycloak's client roles; Latchkey emits the
	// realm-management roles a token's realm roles include, where Keycloak's
	// admin tooling looks for them.
	ResourceAccess map[string]*RealmAccess `json:"resource_access,omitempty"`
	UserID         string                  `json:"user_id,omitempty"`
	TokenType      string                  `json:"token_type,omitempty"`
	// GrantID ties an access token to the grant (code exchange and its
	// refresh tokens) it came from, so that revoking the grant — a replayed
	// code, a revoked refresh token — ends it too.
	GrantID string `json:"gid,omitempty"`
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
	// Issuer is the iss claim; empty means the service's canonical issuer.
	// A realm has one issuer per URL prefix (see Service.Issuers).
	Issuer          string
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
	// UserID and TokenType are the user_id and token_type claims that the
	// credential and application-link APIs' existing clients read.
	UserID    string
	TokenType string
	ClientID  string
	GrantID   string
}

// Service mints and verifies the access tokens of one realm.
type Service struct {
	// Issuer is the canonical issuer, used when a Spec names none.
	Issuer string
	// Issuers are every issuer of the realm (one per URL prefix); tokens of
	// any of them are accepted. Empty means Issuer alone.
	Issuers []string
	Realm   string
	Ring    *keys.Ring
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
	iss := spec.Issuer
	if iss == "" {
		iss = s.Issuer
	}
	c := &Claims{
		Issuer: iss, Subject: spec.Subject, Audience: spec.Audience,
		IssuedAt: now.Unix(), Expiry: now.Add(spec.Lifespan).Unix(), ID: NewID(), Type: "Bearer",
		AuthorizedParty: spec.AuthorizedParty, SessionID: spec.SessionID, Scope: strings.Join(spec.Scopes, " "),
		Email: spec.Email, EmailVerified: spec.EmailVerified, PreferredUsername: spec.Username,
		UserID: spec.UserID, TokenType: spec.TokenType, ClientID: spec.ClientID, GrantID: spec.GrantID,
	}
	if spec.Roles != nil {
		c.RealmAccess = &RealmAccess{Roles: spec.Roles}
		var mgmt []string
		for _, r := range spec.Roles {
			if slices.Contains(RealmManagementRoles, r) {
				mgmt = append(mgmt, r)
			}
		}
		if len(mgmt) > 0 {
			c.ResourceAccess = map[string]*RealmAccess{RealmManagementClient: {Roles: mgmt}}
		}
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
	c, kid, err := s.parse(raw)
	if err != nil {
		return nil, "", err
	}
	if !s.Now().Before(time.Unix(c.Expiry, 0)) {
		return nil, "", ErrExpired
	}
	return c, kid, nil
}

// parse checks the signature and the issuer, not the expiry.
func (s *Service) parse(raw string) (*Claims, string, error) {
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
	if !s.IsIssuer(c.Issuer) {
		return nil, "", ErrIssuer
	}
	return &c, key.ID, nil
}

// IsIssuer reports whether iss is one of the realm's issuers.
func (s *Service) IsIssuer(iss string) bool {
	if len(s.Issuers) == 0 {
		return iss == s.Issuer
	}
	return slices.Contains(s.Issuers, iss)
}

// ParseHint verifies a token's signature and issuer but not its expiry, for
// hints (id_token_hint): an expired hint still names its user and session,
// but the caller must never treat it as an authorization. expired reports
// whether it has expired.
func (s *Service) ParseHint(raw string) (c *Claims, expired bool, err error) {
	if len(raw) > 16<<10 || strings.Count(raw, ".") != 2 {
		return nil, false, ErrMalformed
	}
	c, _, err = s.parse(raw)
	if err != nil {
		return nil, false, err
	}
	return c, !s.Now().Before(time.Unix(c.Expiry, 0)), nil
}

// GrantRevocationID is the revocation record of a whole grant: revoking it
// ends every token carrying the grant id.
func GrantRevocationID(gid string) string { return "grant:" + gid }

// CheckLive reports ErrRevoked when the token id was revoked or its browser
// session has ended.
func (s *Service) CheckLive(ctx context.Context, c *Claims) error {
	if revoked, err := s.Revocations.IsTokenIDRevoked(ctx, s.Realm, c.ID); err != nil {
		return fmt.Errorf("check revocation: %w", err)
	} else if revoked {
		return ErrRevoked
	}
	if c.GrantID != "" {
		if revoked, err := s.Revocations.IsTokenIDRevoked(ctx, s.Realm, GrantRevocationID(c.GrantID)); err != nil {
			return fmt.Errorf("check grant revocation: %w", err)
		} else if revoked {
			return ErrRevoked
		}
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
		errors.Is(err, ErrIssuer) || errors.Is(err, ErrRevoked) || errors.Is(err, ErrWrongKind) ||
		errors.Is(err, ErrSubject)
}
