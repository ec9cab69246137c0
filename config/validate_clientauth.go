package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/latchkey/latchkey/internal/crypto/jwkset"
)

// minHMACSecret is the shortest secret that can key HS256 (RFC 7518 §3.2: a
// key at least as long as the hash output); go-jose refuses shorter ones, so
// a shorter secret would make every assertion of the client fail.
const minHMACSecret = 32

// validateAuthenticator checks clientAuthenticator and the credentials it
// needs. The methods are exclusive, as in Keycloak, so a credential of
// another method is an error rather than something silently ignored: an
// admin who leaves a secret on a client-jwt client must not believe it works.
func (c *Client) validateAuthenticator(key string, p *problems) {
	ak := key + ".clientAuthenticator"
	if c.Public {
		if c.ClientAuthenticator != "" {
			p.add(ak, "a public client does not authenticate; remove clientAuthenticator (or set public: false)")
		}
		if c.JWKS != nil || c.JWKSURI != "" {
			p.add(key+".jwks", "a public client does not authenticate; remove jwks and jwksUri")
		}
		return
	}
	if !oneOf(c.ClientAuthenticator, ak, p, ClientAuthSecret, ClientAuthJWT, ClientAuthSecretJWT) {
		return
	}
	if c.ClientAuthenticator != ClientAuthJWT {
		if c.JWKS != nil {
			p.add(key+".jwks", "only a client with clientAuthenticator %s has keys (this one is %s)", ClientAuthJWT, c.ClientAuthenticator)
		}
		if c.JWKSURI != "" {
			p.add(key+".jwksUri", "only a client with clientAuthenticator %s has keys (this one is %s)", ClientAuthJWT, c.ClientAuthenticator)
		}
	}
	switch c.ClientAuthenticator {
	case ClientAuthJWT:
		if c.Secret != "" || c.SecretHash != "" {
			p.add(key+".secret", "a %s client authenticates with signed JWTs only; remove secret and secretHash", ClientAuthJWT)
		}
		switch {
		case c.JWKS == nil && c.JWKSURI == "":
			p.add(key+".jwks", "a %s client needs jwks (its public keys) or jwksUri (where it publishes them)", ClientAuthJWT)
		case c.JWKS != nil && c.JWKSURI != "":
			p.add(key+".jwksUri", "set jwks or jwksUri, not both")
		case c.JWKS != nil:
			for _, err := range checkInlineJWKS(c.JWKS) {
				p.add(key+".jwks", "%v", err)
			}
		default:
			if err := checkJWKSURI(c.JWKSURI); err != nil {
				p.add(key+".jwksUri", "%v", err)
			}
		}
	case ClientAuthSecretJWT:
		switch {
		case c.SecretHash != "":
			p.add(key+".secretHash", "a %s client needs the plain secret: an HMAC signature cannot be checked against an argon2id hash (use secret, e.g. secret: ${CLIENT_SECRET})", ClientAuthSecretJWT)
		case c.Secret == "":
			p.add(key+".secret", "a %s client needs a secret (the HMAC key of its JWTs)", ClientAuthSecretJWT)
		case len(c.Secret) < minHMACSecret:
			p.add(key+".secret", "a %s client needs a secret of at least %d bytes (the HS256 key size, RFC 7518 §3.2); this one has %d", ClientAuthSecretJWT, minHMACSecret, len(c.Secret))
		}
	}
}

// ParseJWKS reads a client's inline jwks (as the config file spelled it) into
// its public signature keys. It fails on any key that cannot be used, which
// Validate reports; realm.Build calls it on a validated config.
func ParseJWKS(set map[string]any) ([]jose.JSONWebKey, error) {
	keys, errs := parseJWKS(set)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return keys, nil
}

func checkInlineJWKS(set map[string]any) []error {
	_, errs := parseJWKS(set)
	return errs
}

func parseJWKS(set map[string]any) ([]jose.JSONWebKey, []error) {
	doc, err := json.Marshal(set)
	if err != nil {
		return nil, []error{fmt.Errorf("not a JWK Set: %w", err)}
	}
	keys, problems, err := jwkset.Parse(doc)
	if err != nil {
		return nil, []error{err}
	}
	return keys, problems
}

// checkJWKSURI accepts https URLs, and http URLs only for loopback hosts: a
// set fetched in clear text over a network could be replaced by anyone on
// the path, who could then sign in as the client.
func checkJWKSURI(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a valid URL: %v", raw, err)
	case u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
		return fmt.Errorf("%q must be an absolute https URL", raw)
	case u.User != nil:
		return fmt.Errorf("%q must not contain user info", raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("%q must not contain a fragment", raw)
	case u.Scheme == "http" && !isLoopbackHost(u.Hostname()):
		return fmt.Errorf("%q: http is allowed only for loopback hosts (127.0.0.0/8, ::1, localhost); use https", raw)
	}
	return nil
}
