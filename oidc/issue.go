package oidc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey/latchkey/internal/metrics"
	"github.com/latchkey/latchkey/internal/tokens"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
)

// refreshSource is what tokens are issued from: a completed authorization
// request or a refresh token being rotated.
type refreshSource interface {
	op.IDTokenRequest
	sessionID() string
}

// mintUserAccess mints an access token for a user, Keycloak-shaped.
func (p *Provider) mintUserAccess(ctx context.Context, u storage.User, clientID string, scopes []string, sid, grant string) (string, *tokens.Claims, error) {
	roles := u.Roles
	if roles == nil {
		roles = []string{}
	}
	raw, c, err := p.realm.Tokens.Mint(ctx, tokens.Spec{
		Subject: u.ID, Audience: []string{clientID}, AuthorizedParty: clientID, SessionID: sid,
		Scopes: scopes, Lifespan: p.realm.Lifetimes.AccessToken, Roles: roles,
		Email: u.Email, EmailVerified: &u.EmailVerified, Username: u.Username,
	})
	if err != nil {
		return "", nil, fmt.Errorf("mint access token: %w", err)
	}
	metrics.TokensIssued.WithLabelValues(p.realm.Name, grant).Inc()
	return raw, c, nil
}

// issueRefreshToken stores a new refresh token for src; when current is set
// it is rotated atomically (exactly one concurrent rotation wins).
func (p *Provider) issueRefreshToken(ctx context.Context, src refreshSource, current string) (string, error) {
	now := p.realm.Now()
	value := newSecret(32)
	rt := storage.RefreshToken{
		Realm: p.realm.Name, ID: newSecret(16), Hash: hashSecret(value), ClientID: src.GetClientID(),
		UserID: src.GetSubject(), SessionID: src.sessionID(), Scopes: src.GetScopes(),
		Audience: src.GetAudience(), AuthTime: src.GetAuthTime(), AMR: src.GetAMR(),
		CreatedAt: now, ExpiresAt: now.Add(p.realm.Lifetimes.RefreshToken),
	}
	if rt.SessionID != "" {
		if s, err := p.liveSession(ctx, rt.SessionID); err == nil && s.ExpiresAt.Before(rt.ExpiresAt) {
			rt.ExpiresAt = s.ExpiresAt
		}
	}
	var err error
	if current == "" {
		err = p.realm.Store.CreateRefreshToken(ctx, rt)
	} else {
		err = p.realm.Store.RotateRefreshToken(ctx, p.realm.Name, hashSecret(current), rt, now)
	}
	switch {
	case errors.Is(err, storage.ErrConsumed):
		p.revokeFamily(ctx, current)
		return "", oidc.ErrInvalidGrant().WithDescription("Stale token")
	case errors.Is(err, storage.ErrExpired), errors.Is(err, storage.ErrNotFound):
		return "", oidc.ErrInvalidGrant().WithDescription("Invalid refresh token")
	case err != nil:
		return "", fmt.Errorf("store refresh token: %w", err)
	}
	return value, nil
}

// loadRefreshToken finds a usable refresh token. A token that was already
// rotated is a replay: as Keycloak does with refresh-token revocation on, the
// whole session (or, without one, the user's tokens of that client) is revoked.
func (p *Provider) loadRefreshToken(ctx context.Context, token string) (storage.RefreshToken, error) {
	if token == "" || len(token) > 256 {
		return storage.RefreshToken{}, oidc.ErrInvalidGrant().WithDescription("Invalid refresh token")
	}
	rt, err := p.realm.Store.GetRefreshTokenByHash(ctx, p.realm.Name, hashSecret(token))
	if errors.Is(err, storage.ErrNotFound) {
		return storage.RefreshToken{}, oidc.ErrInvalidGrant().WithDescription("Invalid refresh token")
	}
	if err != nil {
		return storage.RefreshToken{}, fmt.Errorf("load refresh token: %w", err)
	}
	now := p.realm.Now()
	if !rt.RotatedAt.IsZero() {
		p.revokeFamily(ctx, token)
		return storage.RefreshToken{}, oidc.ErrInvalidGrant().WithDescription("Stale token")
	}
	if !now.Before(rt.ExpiresAt) {
		return storage.RefreshToken{}, oidc.ErrInvalidGrant().WithDescription("Token is not active")
	}
	if rt.SessionID != "" {
		if _, err := p.liveSession(ctx, rt.SessionID); err != nil {
			return storage.RefreshToken{}, oidc.ErrInvalidGrant().WithDescription("Session not active")
		}
	}
	return rt, nil
}

