package oidc

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/latchkey/latchkey/internal/platform/httpx"
	"github.com/latchkey/latchkey/internal/platform/ui"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
)

// serveLogin is the realm's login page: GET renders the form, POST checks the
// CSRF token and either the password or sends an "email me a link" mail.
func (p *Provider) serveLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.URL.Query().Get("authRequestID")
	a, err := p.realm.Store.GetAuthRequest(ctx, p.realm.Name, id)
	if err != nil || a.Done || a.Denied {
		p.renderExpiredLogin(w, r)
		return
	}
	if a.Device && !p.deviceBound(r, a.ID) {
		p.renderDeviceUnbound(w, r) // see device_binding.go
		return
	}
	secure := p.opts.Proxies.IsHTTPS(r)
	purpose := "login:" + a.ID
	page := ui.Page{
		Title: "Sign in", Heading: "Sign in to " + p.realm.DisplayName, RealmName: p.realm.DisplayName,
		Action: p.loginURL(ctx, a.ID), Email: a.LoginHint, ShowLink: p.loginLinks() != nil,
		// A successful POST redirects (via the callback) to the client.
		FormTargets: []string{ui.FormTarget(a.RedirectURI)},
	}
	if a.Device {
		page.Heading = "Sign in to connect " + p.clientDisplayName(a.ClientID)
	}
	render := func(status int, msg string) {
		page.CSRF = p.opts.CSRF.Token(w, r, purpose)
		page.Error = msg
		ui.Render(w, secure, status, "login.html", page)
	}
	if r.Method == http.MethodGet {
		render(http.StatusOK, "")
		return
	}
	if err := r.ParseForm(); err != nil {
		render(http.StatusBadRequest, "The form could not be read. Please try again.")
		return
	}
	if !p.opts.CSRF.Valid(r, purpose) {
		render(http.StatusForbidden, "Your sign-in form expired. Please try again.")
		return
	}
	login := r.PostFormValue("username")
	page.Email = login
	emailLink := r.PostFormValue("action") == "email-link" && p.loginLinks() != nil
	// The realm's rate limits guard the page as they guard the JSON APIs,
	// with the same keys, so one budget covers every entry point: per IP for
	// both posts, per account for passwords (the link sender applies its own
	// per-address limit).
	if ok, wait, err := p.realm.IPLimiter.Allow(ctx, httpx.LimitKey(p.opts.Proxies.ClientIP(r))); err != nil {
		p.loginFault(w, r, render, "rate limit", err)
		return
	} else if !ok {
		p.renderLimited(w, wait, render, "Too many requests. Try again in %s.")
		return
	}
	if emailLink {
		p.sendLoginLink(w, r, a, login, render)
		return
	}
	if ok, wait, err := p.realm.AccountLimiter.Allow(ctx, p.realm.AccountKey(ctx, login)); err != nil {
		p.loginFault(w, r, render, "rate limit", err)
		return
	} else if !ok {
		p.renderLimited(w, wait, render, "Too many sign-in attempts. Try again in %s.")
		return
	}
	u, err := p.realm.Authenticate(ctx, login, r.PostFormValue("password"))
	var locked *realm.LockedError
	switch {
	case errors.As(err, &locked):
		p.renderLimited(w, locked.RetryAfter, render, "Too many failed attempts. Try again in %s.")
		return
	case errors.Is(err, realm.ErrUnknownUser), errors.Is(err, realm.ErrWrongPassword), errors.Is(err, realm.ErrUserDisabled):
		render(http.StatusUnauthorized, "Invalid username or password.")
		return
	case err != nil:
		p.opts.Logger.ErrorContext(ctx, "login", "realm", p.realm.Name, "error", err, "request_id", httpx.RequestID(ctx))
		render(http.StatusInternalServerError, "Something went wrong. Please try again.")
		return
	}
	if err := p.finishLogin(w, r, a, u, []string{"pwd"}); err != nil {
		p.opts.Logger.ErrorContext(ctx, "finish login", "realm", p.realm.Name, "error", err)
		render(http.StatusInternalServerError, "Something went wrong. Please try again.")
	}
}

