package config

import (
	"net"
	"net/netip"
	"strings"
	"time"
)

// Defaults that other packages may want to show or compare against.
const (
	DefaultListen       = "127.0.0.1:8443"
	DefaultStoragePath  = "./data/latchkey.db"
	DefaultMaxBodyBytes = 64 << 10
	DefaultSMTPFrom     = "Latchkey <no-reply@example.com>"
)

// Grant types a client may be given.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantImplicit          = "implicit"
	// GrantPassword is the direct access grant (Resource Owner Password
	// Credentials), off unless a client lists it.
	GrantPassword = "password"
	// GrantDeviceCode is the OAuth 2.0 Device Authorization Grant (RFC 8628),
	// spelled as the token request's grant_type.
	GrantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"
)

// Device flow defaults: Keycloak's "OAuth 2.0 Device Code Lifespan" and
// "OAuth 2.0 Device Polling Interval".
const (
	DefaultDeviceCodeLifespan = 10 * time.Minute
	DefaultDevicePollInterval = 5 * time.Second
)

// Signing algorithms a realm may select.
const (
	AlgRS256 = "RS256"
	AlgES256 = "ES256"
	AlgEdDSA = "EdDSA"
)

func ptr[T any](v T) *T { return &v }

func setDefault[T comparable](field *T, value T) {
	var zero T
	if *field == zero {
		*field = value
	}
}

// ApplyDefaults fills every unset (zero) field with its documented default;
// admins' files rely on these values, so changing one changes every file that
// omits the key. It is idempotent; Load calls it before Validate. Fields where
// zero is meaningful are pointers (enabled flags) or documented exceptions
// (magicLink.resendInterval written as 0 in the file stays 0, "off").
func (c *Config) ApplyDefaults() {
	s := &c.Server
	setDefault(&s.Listen, DefaultListen)
	setDefault(&s.TLS.Mode, TLSSelfSigned)
	setDefault(&s.PublicURL, derivePublicURL(s.Listen, s.TLS.Mode))
	if u := strings.TrimRight(s.PublicURL, "/"); strings.Contains(u, "://") && !strings.HasSuffix(u, ":") {
		s.PublicURL = u
	}
	setDefault(&s.MaxBodyBytes, DefaultMaxBodyBytes)
	setDefault(&c.Storage.Driver, DriverBBolt)
	setDefault(&c.Storage.Path, DefaultStoragePath)
	setDefault(&c.Storage.Postgres.MaxConns, 20)

	m := &c.SMTP
	setDefault(&m.Port, 587)
	setDefault(&m.Security, SMTPStartTLS)
	setDefault(&m.From, DefaultSMTPFrom)
	setDefault(&m.Timeout, 10*time.Second)

	setDefault(&c.Log.Level, "info")
	setDefault(&c.Log.Format, "text")

	if c.DefaultRealm == "" && len(c.Realms) > 0 {
		c.DefaultRealm = c.Realms[0].Name
	}
	for i := range c.Realms {
		c.Realms[i].applyDefaults()
	}
}

