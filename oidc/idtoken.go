package oidc

import (
	"context"
	"fmt"
	"slices"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/latchkey/latchkey/internal/crypto/tokens"
	"github.com/latchkey/latchkey/storage"
)

// idTokenClaims are the claims of an ID token, Keycloak-shaped. typ "ID"
// tells the token gate that it is never a bearer credential.
type idTokenClaims struct {
	Issuer            string          `json:"iss"`
	Subject           string          `json:"sub"`
	Audience          tokens.Audience `json:"aud"`
	Expiry            int64           `json:"exp"`
	IssuedAt          int64           `json:"iat"`
	AuthTime          int64           `json:"auth_time,omitempty"`
	ID                string          `json:"jti"`
	Type              string          `json:"typ"`
	AuthorizedParty   string          `json:"azp"`
	Nonce             string          `json:"nonce,omitempty"`
	SessionID         string          `json:"sid,omitempty"`
	AMR               []string        `json:"amr,omitempty"`
	AccessTokenHash   string          `json:"at_hash,omitempty"`
	CodeHash          string          `json:"c_hash,omitempty"`
	Email             string          `json:"email,omitempty"`
	EmailVerified     *bool           `json:"email_verified,omitempty"`
	PreferredUsername string          `json:"preferred_username,omitempty"`
}

// idTokenSource is what an ID token is issued for: a completed authorization
// request (which has a nonce) or a refresh.
type idTokenSource interface {
	refreshSource
	GetNonce() string
}

// mintIDToken signs an ID token of user u for src under the request's
// issuer, on the realm's clock, with at_hash and c_hash when an access token
// or a code is issued beside it. The email scope always brings
// email_verified, false too.
func (p *Provider) mintIDToken(ctx context.Context, u storage.User, src refreshSource, clientID, accessToken, code string) (string, error) {
	var err error
	now := p.realm.Now()
	c := idTokenClaims{
		Issuer: p.issuer(ctx), Subject: u.ID, Audience: tokens.Audience{clientID}, IssuedAt: now.Unix(),
		Expiry: now.Add(p.realm.Lifetimes.IDToken).Unix(), ID: tokens.NewID(), Type: tokens.TypeID,
		AuthorizedParty: clientID, SessionID: src.sessionID(), AMR: src.GetAMR(),
	}
	if at := src.GetAuthTime(); !at.IsZero() {
		c.AuthTime = at.Unix()
	}
	if ns, ok := src.(idTokenSource); ok {
		c.Nonce = ns.GetNonce()
	}
	scopes := src.GetScopes()
	if slices.Contains(scopes, oidc.ScopeProfile) {
		c.PreferredUsername = u.Username
	}
	if slices.Contains(scopes, oidc.ScopeEmail) {
		verified := u.EmailVerified
		c.Email, c.EmailVerified = u.Email, &verified
	}
	key := p.realm.Keys.Active()
	if key == nil {
		return "", fmt.Errorf("realm %q has no active signing key", p.realm.Name)
	}
	if accessToken != "" {
		if c.AccessTokenHash, err = oidc.ClaimHash(accessToken, key.Algorithm); err != nil {
			return "", fmt.Errorf("at_hash: %w", err)
		}
	}
	if code != "" {
		if c.CodeHash, err = oidc.ClaimHash(code, key.Algorithm); err != nil {
			return "", fmt.Errorf("c_hash: %w", err)
		}
	}
	raw, err := p.realm.Tokens.Sign(c)
	if err != nil {
		return "", fmt.Errorf("sign ID token: %w", err)
	}
	return raw, nil
}
