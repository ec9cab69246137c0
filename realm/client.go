package realm

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/crypto/password"
)

// Grant types a client can be allowed.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantImplicit          = "implicit"
	GrantPassword          = "password"
	// GrantDeviceCode is the OAuth 2.0 Device Authorization Grant (RFC 8628).
	GrantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"
)

// Client is an OIDC client of a realm.
type Client struct {
	ID                     string
	Name                   string
	Public                 bool
	RedirectURIs           []string // exact URIs
	RedirectPrefixes       []string // from Keycloak-style trailing "*" entries
	PostLogoutRedirectURIs []string
	WebOrigins             []string
	PKCERequired           bool
	ServiceAccountRoles    []string
	// BackchannelLogoutURI receives logout tokens; empty: not told.
	BackchannelLogoutURI string
	grants               map[string]bool

	// Authenticator is how a confidential client proves itself at the token,
	// introspection and revocation endpoints: ClientAuthSecret,
	// ClientAuthJWT or ClientAuthSecretJWT; "" for a public client. The
	// methods are exclusive: CheckSecret fails for a JWT client.
	Authenticator string
	// JWKS are the public keys of a ClientAuthJWT client given inline in the
	// config; JWKSURI is where such a client publishes them instead (the
	// oidc package fetches and caches that set).
	JWKS    []jose.JSONWebKey
	JWKSURI string
	// hmacKey is the plain secret of a ClientAuthSecretJWT client, the HMAC
	// key of its assertions (a hash cannot serve there).
	hmacKey []byte

	// secretSHA is the SHA-256 of a plain config secret; secretPHC an argon2id
	// hash from secretHash. verified caches digests of secrets that matched the
	// PHC hash so that argon2id runs once per secret, not once per token request.
	secretSHA []byte
	secretPHC string
	verified  sync.Map // [32]byte -> struct{}
}

// AllowsGrant reports whether the client may use the grant type.
func (c *Client) AllowsGrant(g string) bool { return c.grants[g] }

// Grants lists the client's grant types, sorted.
func (c *Client) Grants() []string {
	out := make([]string, 0, len(c.grants))
	for g := range c.grants {
		out = append(out, g)
	}
	sort.Strings(out)
	return out
}

// ResponseTypes lists the response types the client's grants allow, each in
// the canonical order of its parts (see NormalizeResponseType).
func (c *Client) ResponseTypes() []string {
	var out []string
	code, implicit := c.grants[GrantAuthorizationCode], c.grants[GrantImplicit]
	if code {
		out = append(out, "code")
	}
	if implicit {
		out = append(out, "token", "id_token", "id_token token")
	}
	if code && implicit {
		out = append(out, "code id_token", "code token", "code id_token token")
	}
	return out
}

// AllowsResponseType reports whether the (normalized) response type is allowed.
func (c *Client) AllowsResponseType(rt string) bool {
	rt = NormalizeResponseType(rt)
	for _, x := range c.ResponseTypes() {
		if x == rt {
			return true
		}
	}
	return false
}

// NormalizeResponseType orders the space-separated parts of a response type
// canonically ("token code" → "code token"), so that comparisons are exact.
// Unknown or duplicate parts yield "".
func NormalizeResponseType(rt string) string {
	var code, idToken, token bool
	for _, p := range strings.Fields(rt) {
		var seen *bool
		switch p {
		case "code":
			seen = &code
		case "id_token":
			seen = &idToken
		case "token":
			seen = &token
		default:
			return ""
		}
		if *seen {
			return ""
		}
		*seen = true
	}
	var parts []string
	if code {
		parts = append(parts, "code")
	}
	if idToken {
		parts = append(parts, "id_token")
	}
	if token {
		parts = append(parts, "token")
	}
	return strings.Join(parts, " ")
}

// MatchRedirectURI reports whether uri is registered for the client: exactly,
// or by a Keycloak-style trailing-wildcard prefix where the config allows it.
func (c *Client) MatchRedirectURI(uri string) bool {
	for _, u := range c.RedirectURIs {
		if u == uri {
			return true
		}
	}
	for _, p := range c.RedirectPrefixes {
		if strings.HasPrefix(uri, p) && !strings.Contains(uri[len(p):], "#") && !hasDotDot(uri) {
			return true
		}
	}
	return false
}

