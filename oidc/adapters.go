package oidc

import (
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
)

// opClient adapts a realm client to op.Client.
type opClient struct {
	c        *realm.Client
	loginURL func(id string) string
	idTTL    time.Duration
	// extraRedirect is the request's redirect_uri when it matched a wildcard
	// prefix: the library only knows exact matching.
	extraRedirect string
}

var _ op.Client = (*opClient)(nil)

func (c *opClient) GetID() string { return c.c.ID }
func (c *opClient) RedirectURIs() []string {
	if c.extraRedirect != "" {
		return append(append([]string(nil), c.c.RedirectURIs...), c.extraRedirect)
	}
	return c.c.RedirectURIs
}
func (c *opClient) PostLogoutRedirectURIs() []string    { return c.c.PostLogoutRedirectURIs }
func (c *opClient) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c *opClient) AuthMethod() oidc.AuthMethod {
	if c.c.Public {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}
func (c *opClient) ResponseTypes() []oidc.ResponseType {
	rts := c.c.ResponseTypes()
	out := make([]oidc.ResponseType, len(rts))
	for i, rt := range rts {
		out[i] = oidc.ResponseType(rt)
	}
	return out
}
func (c *opClient) GrantTypes() []oidc.GrantType {
	gs := c.c.Grants()
	out := make([]oidc.GrantType, len(gs))
	for i, g := range gs {
		out[i] = oidc.GrantType(g)
	}
	return out
}
func (c *opClient) LoginURL(id string) string           { return c.loginURL(id) }
func (c *opClient) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeJWT }
func (c *opClient) IDTokenLifetime() time.Duration      { return c.idTTL }
func (c *opClient) DevMode() bool                       { return true } // http redirect URIs are allowed when registered, as in Keycloak
func (c *opClient) IsScopeAllowed(scope string) bool {
	return scope == "roles" || scope == "web-origins"
}
func (c *opClient) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *opClient) ClockSkew() time.Duration             { return 0 }
func (c *opClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *opClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// authRequest adapts a stored authorization request to op.AuthRequest.
type authRequest struct{ storage.AuthRequest }

var _ op.AuthRequest = authRequest{}

func (a authRequest) GetID() string          { return a.ID }
func (a authRequest) GetACR() string         { return "" }
func (a authRequest) GetAMR() []string       { return a.AMR }
func (a authRequest) GetAudience() []string  { return []string{a.ClientID} }
func (a authRequest) GetAuthTime() time.Time { return a.AuthTime }
func (a authRequest) GetClientID() string    { return a.ClientID }
func (a authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.CodeChallenge, Method: oidc.CodeChallengeMethod(a.CodeChallengeMethod)}
}
func (a authRequest) GetNonce() string                   { return a.Nonce }
func (a authRequest) GetRedirectURI() string             { return a.RedirectURI }
func (a authRequest) GetResponseType() oidc.ResponseType { return oidc.ResponseType(a.ResponseType) }
func (a authRequest) GetResponseMode() oidc.ResponseMode { return oidc.ResponseMode(a.ResponseMode) }
func (a authRequest) GetScopes() []string                { return a.Scopes }
func (a authRequest) GetState() string                   { return a.State }
func (a authRequest) GetSubject() string                 { return a.UserID }
func (a authRequest) Done() bool                         { return a.AuthRequest.Done }
func (a authRequest) sessionID() string                  { return a.SessionID }
func (a authRequest) grantScopes() []string              { return a.Scopes }
func (a authRequest) offline() bool                      { return slices.Contains(a.Scopes, oidc.ScopeOfflineAccess) }

// refreshRequest adapts a refresh token record to op.RefreshTokenRequest and
// op.IDTokenRequest.
type refreshRequest struct {
	storage.RefreshToken
	scopes []string
}

var _ op.RefreshTokenRequest = (*refreshRequest)(nil)

func (r *refreshRequest) GetAMR() []string            { return r.AMR }
func (r *refreshRequest) GetAudience() []string       { return []string{r.ClientID} }
func (r *refreshRequest) GetAuthTime() time.Time      { return r.AuthTime }
func (r *refreshRequest) GetClientID() string         { return r.ClientID }
func (r *refreshRequest) GetScopes() []string         { return r.scopes }
func (r *refreshRequest) GetSubject() string          { return r.UserID }
func (r *refreshRequest) SetCurrentScopes(s []string) { r.scopes = s }
func (r *refreshRequest) sessionID() string           { return r.SessionID }
func (r *refreshRequest) grantScopes() []string       { return r.RefreshToken.Scopes }
func (r *refreshRequest) offline() bool               { return r.RefreshToken.Offline }

// signingKey adapts the realm's active key to op.SigningKey and op.Key.
type signingKey struct {
	id  string
	alg jose.SignatureAlgorithm
	key any
}

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return k.alg }
func (k signingKey) Algorithm() jose.SignatureAlgorithm          { return k.alg }
func (k signingKey) Key() any                                    { return k.key }
func (k signingKey) ID() string                                  { return k.id }
func (k signingKey) Use() string                                 { return "sig" }
