package config

import "time"

// Config is the whole configuration file. Field names map to the
// camelCase keys admins write; renaming a key breaks their files.
type Config struct {
	Server       Server  `mapstructure:"server"`
	Storage      Storage `mapstructure:"storage"`
	DefaultRealm string  `mapstructure:"defaultRealm"`
	SMTP         SMTP    `mapstructure:"smtp"`
	Realms       []Realm `mapstructure:"realms"`
	Log          Log     `mapstructure:"log"`
}

// Server holds listener, TLS and proxy settings.
type Server struct {
	Listen         string   `mapstructure:"listen"`
	PublicURL      string   `mapstructure:"publicURL"`
	TLS            TLS      `mapstructure:"tls"`
	TrustedProxies []string `mapstructure:"trustedProxies"`
	// MaxBodyBytes caps every request body (default 64 KiB).
	MaxBodyBytes int64 `mapstructure:"maxBodyBytes"`
}

// TLS modes.
const (
	TLSSelfSigned = "self-signed"
	TLSFiles      = "files"
	TLSOff        = "off"
)

// TLS selects how the listener serves TLS.
type TLS struct {
	Mode     string `mapstructure:"mode"`
	CertFile string `mapstructure:"certFile"`
	KeyFile  string `mapstructure:"keyFile"`
}

// Storage selects the backend: the embedded bbolt file (one process, no
// setup) or PostgreSQL (any number of replicas on one database).
type Storage struct {
	Driver   string   `mapstructure:"driver"` // bbolt (default) | postgres
	Path     string   `mapstructure:"path"`   // the bbolt file
	Postgres Postgres `mapstructure:"postgres"`
}

// Storage drivers.
const (
	DriverBBolt    = "bbolt"
	DriverPostgres = "postgres"
)

// Postgres connects to the PostgreSQL database of storage.driver postgres.
type Postgres struct {
	// DSN is a libpq connection string or URL; keep its password in the
	// environment (${LATCHKEY_PG_DSN}).
	DSN string `mapstructure:"dsn"`
	// MaxConns caps this replica's connections (default 20).
	MaxConns int `mapstructure:"maxConns"`
}

// Log sets the log level and format.
type Log struct {
	Level  string `mapstructure:"level"`  // debug | info | warn | error (default info)
	Format string `mapstructure:"format"` // text | json (default text)
}

// SMTP is an outgoing mail server. An empty Host means "write mail to the log".
type SMTP struct {
	Host     string `mapstructure:"host"`
	Port     int    `mapstructure:"port"`
	From     string `mapstructure:"from"`
	Username string `mapstructure:"username"`
	Password string `mapstructure:"password"`
	Security string `mapstructure:"security"` // starttls | tls | none
	// Timeout bounds one send (default 10s).
	Timeout time.Duration `mapstructure:"timeout"`
}

// IsZero reports whether no SMTP key was set (used for per-realm overrides).
func (s SMTP) IsZero() bool { return s == SMTP{} }

// SMTP security modes.
const (
	SMTPStartTLS = "starttls"
	SMTPTLS      = "tls"
	SMTPNone     = "none"
)

// Realm is one tenant.
type Realm struct {
	Name             string          `mapstructure:"name"`
	DisplayName      string          `mapstructure:"displayName"`
	Enabled          *bool           `mapstructure:"enabled"` // default true
	SSLRequired      string          `mapstructure:"sslRequired"`
	SigningAlgorithm string          `mapstructure:"signingAlgorithm"`
	Tokens           Tokens          `mapstructure:"tokens"`
	MagicLink        MagicLink       `mapstructure:"magicLink"`
	DeviceFlow       DeviceFlow      `mapstructure:"deviceFlow"`
	BruteForce       BruteForce      `mapstructure:"bruteForce"`
	RateLimits       RateLimits      `mapstructure:"rateLimits"`
	PasswordPolicy   PasswordPolicy  `mapstructure:"passwordPolicy"`
	SMTP             SMTP            `mapstructure:"smtp"`
	MailTemplates    MailTemplates   `mapstructure:"mailTemplates"`
	Clients          []Client        `mapstructure:"clients"`
	Users            []User          `mapstructure:"users"`
	Sites            []Site          `mapstructure:"sites"`
	Workflows        []Workflow      `mapstructure:"workflows"`
	LinkAPI          LinkAPISettings `mapstructure:"linkAPI"`
}

