package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey/latchkey/internal/metrics"
	"github.com/latchkey/latchkey/internal/tokens"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
)

// server is the library's LegacyServer with the methods where Latchkey
// behaves like Keycloak overridden.
type server struct {
	*op.LegacyServer
	p *Provider
}

var _ op.ExtendedLegacyServer = (*server)(nil)

func (s *server) Discovery(context.Context, *op.Request[struct{}]) (*op.Response, error) {
	return op.NewResponse(json.RawMessage(s.p.discovery)), nil
}

func (s *server) Keys(context.Context, *op.Request[struct{}]) (*op.Response, error) {
	return op.NewResponse(json.RawMessage(s.p.realm.Keys.JWKSJSON())), nil
}

// VerifyAuthRequest normalizes the response type (the library compares
// strings exactly), defaults the response mode of implicit and hybrid flows to
// fragment, and lets a Keycloak-style wildcard redirect URI match.
func (s *server) VerifyAuthRequest(ctx context.Context, r *op.Request[oidc.AuthRequest]) (*op.ClientRequest[oidc.AuthRequest], error) {
	// The library turns a failed client lookup into a 500; an unknown client
	// is a bad request, answered here and never redirected.
	if _, ok := s.p.realm.Client(r.Data.ClientID); !ok && r.Data.ClientID != "" {
		return nil, oidc.ErrInvalidRequest().WithDescription("Client not found.")
	}
	if rt := realm.NormalizeResponseType(string(r.Data.ResponseType)); rt != "" {
		r.Data.ResponseType = oidc.ResponseType(rt)
		if r.Data.ResponseMode == "" && rt != "code" {
			r.Data.ResponseMode = oidc.ResponseModeFragment
		}
	}
	cr, err := s.LegacyServer.VerifyAuthRequest(ctx, r)
	if err != nil {
		return nil, err
	}
	if c, ok := s.p.realm.Client(cr.Client.GetID()); ok {
		uri := r.Data.RedirectURI
		if !slices.Contains(c.RedirectURIs, uri) && c.MatchRedirectURI(uri) {
			oc := s.p.opClient(c)
			oc.extraRedirect = uri
			cr.Client = oc
		}
	}
	return cr, nil
}

// Authorize runs after the redirect URI was validated, so its errors are
// delivered to the client. It enforces response modes, nonce and PKCE (S256
// only; required where the client says so), then either reuses the browser's
// SSO session or sends the user to the login page, honouring prompt and max_age.
func (s *server) Authorize(ctx context.Context, cr *op.ClientRequest[oidc.AuthRequest]) (*op.Redirect, error) {
	ar := cr.Data
	c, ok := s.p.realm.Client(cr.Client.GetID())
	if !ok {
		return nil, oidc.ErrInvalidRequest().WithDescription("Client not found.")
	}
	if ar.RequestParam != "" {
		return nil, oidc.ErrRequestNotSupported()
	}
	ap := AuthParams{ClientID: c.ID, RedirectURI: ar.RedirectURI, Scopes: ar.Scopes, ResponseType: string(ar.ResponseType),
		ResponseMode: string(ar.ResponseMode), Nonce: ar.Nonce, CodeChallenge: ar.CodeChallenge,
		CodeChallengeMethod: string(ar.CodeChallengeMethod)}
	switch err := checkParams(c, &ap); {
	case errors.Is(err, ErrResponseTypeOrMode):
		if !c.AllowsResponseType(string(ar.ResponseType)) {
			return nil, oidc.ErrUnauthorizedClient().WithDescription("Client is not allowed to initiate browser login with given response_type.")
		}
		// The response type is fine, so the mode is not: an unknown one, or
		// query for a response type that returns tokens. The error goes back
		// in the response type's default mode, where the client expects it.
		ar.ResponseMode = ""
		if ar.ResponseType != oidc.ResponseTypeCode {
			ar.ResponseMode = oidc.ResponseModeFragment
		}
		return nil, oidc.ErrInvalidRequest().WithDescription("Invalid parameter: response_mode")
	case errors.Is(err, ErrOpenIDScopeRequired):
		return nil, oidc.ErrInvalidScope().WithDescription("Missing openid scope")
	case errors.Is(err, ErrNonceRequired):
		return nil, oidc.ErrInvalidRequest().WithDescription("Missing parameter: nonce")
	case errors.Is(err, ErrPKCE):
		if ap.CodeChallenge == "" && ap.CodeChallengeMethod == "" {
			return nil, oidc.ErrInvalidRequest().WithDescription("Missing parameter: code_challenge_method")
		}
		return nil, oidc.ErrInvalidRequest().WithDescription("Invalid parameter: code_challenge_method (only S256 is supported) or code_challenge")
	case err != nil:
		return nil, oidc.ErrInvalidRequest().WithDescription("Invalid request.")
	}
	ar.ResponseType, ar.ResponseMode = oidc.ResponseType(ap.ResponseType), oidc.ResponseMode(ap.ResponseMode)
	hintSub, err := op.ValidateAuthReqIDTokenHint(ctx, ar.IDTokenHint, s.p.op.IDTokenHintVerifier(ctx))
	if err != nil {
		return nil, err
	}
	a := s.p.newAuthRequest(ar)
	now := s.p.realm.Now()
	sess, user, hasSession := s.p.sessionFromHeader(ctx, cr.Header)
	if hasSession && hintSub != "" && hintSub != user.ID {
		hasSession = false
	}
	if hasSession && ar.MaxAge != nil && now.Sub(sess.AuthTime) >= time.Duration(*ar.MaxAge)*time.Second {
		hasSession = false
	}
	if hasSession {
		a.UserID, a.SessionID, a.AuthTime, a.AMR, a.Done = user.ID, sess.ID, sess.AuthTime, sess.AMR, true
	} else if slices.Contains(ar.Prompt, oidc.PromptNone) {
		return nil, oidc.ErrLoginRequired()
	}
	if err := s.p.realm.Store.CreateAuthRequest(ctx, a); err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	if a.Done {
		return op.NewRedirect(s.p.callbackURL(a.ID)), nil
	}
	return op.NewRedirect(s.p.opClient(c).LoginURL(a.ID)), nil
}

