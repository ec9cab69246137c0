package oidc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey/latchkey/internal/crypto/tokens"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
)

// RefreshToken rotates the refresh token. A narrower scope narrows only the
// access token issued now (RFC 6749 §6); the rotated refresh token keeps the
// grant's scopes. A replayed (already rotated) token revokes its session.
func (s *server) RefreshToken(ctx context.Context, r *op.ClientRequest[oidc.RefreshTokenRequest]) (*op.Response, error) {
	rt, err := s.p.loadRefreshToken(ctx, r.Data.RefreshToken)
	if err != nil {
		return nil, err
	}
	if rt.ClientID != r.Client.GetID() {
		return nil, oidc.ErrInvalidGrant().WithDescription("Invalid refresh token. Token client and authorized client don't match")
	}
	scopes := rt.Scopes
	if len(r.Data.Scopes) > 0 {
		for _, sc := range r.Data.Scopes {
			if !slices.Contains(rt.Scopes, sc) {
				return nil, oidc.ErrInvalidScope().WithDescription("Invalid scopes: %s", sc)
			}
		}
		scopes = r.Data.Scopes
	}
	gid := rt.GrantID
	if gid == "" { // a token stored before grants had ids starts one now
		gid = newSecret(16)
	}
	c, _ := s.p.realm.Client(rt.ClientID)
	resp, err := s.p.tokenResponse(ctx, c, &refreshRequest{RefreshToken: rt, scopes: scopes},
		grant{id: gid, name: realm.GrantRefreshToken, currentRefresh: r.Data.RefreshToken})
	if err != nil {
		return nil, err
	}
	if rt.SessionID != "" {
		s.p.touchSession(ctx, rt.SessionID, storage.Session{})
	}
	return op.NewResponse(resp), nil
}

// issueRefreshToken stores a new refresh token of the grant for src; when
// g.currentRefresh is set it is rotated atomically (exactly one concurrent
// rotation wins). It returns the token and its expiry.
func (p *Provider) issueRefreshToken(ctx context.Context, src refreshSource, g grant) (string, time.Time, error) {
	now := p.realm.Now()
	rt := storage.RefreshToken{
		Realm: p.realm.Name, ID: newSecret(16), ClientID: src.GetClientID(),
		UserID: src.GetSubject(), SessionID: src.sessionID(), GrantID: g.id, Scopes: src.grantScopes(),
		Audience: src.GetAudience(), AuthTime: src.GetAuthTime(), AMR: src.GetAMR(),
		CreatedAt: now, ExpiresAt: now.Add(p.realm.Lifetimes.RefreshToken),
	}
	if src.offline() {
		// An offline token is bound to no browser session, so that it
		// outlives logout; each use starts its idle time again.
		rt.Offline, rt.SessionID = true, ""
		rt.ExpiresAt = now.Add(p.realm.Lifetimes.OfflineIdle)
	} else if rt.SessionID != "" {
		if s, err := p.liveSession(ctx, rt.SessionID); err == nil && s.ExpiresAt.Before(rt.ExpiresAt) {
			rt.ExpiresAt = s.ExpiresAt
		}
	}
	value, err := p.signRefreshToken(ctx, rt)
	if err != nil {
		return "", time.Time{}, err
	}
	rt.Hash = hashSecret(value)
	if g.currentRefresh == "" {
		err = p.realm.Store.CreateRefreshToken(ctx, rt)
	} else {
		err = p.realm.Store.RotateRefreshToken(ctx, p.realm.Name, hashSecret(g.currentRefresh), rt, now)
	}
	switch {
	case errors.Is(err, storage.ErrConsumed):
		p.revokeFamily(ctx, g.currentRefresh)
		return "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("Stale token")
	case errors.Is(err, storage.ErrExpired), errors.Is(err, storage.ErrNotFound):
		return "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("Invalid refresh token")
	case err != nil:
		return "", time.Time{}, fmt.Errorf("store refresh token: %w", err)
	}
	return value, rt.ExpiresAt, nil
}

