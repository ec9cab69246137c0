package oidc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey/latchkey/internal/crypto/tokens"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
)

const (
	kindCode = "code"
	// codeLifespan is Keycloak's default "Client login timeout": a code must be
	// exchanged within a minute.
	codeLifespan = time.Minute
	// authRequestLifespan is Keycloak's default "Login timeout".
	authRequestLifespan = 30 * time.Minute
)

// hashSecret is how every secret (codes, refresh tokens, session cookies) is
// stored: hex SHA-256. The secrets are 256-bit random, so no salt or stretching is needed.
func hashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// opStorage adapts one realm to op.Storage. Every lookup is scoped to the realm.
type opStorage struct {
	p *Provider
}

var (
	_ op.Storage                   = (*opStorage)(nil)
	_ op.ClientCredentialsStorage  = (*opStorage)(nil)
	_ op.CanSetUserinfoFromRequest = (*opStorage)(nil)
)

func (s *opStorage) realm() *realm.Realm { return s.p.realm }

// notFound marks lookup failures so the library answers 4xx, not 500.
type notFound struct{ error }

func (notFound) IsNotFound() {}

func (s *opStorage) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	a := s.p.newAuthRequest(req)
	if err := s.realm().Store.CreateAuthRequest(ctx, a); err != nil {
		return nil, fmt.Errorf("create auth request in realm %q: %w", s.realm().Name, err)
	}
	return authRequest{a}, nil
}

func (s *opStorage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	a, err := s.realm().Store.GetAuthRequest(ctx, s.realm().Name, id)
	if err != nil {
		return nil, notFound{fmt.Errorf("auth request: %w", err)}
	}
	return authRequest{a}, nil
}

func (s *opStorage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	t, err := s.realm().Store.PeekOneTimeToken(ctx, s.realm().Name, kindCode, hashSecret(code))
	if err != nil || !t.ConsumedAt.IsZero() || !s.realm().Now().Before(t.ExpiresAt) {
		return nil, oidc.ErrInvalidGrant().WithDescription("Code not valid")
	}
	return s.AuthRequestByID(ctx, string(t.Payload))
}

func (s *opStorage) SaveAuthCode(ctx context.Context, id, code string) error {
	a, err := s.realm().Store.GetAuthRequest(ctx, s.realm().Name, id)
	if err != nil {
		return fmt.Errorf("save code: %w", err)
	}
	return s.p.saveCode(ctx, a, code)
}

// saveCode stores a code (hashed) for a completed authorization request; it
// expires after codeLifespan and dies with its user (Subject).
func (p *Provider) saveCode(ctx context.Context, a storage.AuthRequest, code string) error {
	now := p.realm.Now()
	return p.realm.Store.IssueOneTimeToken(ctx, storage.OneTimeToken{
		Realm: p.realm.Name, Kind: kindCode, Hash: hashSecret(code), Subject: a.UserID,
		Payload: []byte(a.ID), CreatedAt: now, ExpiresAt: now.Add(codeLifespan),
	})
}

func (s *opStorage) DeleteAuthRequest(ctx context.Context, id string) error {
	return s.realm().Store.DeleteAuthRequest(ctx, s.realm().Name, id)
}

func (s *opStorage) CreateAccessToken(_ context.Context, req op.TokenRequest) (string, time.Time, error) {
	return tokens.NewID(), s.realm().Now().Add(s.realm().Lifetimes.AccessToken), nil
}

func (s *opStorage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	src, ok := req.(refreshSource)
	if !ok {
		return "", "", time.Time{}, oidc.ErrInvalidRequest().WithDescription("refresh tokens are not issued for this request")
	}
	refresh, _, err := s.p.issueRefreshToken(ctx, src, grant{id: newSecret(16), name: realm.GrantRefreshToken, currentRefresh: current})
	if err != nil {
		return "", "", time.Time{}, err
	}
	return tokens.NewID(), refresh, s.realm().Now().Add(s.realm().Lifetimes.AccessToken), nil
}

func (s *opStorage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	rt, err := s.p.loadRefreshToken(ctx, token)
	if err != nil {
		return nil, err
	}
	return &refreshRequest{RefreshToken: rt, scopes: rt.Scopes}, nil
}