// loginFault logs a server-side failure and asks the user to try again.
func (p *Provider) loginFault(w http.ResponseWriter, r *http.Request, render func(int, string), what string, err error) {
	ctx := r.Context()
	p.opts.Logger.ErrorContext(ctx, "login: "+what, "realm", p.realm.Name, "error", err, "request_id", httpx.RequestID(ctx))
	status := http.StatusInternalServerError
	if errors.Is(err, storage.ErrUnavailable) {
		status = http.StatusServiceUnavailable
	}
	render(status, "Something went wrong. Please try again.")
}

// renderLimited answers a rate-limited or locked attempt: 429 with
// Retry-After (whole seconds, rounded up) and the wait in words.
func (p *Provider) renderLimited(w http.ResponseWriter, wait time.Duration, render func(int, string), format string) {
	httpx.SetRetryAfter(w, wait)
	render(http.StatusTooManyRequests, fmt.Sprintf(format, humanDuration(wait)))
}

// finishLogin starts the SSO session, marks the request done and sends the
// browser to the callback that writes the authorization response.
func (p *Provider) finishLogin(w http.ResponseWriter, r *http.Request, a storage.AuthRequest, u storage.User, amr []string) error {
	ctx := r.Context()
	sess, err := p.StartSession(ctx, w, r, u, amr)
	if err != nil {
		return err
	}
	_, err = p.realm.Store.UpdateAuthRequest(ctx, p.realm.Name, a.ID, func(a storage.AuthRequest) (storage.AuthRequest, error) {
		a.UserID, a.SessionID, a.AuthTime, a.AMR, a.Done = u.ID, sess.ID, sess.AuthTime, amr, true
		return a, nil
	})
	if err != nil {
		return fmt.Errorf("complete auth request: %w", err)
	}
	http.Redirect(w, r, p.callbackURL(ctx, a.ID), http.StatusFound)
	return nil
}

func (p *Provider) sendLoginLink(w http.ResponseWriter, r *http.Request, a storage.AuthRequest, login string, render func(int, string)) {
	email, err := realm.NormalizeEmail(login)
	if err != nil {
		render(http.StatusBadRequest, "Enter your email address to receive a sign-in link.")
		return
	}
	params := AuthParams{ClientID: a.ClientID, RedirectURI: a.RedirectURI, Scopes: a.Scopes, ResponseType: a.ResponseType,
		ResponseMode: a.ResponseMode, State: a.State, Nonce: a.Nonce, CodeChallenge: a.CodeChallenge,
		CodeChallengeMethod: a.CodeChallengeMethod}
	if a.Device {
		// The link approves this very grant; the device waits for it.
		params = AuthParams{ClientID: a.ClientID, Scopes: a.Scopes, DeviceRequestID: a.ID}
	}
	if err := p.loginLinks().SendLoginLink(r.Context(), p.realm, email, params); err != nil {
		p.opts.Logger.WarnContext(r.Context(), "send sign-in link from login page", "realm", p.realm.Name, "error", err)
	}
	// The same answer whether or not the account exists, so the page cannot be
	// used to find out who has one.
	ui.Render(w, p.opts.Proxies.IsHTTPS(r), http.StatusOK, "info.html", ui.Page{
		Title: "Check your email", Heading: "Check your email", RealmName: p.realm.DisplayName,
		Message: "If an account exists for " + email + ", we have sent it a sign-in link. Open it on this device to continue."})
}

func (p *Provider) serveLoggedOut(w http.ResponseWriter, r *http.Request) {
	ui.Render(w, p.opts.Proxies.IsHTTPS(r), http.StatusOK, "info.html", ui.Page{
		Title: "Signed out", Heading: "You are signed out", RealmName: p.realm.DisplayName,
		Message: "You have been signed out of " + p.realm.DisplayName + "."})
}

func humanDuration(d time.Duration) string {
	if d < time.Minute {
		s := int(math.Ceil(d.Seconds()))
		if s == 1 {
			return "1 second"
		}
		return strconv.Itoa(s) + " seconds"
	}
	m := int(math.Ceil(d.Minutes()))
	if m == 1 {
		return "1 minute"
	}
	return strconv.Itoa(m) + " minutes"
}