// revokeFamily ends everything a replayed refresh token could lead to.
func (p *Provider) revokeFamily(ctx context.Context, token string) {
	rt, err := p.realm.Store.GetRefreshTokenByHash(ctx, p.realm.Name, hashSecret(token))
	if err != nil {
		return
	}
	if rt.SessionID != "" {
		err = p.realm.Store.DeleteSession(ctx, p.realm.Name, rt.SessionID)
	} else {
		err = p.realm.Store.DeleteRefreshTokensOf(ctx, p.realm.Name, rt.UserID, rt.ClientID)
	}
	p.opts.Logger.WarnContext(ctx, "refresh token replay detected; session revoked",
		"realm", p.realm.Name, "client_id", rt.ClientID, "user_id", rt.UserID, "error", err)
}

// tokenResponse issues the access token, the refresh token (for clients with
// the grant, whether or not offline_access was asked for, like Keycloak) and,
// for openid requests, the ID token.
func (p *Provider) tokenResponse(ctx context.Context, c *realm.Client, src refreshSource, currentRefresh, grant string) (*oidc.AccessTokenResponse, error) {
	u, err := p.realm.Store.GetUser(ctx, p.realm.Name, src.GetSubject())
	if err != nil || !u.Enabled {
		return nil, oidc.ErrInvalidGrant().WithDescription("User not found or disabled")
	}
	access, claims, err := p.mintUserAccess(ctx, u, c.ID, src.GetScopes(), src.sessionID(), grant)
	if err != nil {
		return nil, err
	}
	resp := &oidc.AccessTokenResponse{
		AccessToken: access, TokenType: oidc.BearerToken, Scope: src.GetScopes(),
		ExpiresIn: uint64(claims.Expiry - claims.IssuedAt),
	}
	if c.AllowsGrant(realm.GrantRefreshToken) {
		if resp.RefreshToken, err = p.issueRefreshToken(ctx, src, currentRefresh); err != nil {
			return nil, err
		}
	}
	if slices.Contains(src.GetScopes(), oidc.ScopeOpenID) {
		ctx = op.ContextWithIssuer(ctx, p.realm.Issuer)
		resp.IDToken, err = op.CreateIDToken(ctx, p.realm.Issuer, src, p.realm.Lifetimes.IDToken, access, "", p.storage, p.opClient(c))
		if err != nil {
			return nil, fmt.Errorf("create ID token: %w", err)
		}
	}
	return resp, nil
}

// revoke ends a token the requesting client holds: a JWT access token's id is
// recorded as revoked until it expires; a refresh token is deleted. Tokens
// issued to another client are left alone (RFC 7009 §2.1), and unknown or
// invalid tokens are not an error (§2.2).
func (p *Provider) revoke(ctx context.Context, token, clientID string) error {
	if strings.Count(token, ".") == 2 {
		c, err := p.realm.Tokens.VerifySignature(token)
		if err != nil || !p.mayRevoke(c.AuthorizedParty, clientID) {
			return nil
		}
		return p.realm.Tokens.Revoke(ctx, c.ID, c.ExpiresAt())
	}
	rt, err := p.realm.Store.GetRefreshTokenByHash(ctx, p.realm.Name, hashSecret(token))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("load refresh token: %w", err)
	case rt.ClientID != clientID:
		return nil
	}
	return p.realm.Store.DeleteRefreshToken(ctx, p.realm.Name, rt.ID)
}
