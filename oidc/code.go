package oidc

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
)

// CodeExchange consumes the code atomically — of concurrent exchanges of one
// code exactly one wins — and requires the PKCE verifier whenever the
// authorization request carried a challenge, whatever the client type. A
// replayed code revokes the grant it started (RFC 6749 §4.1.2): the access
// and refresh tokens already issued from it stop working.
func (s *server) CodeExchange(ctx context.Context, r *op.ClientRequest[oidc.AccessTokenRequest]) (*op.Response, error) {
	rlm := s.p.realm
	code := r.Data.Code
	if code == "" || len(code) > 256 {
		return nil, oidc.ErrInvalidRequest().WithDescription("Missing parameter: code")
	}
	t, err := rlm.Store.ConsumeOneTimeToken(ctx, rlm.Name, kindCode, hashSecret(code), rlm.Now())
	switch {
	case errors.Is(err, storage.ErrConsumed):
		if err := s.p.revokeGrant(ctx, grantIDOfCode(code)); err != nil {
			return nil, oidc.ErrServerError().WithParent(err)
		}
		s.p.opts.Logger.WarnContext(ctx, "authorization code replayed; its grant was revoked",
			"realm", rlm.Name, "client_id", r.Client.GetID())
		return nil, oidc.ErrInvalidGrant().WithDescription("Code not valid")
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrExpired):
		return nil, oidc.ErrInvalidGrant().WithDescription("Code not valid")
	case err != nil:
		return nil, oidc.ErrServerError().WithParent(err)
	}
	a, err := rlm.Store.GetAuthRequest(ctx, rlm.Name, string(t.Payload))
	if err != nil {
		return nil, oidc.ErrInvalidGrant().WithDescription("Code not valid")
	}
	defer func() { _ = rlm.Store.DeleteAuthRequest(context.WithoutCancel(ctx), rlm.Name, a.ID) }()
	if r.Client.GetID() != a.ClientID {
		return nil, oidc.ErrInvalidGrant().WithDescription("Code not valid")
	}
	if r.Data.RedirectURI != a.RedirectURI {
		return nil, oidc.ErrInvalidGrant().WithDescription("Incorrect redirect_uri")
	}
	switch {
	case a.CodeChallenge != "" && r.Data.CodeVerifier == "":
		return nil, oidc.ErrInvalidGrant().WithDescription("PKCE code verifier not specified")
	case a.CodeChallenge != "":
		if err := op.AuthorizeCodeChallenge(r.Data.CodeVerifier, &oidc.CodeChallenge{
			Challenge: a.CodeChallenge, Method: oidc.CodeChallengeMethod(a.CodeChallengeMethod)}); err != nil {
			return nil, oidc.ErrInvalidGrant().WithDescription("PKCE verification failed")
		}
	case r.Data.CodeVerifier != "":
		return nil, oidc.ErrInvalidGrant().WithDescription("PKCE verification failed: code challenge not present in the authorization request")
	}
	if a.SessionID != "" {
		if _, err := s.p.liveSession(ctx, a.SessionID); err != nil {
			return nil, oidc.ErrInvalidGrant().WithDescription("Session not active")
		}
	}
	c, _ := rlm.Client(a.ClientID)
	resp, err := s.p.tokenResponse(ctx, c, authRequest{a}, grant{id: grantIDOfCode(code), name: realm.GrantAuthorizationCode})
	if err != nil {
		return nil, err
	}
	return op.NewResponse(resp), nil
}

// grantIDOfCode derives the grant id from the code, so that a replay — which
// finds only a consumed code — can name the grant to revoke without storing
// anything more. The code is a 256-bit secret; its hash reveals nothing.
func grantIDOfCode(code string) string {
	sum := sha256.Sum256([]byte("latchkey-grant\x00" + code))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}
