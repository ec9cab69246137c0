package oidc

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey/latchkey/internal/crypto/tokens"
	"github.com/latchkey/latchkey/realm"
)

// VerifyAuthRequest normalizes the response type (the library compares
// strings exactly), defaults the response mode of implicit and hybrid flows to
// fragment, and lets a Keycloak-style wildcard redirect URI match.
func (s *server) VerifyAuthRequest(ctx context.Context, r *op.Request[oidc.AuthRequest]) (*op.ClientRequest[oidc.AuthRequest], error) {
	// The library turns a failed client lookup into a 500; an unknown client
	// is a bad request, answered here and never redirected.
	if _, ok := s.p.realm.Client(r.Data.ClientID); !ok && r.Data.ClientID != "" {
		return nil, oidc.ErrInvalidRequest().WithDescription("Client not found.")
	}
	// A redirect URI with control characters or spaces is never registered
	// and never redirected to (a wildcard prefix would otherwise match it).
	if strings.IndexFunc(r.Data.RedirectURI, func(c rune) bool { return unicode.IsControl(c) || unicode.IsSpace(c) }) >= 0 {
		return nil, oidc.ErrInvalidRequest().WithDescription("Invalid parameter: redirect_uri")
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
// SSO session or sends the user to the login page, honouring prompt, max_age
// and id_token_hint.
func (s *server) Authorize(ctx context.Context, cr *op.ClientRequest[oidc.AuthRequest]) (*op.Redirect, error) {
	ar := cr.Data
	c, ok := s.p.realm.Client(cr.Client.GetID())
	if !ok {
		return nil, oidc.ErrInvalidRequest().WithDescription("Client not found.")
	}
	if ar.RequestParam != "" {
		return nil, oidc.ErrRequestNotSupported()
	}
	// The library's decoder has no field for request_uri, so it would be
	// dropped silently and the request served without the parameters it
	// points to; OIDC Core §6.3 asks an OP without support to say so.
	if cr.Form.Get("request_uri") != "" {
		return nil, &oidc.Error{ErrorType: "request_uri_not_supported", Description: "request_uri is not supported"}
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
	var hintSub string
	if ar.IDTokenHint != "" {
		hint, err := s.p.parseIDTokenHint(ar.IDTokenHint)
		if err != nil {
			return nil, oidc.ErrLoginRequired().WithDescription("The id_token_hint is invalid.")
		}
		hintSub = hint.claims.Subject
	}
	// Each authorization request is stored: the realm's per-IP budget
	// bounds how fast one client IP can make them, as it bounds logins.
	switch ok, _, err := s.p.allowIP(ctx, "authorize"); {
	case err != nil:
		return nil, oidc.ErrServerError().WithParent(err)
	case !ok:
		return nil, &oidc.Error{ErrorType: "temporarily_unavailable", Description: "Too many requests; try again later"}
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
		return op.NewRedirect(s.p.callbackURL(ctx, a.ID)), nil
	}
	return op.NewRedirect(s.p.loginURL(ctx, a.ID)), nil
}

// idTokenHint is a verified id_token_hint. Expired hints are kept (they still
// name a user and a session) but must never authorize anything.
type idTokenHint struct {
	claims  *tokens.Claims
	expired bool
}

// parseIDTokenHint verifies a hint's signature and issuer (either of the
// realm's) and that it is an ID token; expiry is reported, not refused.
func (p *Provider) parseIDTokenHint(raw string) (idTokenHint, error) {
	c, expired, err := p.realm.Tokens.ParseHint(raw)
	if err != nil {
		return idTokenHint{}, err
	}
	if tokens.Classify(c) != tokens.KindID {
		return idTokenHint{}, tokens.ErrWrongKind
	}
	return idTokenHint{claims: c, expired: expired}, nil
}

func (p *Provider) callbackURL(ctx context.Context, id string) string {
	return p.issuer(ctx) + pathAuth + "/callback?id=" + id
}
