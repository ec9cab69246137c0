package magiclink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/latchkey/latchkey/internal/platform/httpx"
	"github.com/latchkey/latchkey/internal/platform/ui"
	"github.com/latchkey/latchkey/oidc"
	"github.com/latchkey/latchkey/storage"
)

// landing is one request to the landing page of a realm.
type landing struct {
	h  *Handler
	p  *oidc.Provider
	w  http.ResponseWriter
	r  *http.Request
	ok bool // the browser came over https (cookie and HSTS flags)
}

// serveLanding is GET,POST {realm}/kobil-magic-link/login. GET shows the
// confirm page without consuming the link (mail scanners prefetch links);
// the CSRF-protected POST consumes it. With magicLink.confirmPage off, GET
// consumes at once. A POST carrying "reset" is the set-password step.
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
			l.consume(key)
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
		l.consume(key)
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
	t, ok := l.lookup(kindLink, key)
	if !ok {
		return
	}
	pl, err := decodePayload(t.Payload)
	if err != nil {
		l.fault("decode magic link", err)
		return
	}
	ui.Render(l.w, l.ok, status, "confirm.html", ui.Page{
		Title: "Sign in", Heading: "Confirm your sign-in", RealmName: rl.DisplayName,
		Message: "You are about to sign in as " + pl.Email + ". The link can be used once.",
		Error:   errMsg, Email: pl.Email, Action: rl.Issuer + LandingPath,
		CSRF: l.h.CSRF.Token(l.w, l.r, csrfPurpose(kindLink, key)), Fields: map[string]string{"key": key},
		// The POST answers with a redirect to the client (query, fragment),
		// which the page's CSP form-action must allow.
		FormTargets: []string{ui.FormTarget(pl.RedirectURI)},
	})
}

// lookup peeks at a token and renders the friendly page when it is unusable.
func (l *landing) lookup(kind, key string) (storage.OneTimeToken, bool) {
	rl := l.p.Realm()
	if !validKey(key) {
		l.unusable(kind, storage.ErrNotFound, storage.OneTimeToken{})
		return storage.OneTimeToken{}, false
	}
	t, err := rl.Store.PeekOneTimeToken(l.r.Context(), rl.Name, kind, hashKey(key))
	switch {
	case err != nil:
		l.unusable(kind, err, t)
		return t, false
	case !t.ConsumedAt.IsZero() || t.Superseded:
		l.unusable(kind, storage.ErrConsumed, t)
		return t, false
	case !rl.Now().Before(t.ExpiresAt):
		l.unusable(kind, storage.ErrExpired, t)
		return t, false
	}
	return t, true
}

// consume redeems a link: exactly one of concurrent requests gets here with
// a live token, the others see it used.
func (l *landing) consume(key string) {
	rl := l.p.Realm()
	ctx := l.r.Context()
	if !validKey(key) {
		l.unusable(kindLink, storage.ErrNotFound, storage.OneTimeToken{})
		return
	}
	t, err := rl.Store.ConsumeOneTimeToken(ctx, rl.Name, kindLink, hashKey(key), rl.Now())
	if err != nil {
		if errors.Is(err, storage.ErrConsumed) {
			t, _ = rl.Store.PeekOneTimeToken(ctx, rl.Name, kindLink, hashKey(key))
		}
		l.unusable(kindLink, err, t)
		return
	}
	linksConsumed.WithLabelValues(rl.Name).Inc()
	pl, params, user, ok := l.redeemable(t)
	if !ok {
		return
	}
	if _, err := rl.Store.UpdateUser(ctx, rl.Name, user.ID, func(u storage.User) (storage.User, error) {
		if !u.EmailVerified {
			u.EmailVerified, u.UpdatedAt = true, rl.Now()
		}
		return u, nil
	}); err != nil {
		l.fault("mark email verified", err)
		return
	}
	user.EmailVerified = true
	if pl.ResetPassword {
		l.askPassword(t, pl)
		return
	}
	l.finish(params, user)
}

