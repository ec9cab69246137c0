package oidc

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey/latchkey/internal/crypto/tokens"
	"github.com/latchkey/latchkey/storage"
)

// Revocation implements RFC 7009: an access token is revoked by its jti
// until it expires; a refresh token is deleted and its grant revoked, which
// ends the grant's access tokens too (§2.1). Anything it cannot use — an
// unknown, expired or foreign token, an ID token — gets 200 and changes
// nothing (§2.2).
func (s *server) Revocation(ctx context.Context, r *op.ClientRequest[oidc.RevocationRequest]) (*op.Response, error) {
	if err := s.p.revoke(ctx, r.Data.Token, r.Client.GetID()); err != nil {
		return nil, op.RevocationError(oidc.ErrServerError().WithParent(err))
	}
	return op.NewResponse(nil), nil
}

// revoke ends a token the requesting client holds. Tokens issued to another
// client are left alone (RFC 7009 §2.1).
func (p *Provider) revoke(ctx context.Context, token, clientID string) error {
	if strings.Count(token, ".") == 2 && !p.isRefreshJWT(token) {
		c, expired, err := p.realm.Tokens.ParseHint(token)
		if err != nil || expired || c.ID == "" || !p.mayRevoke(c.AuthorizedParty, clientID) {
			return nil
		}
		switch tokens.Classify(c) {
		case tokens.KindAccess, tokens.KindAPI, tokens.KindLink:
			return p.realm.Tokens.Revoke(ctx, c.ID, c.ExpiresAt())
		}
		return nil // an ID token (or anything else) is not revocable
	}
	if token == "" || len(token) > maxRefreshTokenLen {
		return nil
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
	if err := p.realm.Store.DeleteRefreshToken(ctx, p.realm.Name, rt.ID); err != nil {
		return fmt.Errorf("delete refresh token: %w", err)
	}
	return p.revokeGrant(ctx, rt.GrantID)
}

// mayRevoke reports whether clientID may revoke an access token whose azp is
// azp. A token issued to a client of the realm belongs to that client alone
// (RFC 7009 §2.1). A token whose azp names no client of the realm — the
// password credential APIs' and application links' tokens — has no owner to
// protect, so any authenticated client of the realm may revoke it: knowing
// the token already grants everything revoking it takes away.
func (p *Provider) mayRevoke(azp, clientID string) bool {
	if azp == clientID {
		return true
	}
	_, owned := p.realm.Client(azp)
	return !owned
}
