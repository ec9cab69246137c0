package oidc

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey/latchkey/internal/platform/ui"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
)

// pathLogoutConfirm is where RP-initiated logout asks the user first, as
// Keycloak does, whenever the request does not prove it comes from the
// application of the browser's session: without that proof any site could
// sign the user out with a link.
const pathLogoutConfirm = "/login-actions/logout"

// logoutParams are the end-session parameters carried through the page.
var logoutParams = []string{"client_id", "post_logout_redirect_uri", "state"}

// endSessionRequest is a validated RP-initiated logout request.
type endSessionRequest struct {
	clientID string
	// redirect is where the browser goes afterwards: the registered
	// post_logout_redirect_uri (with state), or the "signed out" page.
	redirect string
	// hint is the verified id_token_hint, if one was sent.
	hint *idTokenHint
}

// validateEndSession checks an end-session request: the hint (either
// issuer, expired allowed), the client (a client mistake is a 400, never a
// 500) and the post-logout redirect URI (registered ones only).
func (p *Provider) validateEndSession(ctx context.Context, req *oidc.EndSessionRequest) (endSessionRequest, error) {
	end := endSessionRequest{clientID: req.ClientID, redirect: p.issuer(ctx) + pathLoggedOut}
	if req.IdTokenHint != "" {
		h, err := p.parseIDTokenHint(req.IdTokenHint)
		if err != nil {
			return endSessionRequest{}, oidc.ErrInvalidRequest().WithDescription("Invalid parameter: id_token_hint")
		}
		if end.clientID != "" && end.clientID != h.claims.AuthorizedParty {
			return endSessionRequest{}, oidc.ErrInvalidRequest().WithDescription("Parameter client_id does not match the id_token_hint")
		}
		end.clientID, end.hint = h.claims.AuthorizedParty, &h
	}
	var client *realm.Client
	if end.clientID != "" {
		c, ok := p.realm.Client(end.clientID)
		if !ok {
			return endSessionRequest{}, oidc.ErrInvalidRequest().WithDescription("Invalid parameter: client_id")
		}
		client = c
	}
	if uri := req.PostLogoutRedirectURI; uri != "" {
		switch {
		case client == nil:
			return endSessionRequest{}, oidc.ErrInvalidRequest().WithDescription("Missing parameters: id_token_hint or client_id")
		case !client.MatchPostLogoutRedirectURI(uri):
			return endSessionRequest{}, oidc.ErrInvalidRequest().WithDescription("Invalid redirect uri")
		}
		end.redirect = uri
		if req.State != "" {
			u, err := url.Parse(uri)
			if err != nil {
				return endSessionRequest{}, oidc.ErrInvalidRequest().WithDescription("Invalid redirect uri")
			}
			q := u.Query()
			q.Set("state", req.State)
			u.RawQuery = q.Encode()
			end.redirect = u.String()
		}
	}
	return end, nil
}

// provesSession reports whether the request's id_token_hint shows that it
// comes from the application of this browser session: an unexpired ID token
// of the same user and the same session. Anything less (no hint, another
// user's or session's hint, an expired one) earns a confirmation page.
func (e endSessionRequest) provesSession(sess storage.Session, user storage.User) bool {
	h := e.hint
	return h != nil && !h.expired && h.claims.Subject == user.ID && h.claims.SessionID == sess.ID
}

// EndSession is RP-initiated logout. It ends the browser's SSO session only
// when the id_token_hint proves the request comes from that session's
// application; otherwise it asks the user. A browser without a session is
// simply sent on. A hint never ends a session the browser does not hold.
func (s *server) EndSession(ctx context.Context, r *op.Request[oidc.EndSessionRequest]) (*op.Redirect, error) {
	end, err := s.p.validateEndSession(ctx, r.Data)
	if err != nil {
		return nil, err
	}
	sess, user, ok := s.p.sessionFromHeader(ctx, r.Header)
	if ok && !end.provesSession(sess, user) {
		q := *r.Data
		q.ClientID = end.clientID
		return op.NewRedirect(s.p.logoutConfirmURL(ctx, &q)), nil
	}
	red := op.NewRedirect(end.redirect)
	s.p.endSession(ctx, r.Header, func(c *http.Cookie) { red.Header.Add("Set-Cookie", c.String()) })
	return red, nil
}

// logoutConfirmURL is the confirmation page for an end-session request.
func (p *Provider) logoutConfirmURL(ctx context.Context, req *oidc.EndSessionRequest) string {
	q := url.Values{}
	for k, v := range map[string]string{"client_id": req.ClientID, "post_logout_redirect_uri": req.PostLogoutRedirectURI, "state": req.State} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return p.issuer(ctx) + pathLogoutConfirm + "?" + q.Encode()
}