// CodeExchange consumes the code atomically — of concurrent exchanges of one
// code exactly one wins — and requires the PKCE verifier whenever the
// authorization request carried a challenge, whatever the client type.
func (s *server) CodeExchange(ctx context.Context, r *op.ClientRequest[oidc.AccessTokenRequest]) (*op.Response, error) {
	rlm := s.p.realm
	if r.Data.Code == "" || len(r.Data.Code) > 256 {
		return nil, oidc.ErrInvalidRequest().WithDescription("Missing parameter: code")
	}
	t, err := rlm.Store.ConsumeOneTimeToken(ctx, rlm.Name, kindCode, hashSecret(r.Data.Code), rlm.Now())
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrConsumed) || errors.Is(err, storage.ErrExpired) {
			return nil, oidc.ErrInvalidGrant().WithDescription("Code not valid")
		}
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
	resp, err := s.p.tokenResponse(ctx, c, authRequest{a}, "", realm.GrantAuthorizationCode)
	if err != nil {
		return nil, err
	}
	return op.NewResponse(resp), nil
}

// RefreshToken rotates the refresh token; a replayed token revokes its session.
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
	c, _ := s.p.realm.Client(rt.ClientID)
	resp, err := s.p.tokenResponse(ctx, c, &refreshRequest{RefreshToken: rt, scopes: scopes}, r.Data.RefreshToken, realm.GrantRefreshToken)
	if err != nil {
		return nil, err
	}
	if rt.SessionID != "" {
		s.p.touchSession(ctx, rt.SessionID, storage.Session{})
	}
	return op.NewResponse(resp), nil
}

// ClientCredentialsExchange mints the service account's access token: one
// signature, no storage write.
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
		Subject: c.ServiceAccountSubject(), Audience: []string{c.ID}, AuthorizedParty: c.ID, Scopes: scopes,
		Lifespan: s.p.realm.Lifetimes.AccessToken, Roles: roles, Username: c.ServiceAccountSubject(), ClientID: c.ID,
	})
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	metrics.TokensIssued.WithLabelValues(s.p.realm.Name, realm.GrantClientCredentials).Inc()
	return op.NewResponse(&oidc.AccessTokenResponse{
		AccessToken: raw, TokenType: oidc.BearerToken, Scope: scopes,
		ExpiresIn: uint64(claims.Expiry - claims.IssuedAt),
	}), nil
}

