package oidc

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey/latchkey/internal/crypto/tokens"
	"github.com/latchkey/latchkey/internal/platform/metrics"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
)

// tokenResponse is the token endpoint's answer, shaped like Keycloak's:
// client libraries written for Keycloak read refresh_expires_in,
// session_state and not-before-policy.
type tokenResponse struct {
	AccessToken      string `json:"access_token"`
	ExpiresIn        int64  `json:"expires_in"`
	RefreshExpiresIn int64  `json:"refresh_expires_in"`
	RefreshToken     string `json:"refresh_token,omitempty"`
	TokenType        string `json:"token_type"`
	IDToken          string `json:"id_token,omitempty"`
	NotBeforePolicy  int64  `json:"not-before-policy"`
	SessionState     string `json:"session_state,omitempty"`
	Scope            string `json:"scope,omitempty"`
}

// refreshSource is what tokens are issued from: a completed authorization
// request or a refresh token being rotated.
type refreshSource interface {
	op.IDTokenRequest
	sessionID() string
	// grantScopes are the scopes of the whole grant, which a rotated refresh
	// token keeps even when this request narrowed the access token's.
	grantScopes() []string
	// offline reports whether the grant's refresh token is an offline token.
	offline() bool
}

// grant names the grant tokens are issued in: its id (carried by every
// access and refresh token of it, so that revoking it ends them all), the
// grant type (for metrics) and, when rotating, the current refresh token.
type grant struct {
	id, name       string
	currentRefresh string
}

// mintUserAccess mints an access token for a user, Keycloak-shaped, under
// the request's issuer.
func (p *Provider) mintUserAccess(ctx context.Context, u storage.User, clientID string, scopes []string, sid string, g grant) (string, *tokens.Claims, error) {
	roles := u.Roles
	if roles == nil {
		roles = []string{}
	}
	raw, c, err := p.realm.Tokens.Mint(ctx, tokens.Spec{
		Issuer: p.issuer(ctx), Subject: u.ID, Audience: []string{clientID}, AuthorizedParty: clientID, SessionID: sid,
		Scopes: scopes, Lifespan: p.realm.Lifetimes.AccessToken, Roles: roles, GrantID: g.id,
		Email: u.Email, EmailVerified: &u.EmailVerified, Username: u.Username,
	})
	if err != nil {
		return "", nil, fmt.Errorf("mint access token: %w", err)
	}
	metrics.TokensIssued.WithLabelValues(p.realm.Name, g.name).Inc()
	return raw, c, nil
}

// tokenResponse issues the access token, the refresh token (for clients with
// the grant, whether or not offline_access was asked for, like Keycloak) and,
// for openid requests, the ID token.
func (p *Provider) tokenResponse(ctx context.Context, c *realm.Client, src refreshSource, g grant) (*tokenResponse, error) {
	u, err := p.realm.Store.GetUser(ctx, p.realm.Name, src.GetSubject())
	if err != nil || !u.Enabled {
		return nil, oidc.ErrInvalidGrant().WithDescription("User not found or disabled")
	}
	if g.name != realm.GrantRefreshToken { // a rotation's client joined when its grant began
		if err := p.joinSession(ctx, src.sessionID(), c.ID); err != nil {
			return nil, err
		}
	}
	access, claims, err := p.mintUserAccess(ctx, u, c.ID, src.GetScopes(), src.sessionID(), g)
	if err != nil {
		return nil, err
	}
	resp := &tokenResponse{
		AccessToken: access, TokenType: oidc.BearerToken, Scope: strings.Join(src.GetScopes(), " "),
		ExpiresIn: claims.Expiry - claims.IssuedAt, SessionState: src.sessionID(),
	}
	if c.AllowsGrant(realm.GrantRefreshToken) {
		var exp time.Time
		if resp.RefreshToken, exp, err = p.issueRefreshToken(ctx, src, g); err != nil {
			return nil, err
		}
		if !src.offline() { // Keycloak answers 0 for offline tokens
			resp.RefreshExpiresIn = int64(exp.Sub(p.realm.Now()).Round(time.Second).Seconds())
		}
	}
	if slices.Contains(src.GetScopes(), oidc.ScopeOpenID) {
		if resp.IDToken, err = p.mintIDToken(ctx, u, src, c.ID, access, ""); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// revokeGrant ends every token of a grant: access tokens carrying its id are
// refused by the token gate, its refresh tokens by the token endpoint. The
// record outlives any token the grant can still hold.
func (p *Provider) revokeGrant(ctx context.Context, gid string) error {
	if gid == "" {
		return nil
	}
	lt := p.realm.Lifetimes
	until := p.realm.Now().Add(max(lt.SSOMax, lt.RefreshToken) + lt.AccessToken)
	return p.realm.Tokens.Revoke(ctx, tokens.GrantRevocationID(gid), until)
}

// noStoreHeader marks a token endpoint answer uncacheable, as RFC 6749 §5.1
// requires of every answer that carries tokens (and does no harm on errors);
// it is set before the library writes its answers.
func noStoreHeader(w http.ResponseWriter) { setNoStore(w.Header()) }

// setNoStore sets the headers that forbid caching an answer with secrets.
func setNoStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}
