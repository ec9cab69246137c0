package oidc

import (
	"context"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey/latchkey/internal/crypto/tokens"
	"github.com/latchkey/latchkey/internal/platform/metrics"
	"github.com/latchkey/latchkey/realm"
)

// ClientCredentialsExchange mints the service account's access token: one
// signature, no storage write. As in Keycloak, no refresh token is issued.
func (s *server) ClientCredentialsExchange(ctx context.Context, r *op.ClientRequest[oidc.ClientCredentialsRequest]) (*op.Response, error) {
	c, ok := s.p.realm.Client(r.Client.GetID())
	if !ok || c.Public {
		return nil, oidc.ErrUnauthorizedClient().WithDescription("Public client not allowed to retrieve service account")
	}
	var scopes []string
	for _, sc := range r.Data.Scope {
		if sc == oidc.ScopeProfile || sc == oidc.ScopeEmail || sc == "roles" {
			scopes = append(scopes, sc)
		}
	}
	roles := c.ServiceAccountRoles
	if roles == nil {
		roles = []string{}
	}
	raw, claims, err := s.p.realm.Tokens.Mint(ctx, tokens.Spec{
		Issuer: s.p.issuer(ctx), Subject: c.ServiceAccountSubject(), Audience: []string{c.ID}, AuthorizedParty: c.ID,
		Scopes: scopes, Lifespan: s.p.realm.Lifetimes.AccessToken, Roles: roles, Username: c.ServiceAccountSubject(), ClientID: c.ID,
	})
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	metrics.TokensIssued.WithLabelValues(s.p.realm.Name, realm.GrantClientCredentials).Inc()
	return op.NewResponse(&tokenResponse{
		AccessToken: raw, TokenType: oidc.BearerToken, ExpiresIn: claims.Expiry - claims.IssuedAt,
		Scope: claims.Scope,
	}), nil
}
