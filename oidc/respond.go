package oidc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey/latchkey/internal/platform/ui"
	"github.com/latchkey/latchkey/storage"
)

// Complete finishes an authorization for a user who authenticated outside
// the authorization endpoint (a magic link): it records a completed
// authorization request for params and writes the response the authorization
// endpoint would have written — code, tokens or both, by query, fragment or
// form_post. params must have passed ValidateParams.
//
// When params name a device grant (DeviceRequestID, from the login page of
// that grant), Complete approves it instead and shows the "device connected"
// page; a grant that can no longer be approved gets a page saying so.
func (p *Provider) Complete(w http.ResponseWriter, r *http.Request, params AuthParams, user storage.User, sess storage.Session) error {
	if params.DeviceRequestID != "" {
		if !p.deviceBound(r, params.DeviceRequestID) {
			p.renderDeviceUnbound(w, r) // see device_binding.go
			return nil
		}
		a, err := p.approveDevice(r.Context(), params.DeviceRequestID, params.ClientID, user, sess)
		switch {
		case errors.Is(err, errDeviceSettled), errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrExpired):
			ui.Render(w, p.opts.Proxies.IsHTTPS(r), http.StatusBadRequest, "info.html", ui.Page{
				Title: "Device not connected", Heading: "This device sign-in has ended", RealmName: p.realm.DisplayName,
				Message: "The code from your device expired or was already used. Start again on the device."})
			return nil
		case err != nil:
			return fmt.Errorf("approve device grant: %w", err)
		}
		p.renderDeviceConnected(w, r, a)
		return nil
	}
	now := p.realm.Now()
	a := storage.AuthRequest{
		Realm: p.realm.Name, ID: newSecret(18), ClientID: params.ClientID, RedirectURI: params.RedirectURI,
		Scopes: params.Scopes, ResponseType: params.ResponseType, ResponseMode: params.ResponseMode,
		State: params.State, Nonce: params.Nonce, CodeChallenge: params.CodeChallenge,
		CodeChallengeMethod: params.CodeChallengeMethod, UserID: user.ID, SessionID: sess.ID,
		AuthTime: sess.AuthTime, AMR: sess.AMR, Done: true, CreatedAt: now, ExpiresAt: now.Add(authRequestLifespan),
	}
	if err := p.realm.Store.CreateAuthRequest(r.Context(), a); err != nil {
		return fmt.Errorf("store completed auth request: %w", err)
	}
	return p.respond(w, r, a)
}

// authorizeCallback is where the login page (or an SSO hit) sends the browser
// once the authorization request is done. The request must come from the
// browser that holds the request's session.
func (p *Provider) authorizeCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	secure := p.opts.Proxies.IsHTTPS(r)
	a, err := p.realm.Store.GetAuthRequest(ctx, p.realm.Name, r.URL.Query().Get("id"))
	if err != nil || !a.Done {
		p.renderExpiredLogin(w, r)
		return
	}
	if s, ok := p.sessionFromCookie(ctx, r); !ok || s.ID != a.SessionID {
		ui.Render(w, secure, http.StatusBadRequest, "info.html", ui.Page{Title: "Sign-in failed", Heading: "Sign-in failed",
			RealmName: p.realm.DisplayName, Message: "Your browser session does not match this sign-in. Go back to the application and sign in again."})
		return
	}
	if err := p.respond(w, r, a); err != nil {
		p.opts.Logger.ErrorContext(ctx, "complete authorization", "realm", p.realm.Name, "client_id", a.ClientID, "error", err)
		ui.Render(w, secure, http.StatusInternalServerError, "info.html", ui.Page{Title: "Error", Heading: "Something went wrong",
			RealmName: p.realm.DisplayName, Message: "We could not finish signing you in. Please try again."})
	}
}

// respond builds the authorization response of a completed request, then
// writes it. A device grant has no redirect URI and never yields a code: its
// login ends on the "device connected" page, and the device polls for the
// tokens.
func (p *Provider) respond(w http.ResponseWriter, r *http.Request, a storage.AuthRequest) error {
	if a.Device {
		p.renderDeviceConnected(w, r, a)
		return nil
	}
	resp, err := p.authResponse(r.Context(), a)
	if err != nil {
		return err
	}
	resp.write(w, r, p.opts.Proxies.IsHTTPS(r))
	return nil
}

// authResponse is an authorization response ready to be delivered.
type authResponse struct {
	redirectURI string
	mode        string // query, fragment or form_post
	params      url.Values
}

