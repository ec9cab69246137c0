package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey/latchkey/internal/crypto/tokens"
	"github.com/latchkey/latchkey/storage"
)

// introspectionKinds are the JWTs introspection reports active: access, API
// and link tokens. An ID token is never active (it is not a bearer token).
const introspectionKinds = tokens.Bearer | tokens.KindLink

// Introspect answers RFC 7662 for the realm's access and refresh tokens, for
// confidential clients. Whatever the gate refuses is {"active": false}.
func (s *server) Introspect(ctx context.Context, r *op.Request[op.IntrospectionRequest]) (*op.Response, error) {
	cc := r.Data.ClientCredentials
	c, ok := s.p.realm.Client(cc.ClientID)
	if !ok || !c.CheckSecret(cc.ClientSecret) {
		return nil, op.NewStatusError(oidc.ErrInvalidClient().WithDescription("Authentication failed."), http.StatusUnauthorized)
	}
	token := r.Data.Token
	inactive := op.NewResponse(map[string]any{"active": false})
	if strings.Count(token, ".") == 2 && !s.p.isRefreshJWT(token) {
		pr, err := s.p.realm.Gate(ctx, token, introspectionKinds)
		if err != nil {
			if tokens.IsInvalid(err) {
				return inactive, nil
			}
			return nil, oidc.ErrServerError().WithParent(err)
		}
		return op.NewResponse(introspection(pr.Claims)), nil
	}
	rt, err := s.p.findRefreshToken(ctx, token)
	if err != nil {
		if isGone(err) {
			return inactive, nil
		}
		return nil, oidc.ErrServerError().WithParent(err)
	}
	if u, err := s.p.realm.Store.GetUser(ctx, s.p.realm.Name, rt.UserID); err != nil || !u.Enabled {
		return inactive, nil
	}
	typ := typRefresh
	if rt.Offline {
		typ = typOffline
	}
	return op.NewResponse(map[string]any{
		"active": true, "typ": typ, "token_type": typ, "sub": rt.UserID, "client_id": rt.ClientID,
		"azp": rt.ClientID, "exp": rt.ExpiresAt.Unix(), "iat": rt.CreatedAt.Unix(), "iss": s.p.issuer(ctx),
		"scope": strings.Join(rt.Scopes, " "), "sid": rt.SessionID,
	}), nil
}

// isGone reports whether err means a stored token is not (or no longer)
// usable, as opposed to a storage fault.
func isGone(err error) bool {
	return errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrExpired) ||
		errors.Is(err, storage.ErrConsumed) || errors.Is(err, errSessionEnded)
}

func introspection(c *tokens.Claims) map[string]any {
	b, _ := json.Marshal(c)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	m["active"] = true
	m["token_type"] = "Bearer"
	if c.AuthorizedParty != "" {
		m["client_id"] = c.AuthorizedParty
	}
	if c.PreferredUsername != "" {
		m["username"] = c.PreferredUsername
	}
	return m
}