// hasDotDot reports whether uri contains "..", also percent-encoded: browsers
// resolve ".%2e", "%2e." and "%2e%2e" as ".." path segments (WHATWG URL), which
// would lead a prefix-matched URI out of the registered path. A URI that does
// not unescape is refused too.
func hasDotDot(uri string) bool {
	if strings.Contains(uri, "..") {
		return true
	}
	dec, err := url.PathUnescape(uri)
	return err != nil || strings.Contains(dec, "..")
}

// MatchPostLogoutRedirectURI reports whether uri is a registered post-logout URI.
func (c *Client) MatchPostLogoutRedirectURI(uri string) bool {
	for _, u := range c.PostLogoutRedirectURIs {
		if u == uri {
			return true
		}
	}
	return false
}

// Client authenticators (Keycloak's names, as in the config).
const (
	ClientAuthSecret    = config.ClientAuthSecret
	ClientAuthJWT       = config.ClientAuthJWT
	ClientAuthSecretJWT = config.ClientAuthSecretJWT
)

// CheckSecret compares a presented client secret in constant time. Public
// clients have no secret and never match; neither does a client that
// authenticates with signed JWTs, even with its client-secret-jwt secret,
// because the methods are exclusive (as Keycloak's client authenticator is).
func (c *Client) CheckSecret(secret string) bool {
	if c.Public || secret == "" || c.SignedJWTAuth() {
		return false
	}
	digest := sha256.Sum256([]byte(secret))
	if c.secretSHA != nil {
		return subtle.ConstantTimeCompare(digest[:], c.secretSHA) == 1
	}
	if c.secretPHC == "" {
		return false
	}
	if _, ok := c.verified.Load(digest); ok {
		return true
	}
	if password.Verify(secret, c.secretPHC) != nil {
		return false
	}
	c.verified.Store(digest, struct{}{})
	return true
}

// SignedJWTAuth reports whether the client authenticates with signed JWTs
// (client-jwt or client-secret-jwt) rather than its secret.
func (c *Client) SignedJWTAuth() bool {
	return c.Authenticator == ClientAuthJWT || c.Authenticator == ClientAuthSecretJWT
}

// HMACKey returns the key of a client-secret-jwt client's assertions (its
// secret), nil for every other client. Callers must not modify it.
func (c *Client) HMACKey() []byte {
	if c.Authenticator != ClientAuthSecretJWT {
		return nil
	}
	return c.hmacKey
}

// SecretCheckCostly reports whether CheckSecret(secret) would run an
// argon2id verification: the client has a secretHash and this secret has
// not matched it before.
func (c *Client) SecretCheckCostly(secret string) bool {
	if c.Public || secret == "" || c.secretSHA != nil || c.secretPHC == "" {
		return false
	}
	_, known := c.verified.Load(sha256.Sum256([]byte(secret)))
	return !known
}

// ServiceAccountSubject is the stable subject of the client's service account.
func (c *Client) ServiceAccountSubject() string { return "service-account-" + c.ID }

// setAuthenticator carries a validated client config's authentication
// method and credentials into c. A confidential client without a method
// (a config built without defaults) uses its secret, the default.
func setAuthenticator(c *Client, cc config.Client) error {
	if c.Public {
		return nil
	}
	c.Authenticator = cc.ClientAuthenticator
	if c.Authenticator == "" {
		c.Authenticator = ClientAuthSecret
	}
	switch c.Authenticator {
	case ClientAuthJWT:
		c.JWKSURI = cc.JWKSURI
		if cc.JWKS != nil {
			keys, err := config.ParseJWKS(cc.JWKS)
			if err != nil {
				return fmt.Errorf("jwks: %w", err)
			}
			c.JWKS = keys
		}
	case ClientAuthSecretJWT:
		c.hmacKey = []byte(cc.Secret)
	}
	return nil
}
