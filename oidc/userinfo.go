package oidc

import (
	"context"
	"net/http"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey/latchkey/internal/crypto/tokens"
	"github.com/latchkey/latchkey/storage"
)

// userinfoKinds are the tokens userinfo answers: every access token of the
// realm, including link tokens (they name their user), never an ID token.
const userinfoKinds = tokens.Bearer | tokens.KindLink

// UserInfo answers for the token's subject, through the token gate.
func (s *server) UserInfo(ctx context.Context, r *op.Request[oidc.UserInfoRequest]) (*op.Response, error) {
	pr, err := s.p.realm.Gate(ctx, r.Data.AccessToken, userinfoKinds)
	if err != nil {
		if tokens.IsInvalid(err) {
			return nil, op.NewStatusError(oidc.ErrAccessDenied().WithDescription("Token verification failed"), http.StatusUnauthorized)
		}
		return nil, oidc.ErrServerError().WithParent(err)
	}
	info := &oidc.UserInfo{Subject: pr.Subject()}
	if pr.Client != nil {
		info.PreferredUsername = pr.Claims.PreferredUsername
		return op.NewResponse(info), nil
	}
	// Only what the token's scopes grant (OIDC Core §5.4): a token narrowed
	// to "openid" gets the subject alone.
	fillUserInfo(info, pr.User, pr.Claims.Scopes())
	return op.NewResponse(info), nil
}

// fillUserInfo sets the standard claims a scope grants, as Keycloak's default
// client scopes do. email_verified is always present with the email scope,
// false included (the library's struct would omit false).
func fillUserInfo(info *oidc.UserInfo, u storage.User, scopes []string) {
	info.Subject = u.ID
	for _, sc := range scopes {
		switch sc {
		case oidc.ScopeProfile:
			info.PreferredUsername = u.Username
		case oidc.ScopeEmail:
			info.Email = u.Email
			info.EmailVerified = oidc.Bool(u.EmailVerified)
			info.AppendClaims("email_verified", u.EmailVerified)
		}
	}
}