// Introspect answers RFC 7662 for the realm's access and refresh tokens, for
// confidential clients.
func (s *server) Introspect(ctx context.Context, r *op.Request[op.IntrospectionRequest]) (*op.Response, error) {
	cc := r.Data.ClientCredentials
	c, ok := s.p.realm.Client(cc.ClientID)
	if !ok || !c.CheckSecret(cc.ClientSecret) {
		return nil, op.NewStatusError(oidc.ErrInvalidClient().WithDescription("Authentication failed."), http.StatusUnauthorized)
	}
	token := r.Data.Token
	inactive := op.NewResponse(map[string]any{"active": false})
	if strings.Count(token, ".") == 2 {
		claims, err := s.p.realm.Tokens.Verify(ctx, token)
		if err != nil {
			if tokens.IsInvalid(err) {
				return inactive, nil
			}
			return nil, oidc.ErrServerError().WithParent(err)
		}
		if claims.Subject != "" && !strings.HasPrefix(claims.Subject, "service-account-") {
			if u, err := s.p.realm.Store.GetUser(ctx, s.p.realm.Name, claims.Subject); err != nil || !u.Enabled {
				return inactive, nil
			}
		}
		return op.NewResponse(introspection(claims)), nil
	}
	rt, err := s.p.loadRefreshTokenQuiet(ctx, token)
	if err != nil {
		return inactive, nil
	}
	return op.NewResponse(map[string]any{
		"active": true, "typ": "Refresh", "token_type": "Refresh", "sub": rt.UserID, "client_id": rt.ClientID,
		"azp": rt.ClientID, "exp": rt.ExpiresAt.Unix(), "iat": rt.CreatedAt.Unix(), "iss": s.p.realm.Issuer,
		"scope": strings.Join(rt.Scopes, " "), "sid": rt.SessionID,
	}), nil
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

// UserInfo accepts every live access token of the realm: OIDC grants' and the
// credential APIs'.
func (s *server) UserInfo(ctx context.Context, r *op.Request[oidc.UserInfoRequest]) (*op.Response, error) {
	unauthorized := op.NewStatusError(oidc.ErrAccessDenied().WithDescription("Token verification failed"), http.StatusUnauthorized)
	claims, err := s.p.realm.Tokens.Verify(ctx, r.Data.AccessToken)
	if err != nil {
		if tokens.IsInvalid(err) {
			return nil, unauthorized
		}
		return nil, oidc.ErrServerError().WithParent(err)
	}
	info := &oidc.UserInfo{Subject: claims.Subject}
	if strings.HasPrefix(claims.Subject, "service-account-") {
		info.PreferredUsername = claims.PreferredUsername
		return op.NewResponse(info), nil
	}
	u, err := s.p.realm.Store.GetUser(ctx, s.p.realm.Name, claims.Subject)
	if err != nil || !u.Enabled {
		return nil, unauthorized
	}
	fillUserInfo(info, u, []string{oidc.ScopeProfile, oidc.ScopeEmail})
	return op.NewResponse(info), nil
}

// Revocation implements RFC 7009 for access tokens (by jti, until expiry) and
// refresh tokens (deleted).
func (s *server) Revocation(ctx context.Context, r *op.ClientRequest[oidc.RevocationRequest]) (*op.Response, error) {
	if err := s.p.revoke(ctx, r.Data.Token, r.Client.GetID()); err != nil {
		return nil, op.RevocationError(oidc.ErrServerError().WithParent(err))
	}
	return op.NewResponse(nil), nil
}

// EndSession ends the browser's SSO session (and the one named by the
// id_token_hint) and redirects only to a registered post-logout URI.
func (s *server) EndSession(ctx context.Context, r *op.Request[oidc.EndSessionRequest]) (*op.Redirect, error) {
	req, err := op.ValidateEndSessionRequest(ctx, r.Data, s.p.op)
	if err != nil {
		return nil, err
	}
	if r.Data.IdTokenHint == "" {
		if _, _, ok := s.p.sessionFromHeader(ctx, r.Header); ok {
			return op.NewRedirect(s.p.logoutConfirmURL(r.Data)), nil
		}
	}
	var sid string
	if req.IDTokenHintClaims != nil {
		sid, _ = req.IDTokenHintClaims.Claims["sid"].(string)
	}
	red := op.NewRedirect(req.RedirectURI)
	s.p.endSession(ctx, r.Header, func(c *http.Cookie) { red.Header.Add("Set-Cookie", c.String()) }, sid)
	return red, nil
}

func (p *Provider) loadRefreshTokenQuiet(ctx context.Context, token string) (storage.RefreshToken, error) {
	rt, err := p.realm.Store.GetRefreshTokenByHash(ctx, p.realm.Name, hashSecret(token))
	if err != nil {
		return storage.RefreshToken{}, err
	}
	if !rt.RotatedAt.IsZero() || !p.realm.Now().Before(rt.ExpiresAt) {
		return storage.RefreshToken{}, storage.ErrExpired
	}
	if rt.SessionID != "" {
		if _, err := p.liveSession(ctx, rt.SessionID); err != nil {
			return storage.RefreshToken{}, err
		}
	}
	return rt, nil
}

func (p *Provider) callbackURL(id string) string {
	return p.realm.Issuer + pathAuth + "/callback?id=" + id
}

// VerifyClient answers failed client authentication with 401, as RFC 6749
// §5.2 asks (the library answers 400).
func (s *server) VerifyClient(ctx context.Context, r *op.Request[op.ClientCredentials]) (op.Client, error) {
	c, err := s.LegacyServer.VerifyClient(ctx, r)
	var oe *oidc.Error
	if err != nil && errors.As(err, &oe) && oe.ErrorType == oidc.InvalidClient {
		return nil, op.NewStatusError(oe, http.StatusUnauthorized)
	}
	return c, err
}
