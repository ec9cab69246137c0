package oidc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey/latchkey/internal/crypto/jwkset"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
)

// Client assertions (RFC 7523 §2.2, OIDC Core §9), checked as Keycloak's
// JWT client authenticators check them.
const (
	// assertionClockSkew is the leeway on exp, nbf and iat (Keycloak's 15s).
	assertionClockSkew = 15 * time.Second
	// assertionMaxAge bounds how long an assertion is usable: until iat plus
	// this, or, without iat, only if exp is at most this far away
	// (Keycloak's default token.endpoint.auth.signing.max.exp). It also
	// bounds how long its jti is remembered.
	assertionMaxAge = 60 * time.Second
	// maxAssertionBytes refuses absurd JWTs before parsing them.
	maxAssertionBytes = 16 << 10
	// kindClientAssertion is the one-time-token kind that records used jtis.
	kindClientAssertion = "client-assertion"
	// methodClientSecretJWT is client_secret_jwt; the library names only
	// private_key_jwt.
	methodClientSecretJWT oidc.AuthMethod = "client_secret_jwt"
)

// hmacAlgorithms are client_secret_jwt's algorithms; the asymmetric ones of
// private_key_jwt are jwkset.SignatureAlgorithms. The two never mix: an HS256
// "signature" must not be checked with a client's public key (alg confusion).
var hmacAlgorithms = []jose.SignatureAlgorithm{jose.HS256, jose.HS384, jose.HS512}

// assertionAlgorithms are the algorithms an assertion may be parsed with at
// all; which of them a client may use is decided by its method.
var assertionAlgorithms = append(slices.Clip(jwkset.SignatureAlgorithms), hmacAlgorithms...)

// clientAuthError is a failed client authentication: the OAuth error and
// HTTP status to answer with. The library's handlers find the status
// through Unwrap (an op.StatusError); our own handlers (logout by refresh
// token, the password grant) read status and err.
type clientAuthError struct {
	status int
	err    *oidc.Error
}

func (e *clientAuthError) Error() string { return e.err.Error() }
func (e *clientAuthError) Unwrap() error { return op.NewStatusError(e.err, e.status) }

// invalidClient is the answer to every failed authentication: 401 (RFC 6749
// §5.2) with Keycloak's description, or, when the failure is in an
// assertion of a known client, what was wrong with it (nothing secret: the
// client wrote the assertion).
func invalidClient(assertionProblem string) *clientAuthError {
	desc := "Invalid client or Invalid client credentials"
	if assertionProblem != "" {
		desc = "Client authentication with signed JWT failed: " + assertionProblem
	}
	return &clientAuthError{status: http.StatusUnauthorized, err: oidc.ErrInvalidClient().WithDescription("%s", desc)}
}

