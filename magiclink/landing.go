package magiclink

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/latchkey/latchkey/internal/platform/httpx"
	"github.com/latchkey/latchkey/internal/platform/ui"
	"github.com/latchkey/latchkey/oidc"
)

// landing is one request to the landing page of a realm. The domain steps
// are the Service's (Peek, Redeem, RedeemReset); landing only renders.
type landing struct {
	h  *Handler
	p  *oidc.Provider
	w  http.ResponseWriter
	r  *http.Request
	ok bool // the browser came over https (cookie and HSTS flags)
}

// serveLanding is GET,POST {realm}/kobil-magic-link/login. GET shows the
// confirm page without using the link (mail scanners prefetch links); the
// CSRF-protected POST uses it. With magicLink.confirmPage off, GET uses it at
// once. A POST carrying "reset" is the set-password step.
func (h *Handler) serveLanding(w http.ResponseWriter, r *http.Request) {
	l := &landing{h: h, w: w, r: r, ok: h.Proxies.IsHTTPS(r)}
	p, ok := h.Service.provider(mux.Vars(r)["realm"])
	if !ok {
		ui.Render(w, l.ok, http.StatusNotFound, "info.html", ui.Page{Title: "Link not valid", Heading: "This sign-in link is not valid",
			Message: "The link does not belong to any sign-in service here. Ask the application for a new link."})
		return
	}
	l.p = p
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		key := r.URL.Query().Get("key")
		if !p.Realm().MagicLink.ConfirmPage {
			l.redeem(key)
			return
		}
		l.confirm(key, http.StatusOK, "")
	case http.MethodPost:
		if err := r.ParseForm(); err != nil {
			l.info(http.StatusBadRequest, "Sign-in failed", "The form could not be read. Open the link from your email again.")
			return
		}
		if r.PostForm.Has("reset") {
			l.setPassword(r.PostFormValue("reset"))
			return
		}
		key := r.PostFormValue("key")
		if !h.CSRF.Valid(r, csrfPurpose(kindLink, key)) {
			l.confirm(key, http.StatusForbidden, "This page had expired. Press the button again to continue.")
			return
		}
		l.redeem(key)
	default:
		w.Header().Set("Allow", "GET, POST")
		l.info(http.StatusMethodNotAllowed, "Not allowed", "Open the link from your email in a browser.")
	}
}

// csrfPurpose binds a form's CSRF token to one link (by hash: the purpose is
// not secret, but there is no reason to spread the key).
func csrfPurpose(kind, key string) string { return kind + ":" + hashKey(key) }

// confirm renders the "Continue as …" page for a live link.
func (l *landing) confirm(key string, status int, errMsg string) {
	rl := l.p.Realm()
	pending, err := l.h.Service.Peek(l.r.Context(), rl, kindLink, key)
	if err != nil {
		l.unusable(kindLink, err)
		return
	}
	ui.Render(l.w, l.ok, status, "confirm.html", ui.Page{
		Title: "Sign in", Heading: "Confirm your sign-in", RealmName: rl.DisplayName,
		Message: "You are about to sign in as " + pending.Email + ". The link can be used once.",
		Error:   errMsg, Email: pending.Email, Action: rl.Issuer + LandingPath,
		CSRF: l.h.CSRF.Token(l.w, l.r, csrfPurpose(kindLink, key)), Fields: map[string]string{"key": key},
		// The POST answers with a redirect to the client (query, fragment),
		// which the page's CSP form-action must allow.
		FormTargets: []string{ui.FormTarget(pending.RedirectURI)},
	})
}

// redeem uses the link, then either asks for a new password or signs the
// user in.
func (l *landing) redeem(key string) {
	red, err := l.h.Service.Redeem(l.r.Context(), l.p.Realm(), key)
	if err != nil {
		l.unusable(kindLink, err)
		return
	}
	if red.ResetKey != "" {
		l.passwordForm(red.ResetKey, red.Pending, http.StatusOK, "")
		return
	}
	l.finish(red)
}