func (s *opStorage) TerminateSession(ctx context.Context, userID, clientID string) error {
	return s.realm().Store.DeleteRefreshTokensOf(ctx, s.realm().Name, userID, clientID)
}

func (s *opStorage) RevokeToken(ctx context.Context, tokenOrID, _ string, clientID string) *oidc.Error {
	if err := s.p.revoke(ctx, tokenOrID, clientID); err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	return nil
}

func (s *opStorage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	rt, err := s.realm().Store.GetRefreshTokenByHash(ctx, s.realm().Name, hashSecret(token))
	if err != nil || rt.ClientID != clientID {
		return "", "", op.ErrInvalidRefreshToken
	}
	return rt.UserID, rt.ID, nil
}

func (s *opStorage) SigningKey(context.Context) (op.SigningKey, error) {
	k := s.realm().Keys.Active()
	if k == nil {
		return nil, errors.New("no active signing key")
	}
	return signingKey{id: k.ID, alg: k.Algorithm, key: k.Private}, nil
}

func (s *opStorage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return s.realm().Keys.Algorithms(), nil
}

func (s *opStorage) KeySet(context.Context) ([]op.Key, error) {
	all := s.realm().Keys.All()
	out := make([]op.Key, 0, len(all))
	for _, k := range all {
		out = append(out, signingKey{id: k.ID, alg: k.Algorithm, key: k.Public})
	}
	return out, nil
}

func (s *opStorage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	c, ok := s.realm().Client(id)
	if !ok {
		return nil, notFound{fmt.Errorf("client %q not found in realm %q", id, s.realm().Name)}
	}
	return s.p.opClient(c), nil
}

func (s *opStorage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	c, ok := s.realm().Client(id)
	if !ok || !c.CheckSecret(secret) {
		return oidc.ErrInvalidClient().WithDescription("Invalid client or Invalid client credentials")
	}
	return nil
}

func (s *opStorage) ClientCredentials(_ context.Context, id, secret string) (op.Client, error) {
	c, ok := s.realm().Client(id)
	if !ok || !c.CheckSecret(secret) {
		return nil, oidc.ErrInvalidClient().WithDescription("Invalid client or Invalid client credentials")
	}
	return s.p.opClient(c), nil
}

func (s *opStorage) ClientCredentialsTokenRequest(_ context.Context, id string, scopes []string) (op.TokenRequest, error) {
	return &oidc.JWTTokenRequest{Subject: "service-account-" + id, Audience: []string{id}, Scopes: scopes}, nil
}

// SetUserinfoFromScopes is deprecated in the library; SetUserinfoFromRequest does the work.
func (s *opStorage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

func (s *opStorage) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	u, err := s.realm().Store.GetUser(ctx, s.realm().Name, req.GetSubject())
	if err != nil {
		return fmt.Errorf("load user for ID token: %w", err)
	}
	fillUserInfo(info, u, scopes)
	if sr, ok := req.(interface{ sessionID() string }); ok && sr.sessionID() != "" {
		info.AppendClaims("sid", sr.sessionID())
	}
	// This is only ever called for ID tokens: say so (Keycloak's typ), so the
	// token gate can never take one for a bearer token.
	info.AppendClaims("typ", tokens.TypeID)
	return nil
}

func (s *opStorage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, _, subject, _ string) error {
	u, err := s.realm().Store.GetUser(ctx, s.realm().Name, subject)
	if err != nil {
		return fmt.Errorf("load user for userinfo: %w", err)
	}
	fillUserInfo(info, u, []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail})
	return nil
}

func (s *opStorage) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, _, subject, clientID string) error {
	resp.Subject = subject
	resp.ClientID = clientID
	return nil
}

func (s *opStorage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetKeyByIDAndClientID serves only the library's JWT bearer grant, which
// Latchkey does not offer; client assertions are checked by
// authenticateClient (clientauth.go).
func (s *opStorage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("the JWT bearer grant is not supported")
}

func (s *opStorage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("the JWT profile grant is not supported")
}

func (s *opStorage) Health(ctx context.Context) error { return s.realm().Store.Ping(ctx) }
