package oidc

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/latchkey/latchkey/internal/platform/httpx"
	"github.com/latchkey/latchkey/internal/platform/ui"
	"github.com/latchkey/latchkey/storage"
)

// The verification page of the device flow (verification_uri): the user
// enters the code their device shows (or arrives with it prefilled from
// verification_uri_complete), sees which application asks for what, and
// answers Yes or No. Yes with a live SSO session finishes at once; otherwise
// the browser goes to the ordinary login page of the grant (password or
// "email me a link"), whose completion shows the "device connected" page
// instead of redirecting anywhere (see respond and Complete).

// CSRF purposes of the two forms; the approval form's is bound to its code.
const (
	csrfDeviceEntry   = "device"
	csrfDeviceConfirm = "device-confirm:"
)

// Messages of the entry page when a code cannot be used. Wrong, expired and
// unknown codes share one answer, so that the page tells nothing about codes
// it did not issue.
const (
	msgDeviceCodeInvalid = "That code is not valid or has expired. Check the code your device shows, or start again on the device."
	msgDeviceCodeUsed    = "That code was already used. Start again on the device to get a new code."
)

// scopeDescriptions say in words what a device asks for.
var scopeDescriptions = map[string]string{
	"openid":         "Sign you in",
	"profile":        "Your profile (name and username)",
	"email":          "Your email address",
	"roles":          "Your roles",
	"offline_access": "Access while you are not signed in",
}

// serveDevice is GET,POST {issuer}/device.
func (p *Provider) serveDevice(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		// Only shown, never looked up: a GET neither spends nor probes codes.
		code := r.URL.Query().Get("user_code")
		if norm := normalizeUserCode(code); norm != "" {
			code = formatUserCode(norm)
		} else if len(code) > 32 {
			code = ""
		}
		p.renderDeviceEntry(w, r, http.StatusOK, code, "")
		return
	}
	if err := r.ParseForm(); err != nil {
		p.renderDeviceEntry(w, r, http.StatusBadRequest, "", "The form could not be read. Please try again.")
		return
	}
	norm := normalizeUserCode(r.PostFormValue("user_code"))
	action := r.PostFormValue("action")
	purpose := csrfDeviceEntry
	if action == "approve" || action == "deny" {
		purpose = csrfDeviceConfirm + hashSecret(norm)
	}
	if !p.opts.CSRF.Valid(r, purpose) {
		p.renderDeviceEntry(w, r, http.StatusForbidden, formatUserCode(norm), "This page had expired. Enter the code again.")
		return
	}
	// One per-IP budget with the login page: guessing codes costs as much as
	// guessing passwords.
	ctx := r.Context()
	if ok, wait, err := p.realm.IPLimiter.Allow(ctx, httpx.LimitKey(p.opts.Proxies.ClientIP(r))); err != nil {
		p.deviceFault(w, r, "rate limit", err)
		return
	} else if !ok {
		p.renderLimited(w, wait, func(status int, msg string) {
			p.renderDeviceEntry(w, r, status, formatUserCode(norm), msg)
		}, "Too many attempts. Try again in %s.")
		return
	}
	if norm == "" {
		p.renderDeviceEntry(w, r, http.StatusBadRequest, "", msgDeviceCodeInvalid)
		return
	}
	switch action {
	case "approve", "deny":
		p.deviceAnswer(w, r, norm, action == "approve")
	default:
		p.deviceConfirm(w, r, norm)
	}
}

// deviceConfirm shows the approval page of a live code, without using it.
func (p *Provider) deviceConfirm(w http.ResponseWriter, r *http.Request, norm string) {
	ctx := r.Context()
	t, err := p.realm.Store.PeekOneTimeToken(ctx, p.realm.Name, kindUserCode, p.userCodeHash(norm))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		p.renderDeviceEntry(w, r, http.StatusBadRequest, formatUserCode(norm), msgDeviceCodeInvalid)
		return
	case err != nil:
		p.deviceFault(w, r, "look up user code", err)
		return
	case !t.ConsumedAt.IsZero():
		p.renderDeviceEntry(w, r, http.StatusBadRequest, formatUserCode(norm), msgDeviceCodeUsed)
		return
	}
	a, err := p.pendingDeviceGrant(ctx, string(t.Payload))
	if err != nil {
		p.deviceCodeUnusable(w, r, norm, err)
		return
	}
	name := p.clientDisplayName(a.ClientID)
	var items []string
	for _, s := range a.Scopes {
		if d, ok := scopeDescriptions[s]; ok {
			items = append(items, d)
		}
	}
	// Signed in already, Yes connects this account at once: say which.
	account := ""
	if _, u, ok := p.CurrentSession(ctx, r); ok {
		account = " " + cmp.Or(u.Email, u.Username)
	}
	ui.Render(w, p.opts.Proxies.IsHTTPS(r), http.StatusOK, "device_confirm.html", ui.Page{
		Title: "Connect a device", Heading: "Connect a device", RealmName: p.realm.DisplayName,
		Message:  fmt.Sprintf("%s on your device asks for access to your %s account%s:", name, p.realm.DisplayName, account),
		Items:    items,
		UserCode: formatUserCode(norm), Action: p.issuer(ctx) + pathDevice,
		CSRF: p.opts.CSRF.Token(w, r, csrfDeviceConfirm+hashSecret(norm)),
	})
}