// finish starts the SSO session and writes the authorization response the
// client asked for (query, fragment or form_post).
func (l *landing) finish(red Redemption) {
	ctx := l.r.Context()
	if red.Params.ClientID == "" { // an actions link without a client: nothing to sign in to
		l.h.Logger.InfoContext(ctx, "magic link used for required actions", "realm", l.p.Realm().Name, "user_id", red.User.ID)
		l.info(http.StatusOK, "Account updated", "Your account has been updated. You can close this page.")
		return
	}
	sess, err := l.p.StartSession(ctx, l.w, l.r, red.User, []string{"email"})
	if err != nil {
		l.fault("start session", err)
		return
	}
	if err := l.p.Complete(l.w, l.r, red.Params, red.User, sess); err != nil {
		l.fault("complete authorization", err)
		return
	}
	l.h.Logger.InfoContext(ctx, "magic link used", "realm", l.p.Realm().Name, "client_id", red.Params.ClientID,
		"user_id", red.User.ID, "response_type", red.Params.ResponseType, "response_mode", red.Params.ResponseMode)
}

// unusable renders the page for a link that cannot be used: 404 for an
// unknown key, 410 for a used, replaced or expired one, 403 for a disabled
// account, 400 when the client no longer accepts it; faults get a retry page.
func (l *landing) unusable(kind string, err error) {
	rl := l.p.Realm()
	what, again := "link", "Ask the application to send you a new sign-in link."
	if kind == kindReset {
		what = "page"
		again = "Open the most recent link from your email, or ask the application for a new one."
	}
	var reason string
	switch {
	case errors.Is(err, ErrLinkUnknown):
		reason = reasonUnknown
		l.info(http.StatusNotFound, "Link not valid", fmt.Sprintf("This sign-in %s is not valid. Check that you opened the whole link from your email. %s", what, again))
	case errors.Is(err, ErrLinkSuperseded):
		reason = reasonSuperseded
		l.info(http.StatusGone, "Link replaced", "A newer sign-in link was sent to you, so this one no longer works. Use the most recent email.")
	case errors.Is(err, ErrUserDisabled):
		reason = reasonUsed
		l.info(http.StatusForbidden, "Account disabled", "This account is disabled. Contact the administrator of "+rl.DisplayName+".")
	case errors.Is(err, ErrLinkUsed):
		reason = reasonUsed
		l.info(http.StatusGone, "Link already used", fmt.Sprintf("This sign-in %s was already used. Each link works only once. %s", what, again))
	case errors.Is(err, ErrLinkExpired):
		reason = reasonExpired
		l.info(http.StatusGone, "Link expired", fmt.Sprintf("This sign-in %s has expired. %s", what, again))
	case errors.Is(err, ErrClientChanged):
		l.info(http.StatusBadRequest, "Link no longer valid",
			"The application this link was for no longer accepts it. Ask the application for a new sign-in link.")
		return
	default:
		l.fault("use magic link", err)
		return
	}
	if kind == kindLink {
		landingFailures.WithLabelValues(rl.Name, reason).Inc()
	}
}

func (l *landing) info(status int, heading, msg string) {
	page := ui.Page{Title: heading, Heading: heading, Message: msg}
	if l.p != nil {
		page.RealmName = l.p.Realm().DisplayName
	}
	ui.Render(l.w, l.ok, status, "info.html", page)
}

// fault logs an unexpected error with the request id and shows a page that
// asks to try again, never the error itself.
func (l *landing) fault(what string, err error) {
	ctx := l.r.Context()
	l.h.Logger.ErrorContext(ctx, "magic link landing: "+what, "realm", l.p.Realm().Name, "error", err, "request_id", httpx.RequestID(ctx))
	l.info(http.StatusInternalServerError, "Something went wrong", "We could not finish signing you in. Please try again in a moment.")
}