// authenticateClient authenticates the client of a token, introspection,
// revocation or logout request, by the one method its clientAuthenticator
// names: client_secret_basic or client_secret_post (client-secret),
// private_key_jwt (client-jwt) or client_secret_jwt (client-secret-jwt). A
// public client names itself with client_id and presents no credential.
//
// form is where the endpoint reads its parameters, header the request's
// headers (HTTP Basic). Every failure is a *clientAuthError: invalid_client
// with 401; invalid_request with 400 for a request that uses two methods at
// once (RFC 6749 §2.3); server_error with 500, or 503 when storage is
// unavailable, when a used assertion could not be recorded.
func (p *Provider) authenticateClient(ctx context.Context, form url.Values, header http.Header) (*realm.Client, error) {
	basicID, basicSecret, basic, err := basicCredentials(header)
	if err != nil {
		return nil, p.authFailed(ctx, "", "malformed Basic credentials", invalidClient(""))
	}
	formID, formSecret := form.Get("client_id"), form.Get("client_secret")
	assertion, assertionType := form.Get("client_assertion"), form.Get("client_assertion_type")
	methods := 0
	for _, used := range []bool{basic, formSecret != "", assertion != "" || assertionType != ""} {
		if used {
			methods++
		}
	}
	if methods > 1 {
		return nil, &clientAuthError{status: http.StatusBadRequest,
			err: oidc.ErrInvalidRequest().WithDescription("client authentication must not use more than one method")}
	}
	if assertion != "" || assertionType != "" {
		return p.authenticateAssertion(ctx, formID, assertion, assertionType)
	}
	id, secret := formID, formSecret
	if basic {
		if formID != "" && formID != basicID {
			return nil, p.authFailed(ctx, basicID, "client_id differs from the Basic credentials", invalidClient(""))
		}
		id, secret = basicID, basicSecret
	}
	c, ok := p.realm.Client(id)
	switch {
	case !ok:
		return nil, p.authFailed(ctx, id, "unknown client", invalidClient(""))
	case c.Public && secret != "":
		// A public client has no credential; one that presents some is
		// misconfigured, and a confidential client's secret sent under a
		// public client's id is refused rather than ignored. (Basic with an
		// empty secret is how x/oauth2 names a public client: allowed.)
		return nil, p.authFailed(ctx, id, "a public client presented a secret", invalidClient(""))
	case c.Public:
		return c, nil
	case c.SignedJWTAuth():
		return nil, p.authFailed(ctx, id, "the client authenticates with "+c.Authenticator+", not a secret", invalidClient(""))
	}
	// A secret that is not yet known good costs an argon2id verification
	// when the client has a secretHash: such checks spend the IP's budget,
	// so that guessing (or burning CPU) is bounded per IP as logins are.
	if c.SecretCheckCostly(secret) {
		switch ok, _, err := p.allowIP(ctx, "client-auth"); {
		case err != nil:
			return nil, &clientAuthError{status: http.StatusServiceUnavailable,
				err: oidc.ErrServerError().WithDescription("rate limit unavailable").WithParent(err)}
		case !ok:
			return nil, p.authFailed(ctx, id, "per-IP rate limit", &clientAuthError{status: http.StatusTooManyRequests,
				err: oidc.ErrInvalidClient().WithDescription("Too many client authentication attempts; try again later")})
		}
	}
	if !c.CheckSecret(secret) {
		return nil, p.authFailed(ctx, id, "wrong secret", invalidClient(""))
	}
	return c, nil
}

// basicCredentials reads HTTP Basic client credentials, form-decoded as RFC
// 6749 §2.3.1 has them encoded.
func basicCredentials(h http.Header) (id, secret string, ok bool, err error) {
	r := http.Request{Header: h}
	id, secret, ok = r.BasicAuth()
	if !ok {
		if strings.HasPrefix(strings.ToLower(h.Get("Authorization")), "basic ") {
			return "", "", false, errors.New("malformed Basic credentials")
		}
		return "", "", false, nil
	}
	if id, err = url.QueryUnescape(id); err != nil {
		return "", "", false, err
	}
	if secret, err = url.QueryUnescape(secret); err != nil {
		return "", "", false, err
	}
	return id, secret, true, nil
}