// deviceAnswer uses the code (exactly once) and records the user's answer.
// Yes finishes at once when the browser has a live session, else it goes
// through the login page; No denies the grant.
func (p *Provider) deviceAnswer(w http.ResponseWriter, r *http.Request, norm string, approve bool) {
	ctx := r.Context()
	t, err := p.realm.Store.ConsumeOneTimeToken(ctx, p.realm.Name, kindUserCode, p.userCodeHash(norm), p.realm.Now())
	switch {
	case errors.Is(err, storage.ErrConsumed):
		p.renderDeviceEntry(w, r, http.StatusBadRequest, formatUserCode(norm), msgDeviceCodeUsed)
		return
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrExpired):
		p.renderDeviceEntry(w, r, http.StatusBadRequest, formatUserCode(norm), msgDeviceCodeInvalid)
		return
	case err != nil:
		p.deviceFault(w, r, "use user code", err)
		return
	}
	id := string(t.Payload)
	if _, err := p.pendingDeviceGrant(ctx, id); err != nil {
		p.deviceCodeUnusable(w, r, norm, err)
		return
	}
	if !approve {
		a, err := p.denyDevice(ctx, id)
		if err != nil {
			p.deviceCodeUnusable(w, r, norm, err)
			return
		}
		p.opts.Logger.InfoContext(ctx, "device grant denied", "realm", p.realm.Name, "client_id", a.ClientID)
		ui.Render(w, p.opts.Proxies.IsHTTPS(r), http.StatusOK, "info.html", ui.Page{
			Title: "Access denied", Heading: "Access denied", RealmName: p.realm.DisplayName,
			Message: "The device was not connected to your account. You can close this window."})
		return
	}
	sess, u, ok := p.CurrentSession(ctx, r)
	if !ok {
		a, err := p.pendingDeviceGrant(ctx, id)
		if err != nil {
			p.deviceCodeUnusable(w, r, norm, err)
			return
		}
		p.bindDevice(w, r, a) // the login that follows must happen here
		http.Redirect(w, r, p.loginURL(ctx, id), http.StatusFound)
		return
	}
	a, err := p.approveDevice(ctx, id, "", u, sess)
	if err != nil {
		p.deviceCodeUnusable(w, r, norm, err)
		return
	}
	p.renderDeviceConnected(w, r, a)
}

// pendingDeviceGrant loads a device grant the user may still answer.
func (p *Provider) pendingDeviceGrant(ctx context.Context, id string) (storage.AuthRequest, error) {
	a, err := p.realm.Store.GetAuthRequest(ctx, p.realm.Name, id)
	if err != nil {
		return storage.AuthRequest{}, err
	}
	if !a.Device || a.Done || a.Denied {
		return storage.AuthRequest{}, errDeviceSettled
	}
	return a, nil
}

// deviceCodeUnusable answers a code whose grant cannot be answered (any
// more): the entry page again with the reason, 400; faults get 5xx.
func (p *Provider) deviceCodeUnusable(w http.ResponseWriter, r *http.Request, norm string, err error) {
	switch {
	case errors.Is(err, errDeviceSettled):
		p.renderDeviceEntry(w, r, http.StatusBadRequest, formatUserCode(norm), msgDeviceCodeUsed)
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrExpired):
		p.renderDeviceEntry(w, r, http.StatusBadRequest, formatUserCode(norm), msgDeviceCodeInvalid)
	default:
		p.deviceFault(w, r, "load device grant", err)
	}
}

// renderDeviceEntry renders the code entry form.
func (p *Provider) renderDeviceEntry(w http.ResponseWriter, r *http.Request, status int, code, errMsg string) {
	ui.Render(w, p.opts.Proxies.IsHTTPS(r), status, "device.html", ui.Page{
		Title: "Connect a device", Heading: "Connect a device", RealmName: p.realm.DisplayName,
		Message:  "Enter the code shown on your device.",
		Error:    errMsg,
		UserCode: code, Action: p.issuer(r.Context()) + pathDevice,
		CSRF: p.opts.CSRF.Token(w, r, csrfDeviceEntry),
	})
}

// renderDeviceConnected is the end of the user's side: the device gets its
// tokens at its next poll.
func (p *Provider) renderDeviceConnected(w http.ResponseWriter, r *http.Request, a storage.AuthRequest) {
	p.opts.Logger.InfoContext(r.Context(), "device grant approved", "realm", p.realm.Name, "client_id", a.ClientID, "user_id", a.UserID)
	ui.Render(w, p.opts.Proxies.IsHTTPS(r), http.StatusOK, "info.html", ui.Page{
		Title: "Device connected", Heading: "Device connected", RealmName: p.realm.DisplayName,
		Message: "Your device is now signed in. You can close this window."})
}

// deviceFault logs a server-side failure and asks the user to try again.
func (p *Provider) deviceFault(w http.ResponseWriter, r *http.Request, what string, err error) {
	ctx := r.Context()
	p.opts.Logger.ErrorContext(ctx, "device page: "+what, "realm", p.realm.Name, "error", err, "request_id", httpx.RequestID(ctx))
	status := http.StatusInternalServerError
	if errors.Is(err, storage.ErrUnavailable) {
		status = http.StatusServiceUnavailable
	}
	ui.Render(w, p.opts.Proxies.IsHTTPS(r), status, "info.html", ui.Page{
		Title: "Error", Heading: "Something went wrong", RealmName: p.realm.DisplayName,
		Message: "We could not connect your device. Please try again."})
}
