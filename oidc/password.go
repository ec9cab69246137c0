package oidc

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/latchkey/latchkey/internal/platform/httpx"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
)

// The direct access grant (grant_type=password, RFC 6749 §4.3), which the
// library does not implement. Keycloak offers it to clients that enable it,
// and so does Latchkey: a client must list "password" in grantTypes. The
// user's password goes through the same gate as the login page: per-IP and
// per-account rate limits, the brute-force lockout, and a dummy hash for
// unknown or disabled users so timing tells nothing.

// isPasswordGrant reports whether a token request is the direct access
// grant. The form is parsed under the body cap.
func isPasswordGrant(r *http.Request) bool {
	return r.Method == http.MethodPost && r.PostFormValue("grant_type") == realm.GrantPassword
}

// passwordGrantScopes are the scopes a direct grant may ask for; with none
// it gets Keycloak's defaults.
var (
	passwordGrantScopes = []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeOfflineAccess, "roles", "web-origins"}
	defaultGrantScopes  = []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail}
)

// servePasswordGrant answers a direct access grant: the tokens of a new
// session (without a browser cookie; its sid is the tokens' session_state,
// so Keycloak's logout by refresh token ends it).
func (p *Provider) servePasswordGrant(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	fail := func(status int, code, desc string) { writeOAuthError(w, status, code, desc) }
	limited := func(wait time.Duration, desc string) { writeOAuthLimited(w, wait, desc) }
	fault := func(what string, err error) {
		p.opts.Logger.ErrorContext(ctx, "password grant: "+what, "realm", p.realm.Name, "error", err, "request_id", httpx.RequestID(ctx))
		if errors.Is(err, storage.ErrUnavailable) {
			fail(http.StatusServiceUnavailable, "temporarily_unavailable", "Service unavailable")
			return
		}
		fail(http.StatusInternalServerError, "server_error", "Internal error")
	}

	c, err := p.authenticateClient(ctx, r.PostForm, r.Header)
	if err != nil {
		var ae *clientAuthError
		switch {
		case !errors.As(err, &ae):
			fault("client authentication", err)
		case ae.status == http.StatusUnauthorized:
			w.Header().Set("WWW-Authenticate", `Basic realm="`+p.realm.Name+`"`)
			fail(ae.status, string(ae.err.ErrorType), ae.err.Description)
		case ae.status == http.StatusServiceUnavailable:
			fail(ae.status, "temporarily_unavailable", "Service unavailable")
		default:
			fail(ae.status, string(ae.err.ErrorType), ae.err.Description)
		}
		return
	}
	if !c.AllowsGrant(realm.GrantPassword) {
		fail(http.StatusBadRequest, "unauthorized_client", "Client not allowed for direct access grants")
		return
	}
	username, password := r.PostFormValue("username"), r.PostFormValue("password")
	if username == "" || password == "" {
		fail(http.StatusBadRequest, "invalid_request", "Missing parameter: username and password are required")
		return
	}
	scopes := strings.Fields(r.PostFormValue("scope"))
	if len(scopes) == 0 {
		scopes = defaultGrantScopes
	}
	for _, s := range scopes {
		if !slices.Contains(passwordGrantScopes, s) {
			fail(http.StatusBadRequest, "invalid_scope", "Invalid scopes: "+s)
			return
		}
	}

	if ok, wait, err := p.realm.IPLimiter.Allow(ctx, httpx.LimitKey(p.opts.Proxies.ClientIP(r))); err != nil {
		fault("rate limit", err)
		return
	} else if !ok {
		limited(wait, "Too many requests")
		return
	}
	if ok, wait, err := p.realm.AccountLimiter.Allow(ctx, p.realm.AccountKey(ctx, username)); err != nil {
		fault("rate limit", err)
		return
	} else if !ok {
		limited(wait, "Too many sign-in attempts")
		return
	}
	u, err := p.realm.Authenticate(ctx, username, password)
	var locked *realm.LockedError
	switch {
	case errors.As(err, &locked):
		limited(locked.RetryAfter, "Account temporarily disabled")
		return
	case errors.Is(err, realm.ErrUnknownUser), errors.Is(err, realm.ErrWrongPassword), errors.Is(err, realm.ErrUserDisabled):
		fail(http.StatusUnauthorized, "invalid_grant", "Invalid user credentials")
		return
	case err != nil:
		fault("authenticate", err)
		return
	}

	now := p.realm.Now()
	sess := storage.Session{
		Realm: p.realm.Name, ID: newSecret(18), UserID: u.ID, AuthTime: now, AMR: []string{"pwd"},
		LastSeen: now, IdleUntil: now.Add(p.realm.Lifetimes.SSOIdle), ExpiresAt: now.Add(p.realm.Lifetimes.SSOMax),
		CreatedAt: now,
	}
	if sess.IdleUntil.After(sess.ExpiresAt) {
		sess.IdleUntil = sess.ExpiresAt
	}
	if err := p.realm.Store.CreateSession(ctx, sess); err != nil {
		fault("create session", err)
		return
	}
	src := authRequest{storage.AuthRequest{
		Realm: p.realm.Name, ClientID: c.ID, Scopes: scopes, UserID: u.ID, SessionID: sess.ID,
		AuthTime: now, AMR: sess.AMR, Done: true,
	}}
	resp, err := p.tokenResponse(ctx, c, src, grant{id: newSecret(16), name: realm.GrantPassword})
	if err != nil {
		var oe *oidc.Error
		if errors.As(err, &oe) {
			fail(http.StatusBadRequest, string(oe.ErrorType), oe.Description)
			return
		}
		fault("issue tokens", err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	httpx.WriteJSON(w, http.StatusOK, resp)
}
