// Package realm is Latchkey's runtime model of a tenant: its settings, clients,
// sites, workflows, signing keys and token service, plus the domain operations
// on its users (users.go: creation, password changes; authenticate.go:
// authentication with Keycloak's brute-force lockout) and the token gate
// (gate.go: Gate, the one place where a bearer token is judged). It also spells
// a realm's URL prefixes (LegacyPrefix, Prefix, SplitPath) for every package
// that routes by realm.
//
// The Registry builds realms from the config once at start; config structs
// stop here, every other package works with realm types.
package realm

import (
	"context"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/crypto/keys"
	"github.com/latchkey/latchkey/internal/crypto/tokens"
	"github.com/latchkey/latchkey/storage"
)

// Well-known realm roles.
const (
	RoleMagicLinkSender = "magic-link-sender"
	RoleLinkGenerator   = "link-generator"
)

// SSLRequired values, Keycloak's semantics.
const (
	SSLAll      = "all"
	SSLExternal = "external"
	SSLNone     = "none"
)

// Lifetimes are a realm's token and session lifetimes.
type Lifetimes struct {
	AccessToken  time.Duration
	APIToken     time.Duration
	IDToken      time.Duration
	RefreshToken time.Duration
	SSOIdle      time.Duration
	SSOMax       time.Duration
	// OfflineIdle is how long an offline token lives unused.
	OfflineIdle time.Duration
}

// MagicLinkPolicy configures magic links.
type MagicLinkPolicy struct {
	Lifespan           time.Duration
	MaxLifespan        time.Duration
	ConfirmPage        bool
	ResendInterval     time.Duration
	RevealUnknownUsers bool
}

// DeviceFlowPolicy configures the device authorization grant (RFC 8628).
type DeviceFlowPolicy struct {
	// Lifespan is how long a device code and its user code stay usable.
	Lifespan time.Duration
	// PollInterval is the initial minimum time between two polls.
	PollInterval time.Duration
}

// BruteForcePolicy is Keycloak's brute-force detector configuration.
type BruteForcePolicy struct {
	Enabled          bool
	FailureFactor    int
	WaitIncrement    time.Duration
	MaxWait          time.Duration
	FailureResetTime time.Duration
}

// Rate is "N events per period"; N == 0 means unlimited.
type Rate struct {
	N   int
	Per time.Duration
}

// RateLimits are the realm's per-IP and per-account limits.
type RateLimits struct {
	PerIP      Rate
	PerAccount Rate
}

// SMTP is the realm's effective outgoing mail server; empty Host = log only.
type SMTP struct {
	Host     string
	Port     int
	From     string
	Username string
	Password string
	Security string // starttls | tls | none
	Timeout  time.Duration
}

// MailTemplates are the realm's overrides of the built-in mail texts; empty
// fields keep the defaults.
type MailTemplates struct {
	MagicLinkSubject, MagicLinkText, MagicLinkHTML string
	AppLinkSubject, AppLinkText, AppLinkHTML       string
}

// Site is a target application of the generate-link API.
type Site struct {
	Name           string
	AppURL         string
	UsernameSuffix string
	ExtraParams    []string
	TokenLifespan  time.Duration
}

// Workflow is a named webhook of the generate-link API.
type Workflow struct {
	Name           string
	Webhook        string
	Secret         string
	MaxAttempts    int
	InitialBackoff time.Duration
	Timeout        time.Duration
}

// Realm is one tenant at runtime. Its fields are read-only after Build.
type Realm struct {
	Name        string
	DisplayName string
	Enabled     bool
	// Issuer is {publicURL}/auth/realms/{name}: the canonical issuer (Keycloak
	// ≤16's form, the one emailed links use). AltIssuer is Keycloak 17+'s
	// {publicURL}/realms/{name}. Each request is answered with the issuer of
	// the prefix it came through (IssuerForPath); tokens of both are accepted.
	Issuer         string
	AltIssuer      string
	SSLRequired    string
	Lifetimes      Lifetimes
	MagicLink      MagicLinkPolicy
	DeviceFlow     DeviceFlowPolicy
	BruteForce     BruteForcePolicy
	RateLimits     RateLimits
	MinPasswordLen int
	SMTP           SMTP
	MailTemplates  MailTemplates
	MaxLinkEmails  int

	clients     map[string]*Client
	clientOrder []string
	sites       map[string]*Site
	workflows   map[string]*Workflow

	// IPLimiter and AccountLimiter enforce rateLimits.perIP and
	// rateLimits.perAccount for every password and link-sending entry point
	// of the realm (nil: unlimited).
	IPLimiter      *Limiter
	AccountLimiter *Limiter
	// ResendSlots enforce magicLink.resendInterval per user and client.
	ResendSlots *Slots

	// Keys signs the realm's tokens; Tokens mints and verifies access tokens.
	Keys   *keys.Ring
	Tokens *tokens.Service
	// Store is the realm's persistence (shared by all realms, keys are realm-scoped).
	Store storage.Store
	// Now is the clock; tests move it.
	Now func() time.Time
}

// URL prefixes of a realm: LegacyPrefix+name is Keycloak ≤16's form (and
// the one the credential APIs' documents use), Prefix+name Keycloak 17+'s.
// Every path of a realm is spelled from these.
const (
	LegacyPrefix = "/auth/realms/"
	Prefix       = "/realms/"
)

// RoutePrefixes are the two prefixes as router patterns, with the realm's
// name in the {realm} variable.
var RoutePrefixes = []string{LegacyPrefix + "{realm}", Prefix + "{realm}"}

// SplitPath splits a request path under either prefix into the realm's name
// and the rest (which starts with "/"); ok is false for other paths.
func SplitPath(path string) (name, rest string, ok bool) {
	for _, prefix := range []string{LegacyPrefix, Prefix} {
		if after, found := strings.CutPrefix(path, prefix); found {
			i := strings.IndexByte(after, '/')
			if i <= 0 {
				return "", "", false
			}
			return after[:i], after[i:], true
		}
	}
	return "", "", false
}

// IssuerForPath returns the issuer of the prefix a request path came
// through: AltIssuer under /realms/, the canonical Issuer otherwise (the
// /auth/realms/ prefix and the root aliases of the credential APIs).
func (r *Realm) IssuerForPath(path string) string {
	if strings.HasPrefix(path, Prefix) {
		return r.AltIssuer
	}
	return r.Issuer
}

// AccountKey is the per-account rate limit's key of a login in this realm,
// shared by every password entry point (the JSON APIs, the login page): the
// account's id when the login names one (by email or username, so that both
// spellings spend one budget), the case-folded login otherwise.
func (r *Realm) AccountKey(ctx context.Context, login string) string {
	if u, err := r.FindUser(ctx, login); err == nil {
		return r.Name + "\x00user\x00" + u.ID
	}
	return r.Name + "\x00" + strings.ToLower(strings.TrimSpace(login))
}

// Client returns the realm's client by id.
func (r *Realm) Client(id string) (*Client, bool) {
	c, ok := r.clients[id]
	return c, ok
}

// Clients returns the realm's clients in config order.
func (r *Realm) Clients() []*Client {
	out := make([]*Client, 0, len(r.clientOrder))
	for _, id := range r.clientOrder {
		out = append(out, r.clients[id])
	}
	return out
}

// Site returns the configured site by name.
func (r *Realm) Site(name string) (*Site, bool) {
	s, ok := r.sites[name]
	return s, ok
}

// Workflow returns the configured workflow by name.
func (r *Realm) Workflow(name string) (*Workflow, bool) {
	w, ok := r.workflows[name]
	return w, ok
}