// IsEnabled reports the realm's enabled flag (default true).
func (r Realm) IsEnabled() bool { return r.Enabled == nil || *r.Enabled }

// sslRequired values (Keycloak semantics).
const (
	SSLAll      = "all"
	SSLExternal = "external"
	SSLNone     = "none"
)

// Tokens sets token and session lifetimes.
type Tokens struct {
	AccessTokenLifespan  time.Duration `mapstructure:"accessTokenLifespan"`
	APITokenLifespan     time.Duration `mapstructure:"apiTokenLifespan"`
	IDTokenLifespan      time.Duration `mapstructure:"idTokenLifespan"` // default = accessTokenLifespan
	RefreshTokenLifespan time.Duration `mapstructure:"refreshTokenLifespan"`
	SSOSessionIdle       time.Duration `mapstructure:"ssoSessionIdle"`
	SSOSessionMax        time.Duration `mapstructure:"ssoSessionMax"`
	// OfflineSessionIdle is how long an offline token (scope offline_access)
	// lives unused; each use starts it again (Keycloak's "Offline Session Idle").
	OfflineSessionIdle time.Duration `mapstructure:"offlineSessionIdle"`
	// KeyRotationOverlap is how long a retired signing key still verifies
	// (default: the longest token lifespan of the realm, at least 24h).
	KeyRotationOverlap time.Duration `mapstructure:"keyRotationOverlap"`
}

// MagicLink configures the magic-link API.
type MagicLink struct {
	Lifespan           time.Duration `mapstructure:"lifespan"`
	MaxLifespan        time.Duration `mapstructure:"maxLifespan"`
	ConfirmPage        *bool         `mapstructure:"confirmPage"`        // default true
	ResendInterval     time.Duration `mapstructure:"resendInterval"`     // 0 = off
	RevealUnknownUsers *bool         `mapstructure:"revealUnknownUsers"` // default true

	// resendIntervalSet records that the file wrote resendInterval explicitly,
	// so that an explicit 0 ("off") survives ApplyDefaults.
	resendIntervalSet bool
}

// DeviceFlow tunes the OAuth 2.0 Device Authorization Grant (RFC 8628) of
// the realm's clients that list it in grantTypes.
type DeviceFlow struct {
	// Lifespan is how long a device code and its user code stay usable
	// (Keycloak's "OAuth 2.0 Device Code Lifespan", default 10m).
	Lifespan time.Duration `mapstructure:"lifespan"`
	// PollInterval is the minimum time between two polls of the token
	// endpoint, in whole seconds (Keycloak's "OAuth 2.0 Device Polling
	// Interval", default 5s); each slow_down adds 5 s for that grant.
	PollInterval time.Duration `mapstructure:"pollInterval"`
}

// BruteForce is Keycloak's brute-force detector model.
type BruteForce struct {
	Enabled       *bool         `mapstructure:"enabled"` // default true
	FailureFactor int           `mapstructure:"failureFactor"`
	WaitIncrement time.Duration `mapstructure:"waitIncrement"`
	MaxWait       time.Duration `mapstructure:"maxWait"`
	// FailureResetTime forgets failures older than this (Keycloak's "failure reset time", default 12h).
	FailureResetTime time.Duration `mapstructure:"failureResetTime"`
}

// RateLimits are "N/unit" strings, unit one of s, m, h (e.g. "20/s", "5/m").
// An empty string or "off" disables that limit. A block with both limits empty
// gets the defaults, so write "off" to turn both off.
type RateLimits struct {
	PerIP      string `mapstructure:"perIP"`
	PerAccount string `mapstructure:"perAccount"`
}

// PasswordPolicy constrains new passwords.
type PasswordPolicy struct {
	MinLength int `mapstructure:"minLength"`
}

// MailTemplates overrides the magic-link mail per realm; empty fields keep the
// built-in text. Templates are Go text/template (HTML: html/template) sources
// with fields .RealmName, .Link, .Email, .Lifetime.
type MailTemplates struct {
	MagicLinkSubject string `mapstructure:"magicLinkSubject"`
	MagicLinkText    string `mapstructure:"magicLinkText"`
	MagicLinkHTML    string `mapstructure:"magicLinkHTML"`
	AppLinkSubject   string `mapstructure:"appLinkSubject"`
	AppLinkText      string `mapstructure:"appLinkText"`
	AppLinkHTML      string `mapstructure:"appLinkHTML"`
}