// authFailed logs why a client failed to authenticate (never a credential)
// and returns err.
func (p *Provider) authFailed(ctx context.Context, clientID, reason string, err *clientAuthError) error {
	p.opts.Logger.InfoContext(ctx, "client authentication failed", "realm", p.realm.Name,
		"client_id", truncate(clientID, 64), "reason", reason)
	return err
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// authenticateAssertion checks a client assertion (RFC 7523 §3): signed
// with the client's key (client-jwt) or secret (client-secret-jwt) in an
// algorithm of that method; iss and sub the client's id (and client_id, if
// sent, too); aud the realm (either issuer) or one of its endpoints; exp
// present and near, nbf and iat not in the future; a jti never seen before.
// The jti is recorded last, so that a refused assertion does not use it up.
func (p *Provider) authenticateAssertion(ctx context.Context, formID, assertion, assertionType string) (*realm.Client, error) {
	if assertionType != oidc.ClientAssertionTypeJWTAssertion {
		return nil, p.authFailed(ctx, formID, "client_assertion_type is not "+oidc.ClientAssertionTypeJWTAssertion, invalidClient(""))
	}
	if assertion == "" || len(assertion) > maxAssertionBytes {
		return nil, p.authFailed(ctx, formID, "client_assertion missing or too long", invalidClient(""))
	}
	tok, err := jwt.ParseSigned(assertion, assertionAlgorithms)
	if err != nil {
		return nil, p.authFailed(ctx, formID, "client_assertion is not a signed JWT in an accepted algorithm", invalidClient(""))
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, p.authFailed(ctx, formID, "client_assertion claims do not parse", invalidClient(""))
	}
	id := unverified.Subject
	if formID != "" && formID != id {
		return nil, p.authFailed(ctx, formID, "client_id differs from the assertion's sub", invalidClient(""))
	}
	c, ok := p.realm.Client(id)
	if !ok {
		return nil, p.authFailed(ctx, id, "unknown client (assertion sub)", invalidClient(""))
	}
	fail := func(problem string) error {
		return p.authFailed(ctx, id, "assertion: "+problem, invalidClient(problem))
	}
	hdr := tok.Headers[0]
	alg := jose.SignatureAlgorithm(hdr.Algorithm)
	var key any
	switch c.Authenticator {
	case realm.ClientAuthJWT:
		if !slices.Contains(jwkset.SignatureAlgorithms, alg) {
			return nil, fail(fmt.Sprintf("alg %s is not allowed for private_key_jwt", alg))
		}
		k, err := p.clientKey(ctx, c, hdr.KeyID, alg)
		if err != nil {
			return nil, fail(err.Error())
		}
		key = k.Key
	case realm.ClientAuthSecretJWT:
		if !slices.Contains(hmacAlgorithms, alg) {
			return nil, fail(fmt.Sprintf("alg %s is not allowed for client_secret_jwt", alg))
		}
		key = c.HMACKey()
	default:
		return nil, p.authFailed(ctx, id, "the client does not authenticate with signed JWTs", invalidClient(""))
	}
	var claims jwt.Claims
	if err := tok.Claims(key, &claims); err != nil {
		return nil, fail("invalid signature")
	}
	expiresAt, problem := p.checkAssertionClaims(ctx, &claims, id)
	if problem != "" {
		return nil, fail(problem)
	}
	if err := p.useAssertionID(ctx, id, claims.ID, expiresAt); err != nil {
		if errors.Is(err, storage.ErrAlreadyExists) {
			return nil, fail("token reuse detected (jti already used)")
		}
		p.opts.Logger.ErrorContext(ctx, "record client assertion", "realm", p.realm.Name, "client_id", id, "error", err)
		status := http.StatusInternalServerError
		if errors.Is(err, storage.ErrUnavailable) {
			status = http.StatusServiceUnavailable
		}
		return nil, &clientAuthError{status: status, err: oidc.ErrServerError().WithDescription("client authentication could not be completed")}
	}
	return c, nil
}

// clientKey returns the key of a client-jwt client that verifies a JWS
// with the header's kid and alg: from the inline jwks, or from the jwksUri
// set (fetched again when kid is unknown).
func (p *Provider) clientKey(ctx context.Context, c *realm.Client, kid string, alg jose.SignatureAlgorithm) (*jose.JSONWebKey, error) {
	keys := c.JWKS
	if c.JWKSURI != "" {
		var err error
		if keys, err = p.set.jwks.keys(ctx, c.JWKSURI, kid, p.realm.Now()); err != nil {
			// The cause is logged by the cache; the client learns only that
			// its keys are not available.
			return nil, errors.New("the client's keys (jwksUri) could not be fetched")
		}
	}
	return jwkset.Select(keys, kid, alg)
}

// checkAssertionClaims checks a verified assertion's claims for client id at
// the realm clock and returns until when its jti must be remembered: the
// last instant the assertion could still be accepted. problem says what is
// wrong, "" when nothing is.
func (p *Provider) checkAssertionClaims(ctx context.Context, c *jwt.Claims, id string) (expiresAt time.Time, problem string) {
	now := p.realm.Now()
	switch {
	case c.Issuer != id || c.Subject != id:
		return time.Time{}, "iss and sub must both be the client_id"
	case !p.assertionAudienceOK(ctx, c.Audience):
		return time.Time{}, "aud must be the realm's issuer or token endpoint"
	case c.Expiry == nil:
		return time.Time{}, "exp is required"
	case !now.Before(c.Expiry.Time().Add(assertionClockSkew)):
		return time.Time{}, "token expired"
	case c.NotBefore != nil && c.NotBefore.Time().After(now.Add(assertionClockSkew)):
		return time.Time{}, "token not yet valid (nbf)"
	case c.ID == "":
		return time.Time{}, "jti is required"
	case len(c.ID) > 512:
		return time.Time{}, "jti is too long"
	}
	last := c.Expiry.Time().Add(assertionClockSkew)
	if c.IssuedAt == nil {
		if c.Expiry.Time().Sub(now) > assertionMaxAge {
			return time.Time{}, fmt.Sprintf("exp is more than %s away and iat is missing", assertionMaxAge)
		}
	} else {
		iat := c.IssuedAt.Time()
		switch {
		case iat.After(now.Add(assertionClockSkew)):
			return time.Time{}, "token was issued in the future (iat)"
		case now.After(iat.Add(assertionMaxAge)):
			return time.Time{}, fmt.Sprintf("token was issued more than %s ago (iat)", assertionMaxAge)
		}
		last = minTime(last, iat.Add(assertionMaxAge))
	}
	return last, ""
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// assertionAudienceOK reports whether aud names this realm: either of its
// issuers, or an endpoint under either that takes client authentication
// (token, introspection, revocation, logout). As in Keycloak, an assertion
// for the token endpoint is good at the realm's other endpoints too; the
// jti makes each assertion good for one request anyway.
func (p *Provider) assertionAudienceOK(_ context.Context, aud jwt.Audience) bool {
	for _, a := range aud {
		for _, iss := range []string{p.realm.Issuer, p.realm.AltIssuer} {
			if iss == "" {
				continue
			}
			switch a {
			case iss, iss + pathToken, iss + pathIntrospect, iss + pathRevoke, iss + pathLogout:
				return true
			}
		}
	}
	return false
}

// useAssertionID records a client's assertion jti until expiresAt through
// the store's consume-once primitive, so that a replay is refused on every
// replica: storage.ErrAlreadyExists means the jti was used before.
func (p *Provider) useAssertionID(ctx context.Context, clientID, jti string, expiresAt time.Time) error {
	sum := sha256.Sum256([]byte(clientID + "\x00" + jti))
	now := p.realm.Now()
	err := p.realm.Store.IssueOneTimeToken(ctx, storage.OneTimeToken{
		Realm: p.realm.Name, Kind: kindClientAssertion, Hash: hex.EncodeToString(sum[:]),
		CreatedAt: now, ExpiresAt: expiresAt, ConsumedAt: now,
	})
	if err != nil {
		return fmt.Errorf("record client assertion jti: %w", err)
	}
	return nil
}

// clientAuthMethods lists the client authentication methods of the realm's
// confidential clients for discovery's token, introspection and revocation
// *_endpoint_auth_methods_supported: client_secret_basic and
// client_secret_post always, private_key_jwt and client_secret_jwt when some
// client of the realm uses them.
func (p *Provider) clientAuthMethods() []oidc.AuthMethod {
	methods := []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost}
	jwtAuth, secretJWT := p.jwtAuthInUse()
	if jwtAuth {
		methods = append(methods, oidc.AuthMethodPrivateKeyJWT)
	}
	if secretJWT {
		methods = append(methods, methodClientSecretJWT)
	}
	return methods
}

// clientAuthSigningAlgs lists the JWS algorithms accepted in client
// assertions for discovery's *_endpoint_auth_signing_alg_values_supported:
// the asymmetric ones when some client uses private_key_jwt, the HMAC ones
// when some client uses client_secret_jwt; nil when none does (the member
// is then omitted).
func (p *Provider) clientAuthSigningAlgs() []string {
	jwtAuth, secretJWT := p.jwtAuthInUse()
	var algs []string
	if jwtAuth {
		for _, a := range jwkset.SignatureAlgorithms {
			algs = append(algs, string(a))
		}
	}
	if secretJWT {
		for _, a := range hmacAlgorithms {
			algs = append(algs, string(a))
		}
	}
	return algs
}

func (p *Provider) jwtAuthInUse() (jwtAuth, secretJWT bool) {
	for _, c := range p.realm.Clients() {
		switch c.Authenticator {
		case realm.ClientAuthJWT:
			jwtAuth = true
		case realm.ClientAuthSecretJWT:
			secretJWT = true
		}
	}
	return jwtAuth, secretJWT
}