// loadRefreshToken finds a usable refresh token for the token endpoint. A
// token that was already rotated is a replay: as Keycloak does with
// refresh-token revocation on, the whole session (or, without one, the
// user's tokens of that client) is revoked.
func (p *Provider) loadRefreshToken(ctx context.Context, token string) (storage.RefreshToken, error) {
	if token == "" || len(token) > maxRefreshTokenLen {
		return storage.RefreshToken{}, oidc.ErrInvalidGrant().WithDescription("Invalid refresh token")
	}
	rt, err := p.realm.Store.GetRefreshTokenByHash(ctx, p.realm.Name, hashSecret(token))
	if errors.Is(err, storage.ErrNotFound) {
		return storage.RefreshToken{}, oidc.ErrInvalidGrant().WithDescription("Invalid refresh token")
	}
	if err != nil {
		return storage.RefreshToken{}, fmt.Errorf("load refresh token: %w", err)
	}
	if !rt.RotatedAt.IsZero() {
		p.revokeFamily(ctx, token)
		return storage.RefreshToken{}, oidc.ErrInvalidGrant().WithDescription("Stale token")
	}
	switch err := p.checkRefreshToken(ctx, rt); {
	case errors.Is(err, storage.ErrExpired):
		return storage.RefreshToken{}, oidc.ErrInvalidGrant().WithDescription("Token is not active")
	case errors.Is(err, errSessionEnded):
		return storage.RefreshToken{}, oidc.ErrInvalidGrant().WithDescription("Session not active")
	case err != nil:
		return storage.RefreshToken{}, err
	}
	return rt, nil
}

// errSessionEnded means a refresh token's browser session is over.
var errSessionEnded = errors.New("session ended")

// checkRefreshToken is the one liveness rule of a stored, unrotated refresh
// token, for the token, introspection and logout endpoints: not expired, its
// grant not revoked, its session (if any) alive.
func (p *Provider) checkRefreshToken(ctx context.Context, rt storage.RefreshToken) error {
	if !p.realm.Now().Before(rt.ExpiresAt) {
		return storage.ErrExpired
	}
	// A client removed from the config, or no longer allowed to refresh,
	// holds no live refresh token.
	if c, ok := p.realm.Client(rt.ClientID); !ok || !c.AllowsGrant(realm.GrantRefreshToken) {
		return storage.ErrExpired
	}
	if rt.GrantID != "" {
		revoked, err := p.realm.Store.IsTokenIDRevoked(ctx, p.realm.Name, tokens.GrantRevocationID(rt.GrantID))
		if err != nil {
			return fmt.Errorf("check grant revocation: %w", err)
		}
		if revoked {
			return storage.ErrExpired
		}
	}
	if rt.SessionID != "" {
		if _, err := p.liveSession(ctx, rt.SessionID); errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrExpired) {
			return errSessionEnded
		} else if err != nil {
			return fmt.Errorf("check session: %w", err)
		}
	}
	return nil
}

// findRefreshToken returns a live, unrotated refresh token without the
// replay handling of the token endpoint (introspection and logout only look).
func (p *Provider) findRefreshToken(ctx context.Context, token string) (storage.RefreshToken, error) {
	if token == "" || len(token) > maxRefreshTokenLen {
		return storage.RefreshToken{}, storage.ErrNotFound
	}
	rt, err := p.realm.Store.GetRefreshTokenByHash(ctx, p.realm.Name, hashSecret(token))
	if err != nil {
		return storage.RefreshToken{}, err
	}
	if !rt.RotatedAt.IsZero() {
		return storage.RefreshToken{}, storage.ErrConsumed
	}
	if err := p.checkRefreshToken(ctx, rt); err != nil {
		return storage.RefreshToken{}, err
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
		err = p.realm.EndSession(ctx, rt.SessionID)
	} else {
		err = p.realm.Store.DeleteRefreshTokensOf(ctx, p.realm.Name, rt.UserID, rt.ClientID)
	}
	err = errors.Join(err, p.revokeGrant(ctx, rt.GrantID))
	p.opts.Logger.WarnContext(ctx, "refresh token replay detected; session revoked",
		"realm", p.realm.Name, "client_id", rt.ClientID, "user_id", rt.UserID, "error", err)
}