// PKCE policies.
const (
	PKCERequired = "required"
	PKCEOptional = "optional"
)

// Client is an OIDC client of a realm.
type Client struct {
	ClientID               string   `mapstructure:"clientId"`
	Name                   string   `mapstructure:"name"`
	Public                 bool     `mapstructure:"public"`
	Secret                 string   `mapstructure:"secret"`
	SecretHash             string   `mapstructure:"secretHash"`
	RedirectURIs           []string `mapstructure:"redirectUris"`
	PostLogoutRedirectURIs []string `mapstructure:"postLogoutRedirectUris"`
	WebOrigins             []string `mapstructure:"webOrigins"`
	GrantTypes             []string `mapstructure:"grantTypes"`
	PKCE                   string   `mapstructure:"pkce"`
	ServiceAccountRoles    []string `mapstructure:"serviceAccountRoles"`
	// WildcardRedirects allows Keycloak's trailing "*" in RedirectURIs.
	WildcardRedirects bool `mapstructure:"wildcardRedirects"`
	// ClientAuthenticator is how a confidential client authenticates at the
	// token, introspection and revocation endpoints, by Keycloak's names:
	// client-secret (the default: client_secret_basic or client_secret_post),
	// client-jwt (private_key_jwt: a JWT signed with a key of JWKS or
	// JWKSURI) or client-secret-jwt (client_secret_jwt: a JWT signed with
	// HMAC keyed by Secret). As in Keycloak, a client has exactly one method.
	ClientAuthenticator string `mapstructure:"clientAuthenticator"`
	// JWKS is a client-jwt client's JWK Set inline ({keys: [...]}), public
	// keys only.
	JWKS map[string]any `mapstructure:"jwks"`
	// JWKSURI is where a client-jwt client publishes its JWK Set: https, or
	// http on a loopback host.
	JWKSURI string `mapstructure:"jwksUri"`
	// BackchannelLogoutURI receives a logout token (OIDC Back-Channel
	// Logout 1.0) whenever a session the client took part in ends.
	BackchannelLogoutURI string `mapstructure:"backchannelLogoutUri"`
}

// Client authenticators (Keycloak's names).
const (
	ClientAuthSecret    = "client-secret"
	ClientAuthJWT       = "client-jwt"
	ClientAuthSecretJWT = "client-secret-jwt"
)

// User is a seed user, created at start when absent and never overwritten.
type User struct {
	Email         string   `mapstructure:"email"`
	Username      string   `mapstructure:"username"`
	Password      string   `mapstructure:"password"`
	PasswordHash  string   `mapstructure:"passwordHash"`
	Roles         []string `mapstructure:"roles"`
	Enabled       *bool    `mapstructure:"enabled"` // default true
	EmailVerified bool     `mapstructure:"emailVerified"`
}

// IsEnabled reports the user's enabled flag (default true).
func (u User) IsEnabled() bool { return u.Enabled == nil || *u.Enabled }

// Site is a target application of the generate-link API.
type Site struct {
	Name           string        `mapstructure:"name"`
	AppURL         string        `mapstructure:"appURL"`
	UsernameSuffix string        `mapstructure:"usernameSuffix"`
	ExtraParams    []string      `mapstructure:"extraParams"` // nil: [licencePlate, vin]
	TokenLifespan  time.Duration `mapstructure:"tokenLifespan"`
}

// Workflow is a named webhook the generate-link API can trigger.
type Workflow struct {
	Name           string        `mapstructure:"name"`
	Webhook        string        `mapstructure:"webhook"`
	Secret         string        `mapstructure:"secret"`
	MaxAttempts    int           `mapstructure:"maxAttempts"`
	InitialBackoff time.Duration `mapstructure:"initialBackoff"`
	Timeout        time.Duration `mapstructure:"timeout"`
}

// LinkAPISettings tunes the generate-link API.
type LinkAPISettings struct {
	MaxEmails int `mapstructure:"maxEmails"` // default 1000
}