// authResponse issues what a completed request's response type asks for —
// a code, an access token, an ID token — under the request's issuer. For
// response types with a code the request stays stored until the code is
// exchanged; otherwise it is deleted now.
func (p *Provider) authResponse(ctx context.Context, a storage.AuthRequest) (authResponse, error) {
	if a.Device {
		return authResponse{}, errors.New("a device grant has no authorization response")
	}
	iss := p.issuer(ctx)
	ctx = op.ContextWithIssuer(ctx, iss)
	c, ok := p.realm.Client(a.ClientID)
	if !ok {
		return authResponse{}, fmt.Errorf("client %q vanished", a.ClientID)
	}
	parts := strings.Fields(a.ResponseType)
	params := url.Values{}
	var code, access string
	if slices.Contains(parts, "code") {
		code = newSecret(32)
		if err := p.saveCode(ctx, a, code); err != nil {
			return authResponse{}, err
		}
		params.Set("code", code)
	}
	if slices.Contains(parts, "token") || slices.Contains(parts, "id_token") {
		u, err := p.realm.Store.GetUser(ctx, p.realm.Name, a.UserID)
		if err != nil || !u.Enabled {
			return authResponse{}, fmt.Errorf("load user %q: %w", a.UserID, errors.Join(err, errUserDisabled(u)))
		}
		if err := p.joinSession(ctx, a.SessionID, c.ID); err != nil {
			return authResponse{}, err
		}
		if slices.Contains(parts, "token") {
			raw, claims, err := p.mintUserAccess(ctx, u, c.ID, a.Scopes, a.SessionID, grant{name: "implicit"})
			if err != nil {
				return authResponse{}, err
			}
			access = raw
			params.Set("access_token", raw)
			params.Set("token_type", "Bearer")
			params.Set("expires_in", strconv.FormatInt(claims.Expiry-claims.IssuedAt, 10))
		}
		if slices.Contains(parts, "id_token") {
			idt, err := p.mintIDToken(ctx, u, authRequest{a}, c.ID, access, code)
			if err != nil {
				return authResponse{}, err
			}
			params.Set("id_token", idt)
		}
	}
	if code == "" {
		_ = p.realm.Store.DeleteAuthRequest(ctx, p.realm.Name, a.ID)
	}
	if a.State != "" {
		params.Set("state", a.State)
	}
	params.Set("iss", iss) // RFC 9207, as Keycloak sends it
	mode := a.ResponseMode
	if mode == "" {
		mode = ModeFragment
		if a.ResponseType == "code" {
			mode = ModeQuery
		}
	}
	return authResponse{redirectURI: a.RedirectURI, mode: mode, params: params}, nil
}

// errUserDisabled is nil for an enabled user.
func errUserDisabled(u storage.User) error {
	if u.ID != "" && !u.Enabled {
		return errors.New("user disabled")
	}
	return nil
}

// write delivers the response: a redirect with the parameters in the query
// or the fragment, or an auto-submitting form. The redirect URI was
// validated against the client before the request was stored.
func (a authResponse) write(w http.ResponseWriter, r *http.Request, secure bool) {
	if a.mode == ModeFormPost {
		ui.FormPost(w, secure, a.redirectURI, a.params)
		return
	}
	target, err := url.Parse(a.redirectURI)
	if err != nil { // cannot happen for a validated URI; never redirect blindly
		ui.Render(w, secure, http.StatusBadRequest, "info.html", ui.Page{Title: "Error", Heading: "Sign-in failed",
			Message: "The application's redirect address is not valid."})
		return
	}
	if a.mode == ModeQuery {
		q := target.Query()
		for k, v := range a.params {
			q[k] = v
		}
		target.RawQuery = q.Encode()
	} else {
		target = &url.URL{Scheme: target.Scheme, Opaque: target.Opaque, User: target.User, Host: target.Host,
			Path: target.Path, RawPath: target.RawPath, RawQuery: target.RawQuery}
	}
	loc := target.String()
	if a.mode == ModeFragment {
		loc += "#" + a.params.Encode()
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, loc, http.StatusFound)
}

func (p *Provider) renderExpiredLogin(w http.ResponseWriter, r *http.Request) {
	ui.Render(w, p.opts.Proxies.IsHTTPS(r), http.StatusBadRequest, "info.html", ui.Page{
		Title: "Sign-in expired", Heading: "This sign-in page has expired", RealmName: p.realm.DisplayName,
		Message: "Sign-in pages are valid for a limited time. Go back to the application and sign in again."})
}