// serveLogoutConfirm shows the "Sign out?" page (GET) and, on its
// CSRF-checked POST, ends the session and redirects like end_session would.
func (p *Provider) serveLogoutConfirm(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	secure := p.opts.Proxies.IsHTTPS(r)
	if err := r.ParseForm(); err != nil {
		ui.Render(w, secure, http.StatusBadRequest, "info.html", ui.Page{Title: "Sign out", Heading: "Sign out",
			RealmName: p.realm.DisplayName, Error: "The request could not be read."})
		return
	}
	req := &oidc.EndSessionRequest{ClientID: r.Form.Get("client_id"),
		PostLogoutRedirectURI: r.Form.Get("post_logout_redirect_uri"), State: r.Form.Get("state")}
	end, err := p.validateEndSession(ctx, req)
	if err != nil {
		ui.Render(w, secure, http.StatusBadRequest, "info.html", ui.Page{Title: "Sign out", Heading: "Sign out failed",
			RealmName: p.realm.DisplayName, Error: "This sign-out request is not valid for the application."})
		return
	}
	const purpose = "logout"
	if r.Method == http.MethodPost && p.opts.CSRF.Valid(r, purpose) {
		p.endSession(ctx, r.Header, func(c *http.Cookie) { http.SetCookie(w, c) })
		http.Redirect(w, r, end.redirect, http.StatusFound)
		return
	}
	page := ui.Page{Title: "Sign out", Heading: "Sign out of " + p.realm.DisplayName, RealmName: p.realm.DisplayName,
		Message: "Do you want to sign out?", Action: p.issuer(ctx) + pathLogoutConfirm,
		CSRF: p.opts.CSRF.Token(w, r, purpose), Fields: map[string]string{},
		FormTargets: []string{ui.FormTarget(end.redirect)}}
	for _, k := range logoutParams {
		if v := r.Form.Get(k); v != "" {
			page.Fields[k] = v
		}
	}
	status := http.StatusOK
	if r.Method == http.MethodPost {
		status, page.Error = http.StatusForbidden, "Your sign-out form expired. Please try again."
	}
	ui.Render(w, secure, status, "logout.html", page)
}

// isRefreshTokenLogout reports whether a logout request is Keycloak's
// back-channel form (a POST carrying refresh_token), which keycloak-connect,
// python-keycloak and Spring send. The form is parsed under the body cap.
func isRefreshTokenLogout(r *http.Request) bool {
	return r.Method == http.MethodPost && r.PostFormValue("refresh_token") != ""
}

// serveLogoutByRefreshToken is Keycloak's logout by refresh token: an
// authenticated client ends the session its refresh token belongs to (or,
// for a token without a session, that token's grant) and gets 204.
func (p *Provider) serveLogoutByRefreshToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	oauthError := func(status int, code, desc string) {
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="`+p.realm.Name+`"`)
		}
		writeOAuthError(w, status, code, desc)
	}
	c, err := p.authenticateClient(ctx, r.PostForm, r.Header)
	if err != nil {
		var ae *clientAuthError
		if !errors.As(err, &ae) {
			ae = &clientAuthError{status: http.StatusInternalServerError, err: oidc.ErrServerError().WithDescription("Logout failed")}
		}
		code := string(ae.err.ErrorType)
		if ae.status == http.StatusUnauthorized {
			code = "unauthorized_client" // Keycloak's answer here
		}
		oauthError(ae.status, code, ae.err.Description)
		return
	}
	rt, err := p.findRefreshToken(ctx, r.PostFormValue("refresh_token"))
	switch {
	case err != nil && isGone(err), err == nil && rt.ClientID != c.ID:
		oauthError(http.StatusBadRequest, "invalid_grant", "Invalid refresh token")
		return
	case err != nil:
		p.opts.Logger.ErrorContext(ctx, "logout by refresh token", "realm", p.realm.Name, "error", err)
		oauthError(http.StatusInternalServerError, "server_error", "Logout failed")
		return
	}
	if rt.SessionID != "" {
		err = p.realm.EndSession(ctx, rt.SessionID)
	} else {
		err = p.realm.Store.DeleteRefreshToken(ctx, p.realm.Name, rt.ID)
	}
	if err = errors.Join(err, p.revokeGrant(ctx, rt.GrantID)); err != nil {
		p.opts.Logger.ErrorContext(ctx, "logout by refresh token", "realm", p.realm.Name, "error", err)
		oauthError(http.StatusInternalServerError, "server_error", "Logout failed")
		return
	}
	p.opts.Logger.InfoContext(ctx, "session ended by refresh token", "realm", p.realm.Name, "client_id", c.ID, "user_id", rt.UserID)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}