// redeemable decodes a consumed token and checks that what it completes is
// still allowed: the client and its redirect URI and response type against
// today's configuration, and the user still present and enabled.
func (l *landing) redeemable(t storage.OneTimeToken) (payload, oidc.AuthParams, storage.User, bool) {
	rl := l.p.Realm()
	pl, err := decodePayload(t.Payload)
	if err != nil {
		l.fault("decode magic link", err)
		return payload{}, oidc.AuthParams{}, storage.User{}, false
	}
	params := pl.params()
	if err := l.p.ValidateParams(&params); err != nil {
		l.h.Logger.WarnContext(l.r.Context(), "magic link no longer matches the client configuration",
			"realm", rl.Name, "client_id", pl.ClientID, "error", err)
		l.info(http.StatusBadRequest, "Link no longer valid",
			"The application this link was for no longer accepts it. Ask the application for a new sign-in link.")
		return payload{}, oidc.AuthParams{}, storage.User{}, false
	}
	u, err := rl.Store.GetUser(l.r.Context(), rl.Name, t.Subject)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		l.fault("load user", err)
		return payload{}, oidc.AuthParams{}, storage.User{}, false
	}
	if err != nil || !u.Enabled {
		l.info(http.StatusForbidden, "Account disabled", "This account is disabled. Contact the administrator of "+rl.DisplayName+".")
		return payload{}, oidc.AuthParams{}, storage.User{}, false
	}
	return pl, params, u, true
}

// finish starts the SSO session and writes the authorization response the
// client asked for (query, fragment or form_post).
func (l *landing) finish(params oidc.AuthParams, user storage.User) {
	ctx := l.r.Context()
	sess, err := l.p.StartSession(ctx, l.w, l.r, user, []string{"email"})
	if err != nil {
		l.fault("start session", err)
		return
	}
	if err := l.p.Complete(l.w, l.r, params, user, sess); err != nil {
		l.fault("complete authorization", err)
		return
	}
	l.h.Logger.InfoContext(ctx, "magic link used", "realm", l.p.Realm().Name, "client_id", params.ClientID,
		"user_id", user.ID, "response_type", params.ResponseType, "response_mode", params.ResponseMode)
}

// unusable renders the page for a link that cannot be used: 404 for an
// unknown key, 410 for a used, replaced or expired one.
func (l *landing) unusable(kind string, err error, t storage.OneTimeToken) {
	rl := l.p.Realm()
	what, again := "link", "Ask the application to send you a new sign-in link."
	if kind == kindReset {
		what = "page"
		again = "Open the most recent link from your email, or ask the application for a new one."
	}
	var reason string
	switch {
	case errors.Is(err, storage.ErrNotFound):
		reason = reasonUnknown
		l.info(http.StatusNotFound, "Link not valid", fmt.Sprintf("This sign-in %s is not valid. Check that you opened the whole link from your email. %s", what, again))
	case errors.Is(err, storage.ErrConsumed) && t.Superseded:
		reason = reasonSuperseded
		l.info(http.StatusGone, "Link replaced", "A newer sign-in link was sent to you, so this one no longer works. Use the most recent email.")
	case errors.Is(err, storage.ErrConsumed) && l.userDisabled(t.Subject):
		// Disabling a user revokes their links; say why rather than "used".
		reason = reasonUsed
		l.info(http.StatusForbidden, "Account disabled", "This account is disabled. Contact the administrator of "+rl.DisplayName+".")
	case errors.Is(err, storage.ErrConsumed):
		reason = reasonUsed
		l.info(http.StatusGone, "Link already used", fmt.Sprintf("This sign-in %s was already used. Each link works only once. %s", what, again))
	case errors.Is(err, storage.ErrExpired):
		reason = reasonExpired
		l.info(http.StatusGone, "Link expired", fmt.Sprintf("This sign-in %s has expired. %s", what, again))
	default:
		l.fault("look up magic link", err)
		return
	}
	if kind == kindLink {
		landingFailures.WithLabelValues(rl.Name, reason).Inc()
	}
}

// userDisabled reports whether the token's user is disabled or gone.
func (l *landing) userDisabled(userID string) bool {
	if userID == "" {
		return false
	}
	rl := l.p.Realm()
	u, err := rl.Store.GetUser(l.r.Context(), rl.Name, userID)
	return errors.Is(err, storage.ErrNotFound) || err == nil && !u.Enabled
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

// issueReset stores the pending completion of a consumed link for the
// set-password step and returns its key.
func (l *landing) issueReset(ctx context.Context, t storage.OneTimeToken, pl payload) (string, error) {
	rl := l.p.Realm()
	body, err := json.Marshal(pl)
	if err != nil {
		return "", fmt.Errorf("encode reset payload: %w", err)
	}
	key, now := newKey(), rl.Now()
	err = rl.Store.IssueOneTimeToken(ctx, storage.OneTimeToken{
		Realm: rl.Name, Kind: kindReset, Hash: hashKey(key), Group: t.Group, Subject: t.Subject,
		Payload: body, CreatedAt: now, ExpiresAt: now.Add(resetLifespan),
	})
	if err != nil {
		return "", fmt.Errorf("store pending password reset: %w", err)
	}
	return key, nil
}