func (r *Realm) applyDefaults() {
	setDefault(&r.DisplayName, r.Name)
	if r.Enabled == nil {
		r.Enabled = ptr(true)
	}
	setDefault(&r.SSLRequired, SSLExternal)
	setDefault(&r.SigningAlgorithm, AlgRS256)

	t := &r.Tokens
	setDefault(&t.AccessTokenLifespan, 5*time.Minute)
	setDefault(&t.APITokenLifespan, time.Hour)
	if t.AccessTokenLifespan > 0 { // a broken one is reported once, for accessTokenLifespan
		setDefault(&t.IDTokenLifespan, t.AccessTokenLifespan)
	}
	setDefault(&t.IDTokenLifespan, 5*time.Minute)
	setDefault(&t.RefreshTokenLifespan, 30*time.Minute)
	setDefault(&t.SSOSessionIdle, 30*time.Minute)
	setDefault(&t.OfflineSessionIdle, 30*24*time.Hour)
	setDefault(&t.SSOSessionMax, 10*time.Hour)

	ml := &r.MagicLink
	setDefault(&ml.Lifespan, 15*time.Minute)
	setDefault(&ml.MaxLifespan, 24*time.Hour)
	if ml.ConfirmPage == nil {
		ml.ConfirmPage = ptr(true)
	}
	if !ml.resendIntervalSet {
		setDefault(&ml.ResendInterval, 60*time.Second)
	}
	if ml.RevealUnknownUsers == nil {
		ml.RevealUnknownUsers = ptr(true)
	}

	setDefault(&r.DeviceFlow.Lifespan, DefaultDeviceCodeLifespan)
	setDefault(&r.DeviceFlow.PollInterval, DefaultDevicePollInterval)

	bf := &r.BruteForce
	if bf.Enabled == nil {
		bf.Enabled = ptr(true)
	}
	setDefault(&bf.FailureFactor, 30)
	setDefault(&bf.WaitIncrement, time.Minute)
	setDefault(&bf.MaxWait, 15*time.Minute)
	setDefault(&bf.FailureResetTime, 12*time.Hour)

	if r.RateLimits == (RateLimits{}) {
		r.RateLimits = RateLimits{PerIP: "20/s", PerAccount: "5/m"}
	}
	setDefault(&r.PasswordPolicy.MinLength, 8)

	for i := range r.Clients {
		cl := &r.Clients[i]
		if cl.Public {
			setDefault(&cl.PKCE, PKCERequired)
		} else {
			setDefault(&cl.PKCE, PKCEOptional)
			setDefault(&cl.ClientAuthenticator, ClientAuthSecret)
		}
		if len(cl.GrantTypes) == 0 {
			cl.GrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken}
		}
	}
	for i := range r.Users {
		if r.Users[i].Enabled == nil {
			r.Users[i].Enabled = ptr(true)
		}
	}
	for i := range r.Sites {
		st := &r.Sites[i]
		if st.ExtraParams == nil { // an explicit empty list means "no extra params"
			st.ExtraParams = []string{"licencePlate", "vin"}
		}
		setDefault(&st.TokenLifespan, 24*time.Hour)
	}
	for i := range r.Workflows {
		w := &r.Workflows[i]
		setDefault(&w.MaxAttempts, 10)
		setDefault(&w.InitialBackoff, time.Second)
		setDefault(&w.Timeout, 10*time.Second)
	}
	setDefault(&r.LinkAPI.MaxEmails, 1000)

	// A retired key must verify every token it signed until the last expires.
	longest := max(t.AccessTokenLifespan, t.APITokenLifespan, t.IDTokenLifespan, t.RefreshTokenLifespan)
	for _, st := range r.Sites {
		longest = max(longest, st.TokenLifespan)
	}
	setDefault(&t.KeyRotationOverlap, max(24*time.Hour, longest))
}

// derivePublicURL is the URL a browser on this machine would use for listen:
// https unless TLS is off, "localhost" for loopback and wildcard addresses,
// no port when it is the scheme's default. It returns "" when listen is not
// host:port (Validate reports that).
func derivePublicURL(listen, tlsMode string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return ""
	}
	scheme, defPort := "https", "443"
	if tlsMode == TLSOff {
		scheme, defPort = "http", "80"
	}
	if ip, err := netip.ParseAddr(host); host == "" || (err == nil && (ip.IsLoopback() || ip.IsUnspecified())) {
		host = "localhost"
	}
	if port == defPort {
		if strings.Contains(host, ":") {
			return scheme + "://[" + host + "]"
		}
		return scheme + "://" + host
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// Realm returns the realm called name, or nil when there is none.
func (c *Config) Realm(name string) *Realm {
	for i := range c.Realms {
		if c.Realms[i].Name == name {
			return &c.Realms[i]
		}
	}
	return nil
}

// RealmSMTP returns the mail server for the realm called name: the global smtp
// block with every field the realm's smtp override sets replacing the global
// one. An unknown realm or an empty override gives the global block.
//
// When the override names a different host, the global username and password
// are not carried over: credentials meant for one server are never sent to
// another.
func (c *Config) RealmSMTP(name string) SMTP {
	out := c.SMTP
	r := c.Realm(name)
	if r == nil || r.SMTP.IsZero() {
		return out
	}
	o := r.SMTP
	if o.Host != "" && o.Host != out.Host {
		out.Username, out.Password = "", ""
	}
	overrideStr := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	overrideStr(&out.Host, o.Host)
	overrideStr(&out.From, o.From)
	overrideStr(&out.Username, o.Username)
	overrideStr(&out.Password, o.Password)
	overrideStr(&out.Security, o.Security)
	if o.Port != 0 {
		out.Port = o.Port
	}
	if o.Timeout != 0 {
		out.Timeout = o.Timeout
	}
	return out
}
