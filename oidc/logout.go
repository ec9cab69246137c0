package oidc

import (
	"net/http"
	"net/url"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey/latchkey/internal/ui"
)

// pathLogoutConfirm is where RP-initiated logout without an id_token_hint
// asks the user first, as Keycloak does: without proof that the request comes
// from the user's application, any site could sign the user out with a link.
const pathLogoutConfirm = "/login-actions/logout"

// logoutParams are the end-session parameters carried through the page.
var logoutParams = []string{"client_id", "post_logout_redirect_uri", "state"}

// logoutConfirmURL is the confirmation page for an end-session request.
func (p *Provider) logoutConfirmURL(req *oidc.EndSessionRequest) string {
	q := url.Values{}
	for k, v := range map[string]string{"client_id": req.ClientID, "post_logout_redirect_uri": req.PostLogoutRedirectURI, "state": req.State} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return p.realm.Issuer + pathLogoutConfirm + "?" + q.Encode()
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
	end, err := op.ValidateEndSessionRequest(op.ContextWithIssuer(ctx, p.realm.Issuer), req, p.op)
	if err != nil {
		ui.Render(w, secure, http.StatusBadRequest, "info.html", ui.Page{Title: "Sign out", Heading: "Sign out failed",
			RealmName: p.realm.DisplayName, Error: "This sign-out request is not valid for the application."})
		return
	}
	const purpose = "logout"
	if r.Method == http.MethodPost && p.opts.CSRF.Valid(r, purpose) {
		p.endSession(ctx, r.Header, func(c *http.Cookie) { http.SetCookie(w, c) }, "")
		http.Redirect(w, r, end.RedirectURI, http.StatusFound)
		return
	}
	page := ui.Page{Title: "Sign out", Heading: "Sign out of " + p.realm.DisplayName, RealmName: p.realm.DisplayName,
		Message: "Do you want to sign out?", Action: p.realm.Issuer + pathLogoutConfirm,
		CSRF: p.opts.CSRF.Token(w, r, purpose), Fields: map[string]string{},
		FormTargets: []string{ui.FormTarget(end.RedirectURI)}}
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
