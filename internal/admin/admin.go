// Package admin serves the subset of Keycloak's Admin REST API that Latchkey
// implements, under /admin/realms/{realm} and /auth/admin/realms/{realm},
// with Keycloak's JSON representations, status codes and error bodies, so
// that Keycloak's admin client libraries work against a running server.
// Callers authenticate with a bearer access token of the realm, judged by the
// realm's token gate; each endpoint needs one of Keycloak's realm-management
// roles (manage-X implies view-X; realm-admin implies all). Every change is
// written to the log as an audit event (actor, realm, action, target), never
// with a secret.
package admin

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"

	"github.com/gorilla/mux"

	"github.com/latchkey/latchkey/internal/crypto/tokens"
	"github.com/latchkey/latchkey/internal/platform/httpx"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
)

// Keycloak's realm-management roles.
const (
	RoleViewUsers    = "view-users"
	RoleManageUsers  = "manage-users"
	RoleViewRealm    = "view-realm"
	RoleManageRealm  = "manage-realm"
	RoleViewClients  = "view-clients"
	RoleRealmAdmin   = "realm-admin"
	roleManageClient = "manage-clients"
)

// Roles lists every realm-management role, which tokens also carry in
// resource_access["realm-management"] as Keycloak's do.
var Roles = tokens.RealmManagementRoles

// implied lists the roles that grant a needed role besides itself.
var implied = map[string][]string{
	RoleViewUsers:   {RoleManageUsers, RoleRealmAdmin},
	RoleManageUsers: {RoleRealmAdmin},
	RoleViewRealm:   {RoleManageRealm, RoleRealmAdmin},
	RoleManageRealm: {RoleRealmAdmin},
	RoleViewClients: {roleManageClient, RoleRealmAdmin},
}

// Handler serves the admin API of every realm.
type Handler struct {
	Realms *realm.Registry
	// MaxBody caps request bodies (httpx.DefaultMaxBody when 0).
	MaxBody int64
	Logger  *slog.Logger
	// RotateKeys rotates a realm's signing key and makes the running server
	// serve and use the new one at once.
	RotateKeys func(r *http.Request, rl *realm.Realm) error
	// Actions mails required-action links (execute-actions-email).
	Actions ActionsMailer
}

// Prefixes are where the admin API is mounted (Keycloak 17+'s and ≤16's).
var Prefixes = []string{"/admin/realms/{realm}", "/auth/admin/realms/{realm}"}

// call is one admin request: the realm and the authenticated caller.
type call struct {
	w      http.ResponseWriter
	r      *http.Request
	realm  *realm.Realm
	caller realm.Principal
}

// route registers path (with and without a trailing slash, as Keycloak's
// clients send both) for method, needing role.
func (h *Handler) route(r *mux.Router, method, path, role string, serve func(*call)) {
	for _, prefix := range Prefixes {
		for _, p := range []string{prefix + path, prefix + path + "/"} {
			if path == "" && p == prefix+"/" {
				continue
			}
			r.Handle(p, h.handle(role, serve)).Methods(method).Name("admin")
		}
	}
}

// handle authenticates the caller through the gate and checks the role.
func (h *Handler) handle(role string, serve func(*call)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rl, ok := h.Realms.Get(mux.Vars(r)["realm"])
		if !ok {
			writeError(w, http.StatusNotFound, "Realm not found.")
			return
		}
		raw, ok := httpx.BearerToken(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+rl.Name+`"`)
			writeError(w, http.StatusUnauthorized, "HTTP 401 Unauthorized")
			return
		}
		p, err := rl.Gate(r.Context(), raw, tokens.Bearer)
		if err != nil {
			if tokens.IsInvalid(err) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="`+rl.Name+`", error="invalid_token"`)
				writeError(w, http.StatusUnauthorized, "HTTP 401 Unauthorized")
				return
			}
			h.fault(w, r, "authenticate admin caller", err)
			return
		}
		if !hasRole(p, role) {
			writeError(w, http.StatusForbidden, "HTTP 403 Forbidden")
			return
		}
		serve(&call{w: w, r: r, realm: rl, caller: p})
	})
}

// hasRole reports whether the caller holds role or one that implies it.
func hasRole(p realm.Principal, role string) bool {
	return p.HasRole(role) || slices.ContainsFunc(implied[role], p.HasRole)
}

// audit logs an admin change. Never pass a secret.
func (h *Handler) audit(c *call, action, target string) {
	h.Logger.InfoContext(c.r.Context(), "admin event", "realm", c.realm.Name, "actor", c.caller.Subject(),
		"action", action, "target", target, "request_id", httpx.RequestID(c.r.Context()))
}

// fault logs a server-side failure and answers 500 (503 when storage is down).
func (h *Handler) fault(w http.ResponseWriter, r *http.Request, what string, err error) {
	h.Logger.ErrorContext(r.Context(), "admin API: "+what, "error", err, "request_id", httpx.RequestID(r.Context()))
	status := http.StatusInternalServerError
	if isUnavailable(err) {
		status = http.StatusServiceUnavailable
	}
	writeError(w, status, http.StatusText(status))
}

// isUnavailable reports whether err means the store cannot answer now.
func isUnavailable(err error) bool {
	return errors.Is(err, storage.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// writeError writes Keycloak's {"error": …} body.
func writeError(w http.ResponseWriter, status int, msg string) {
	httpx.WriteJSON(w, status, map[string]string{"error": msg})
}

// writeConflict writes Keycloak's 409 body.
func writeConflict(w http.ResponseWriter, msg string) {
	httpx.WriteJSON(w, http.StatusConflict, map[string]string{"errorMessage": msg})
}

// decode reads a JSON body into v, answering 400 itself on failure.
func (h *Handler) decode(c *call, v any) bool {
	if err := httpx.DecodeJSON(c.r, h.MaxBody, v); err != nil {
		var mal *httpx.MalformedJSONError
		msg := "Invalid request body"
		if errors.As(err, &mal) {
			msg = "Invalid request body: " + mal.Reason
		}
		if errors.Is(err, httpx.ErrBodyTooLarge) {
			writeError(c.w, http.StatusRequestEntityTooLarge, "Request body too large")
			return false
		}
		writeError(c.w, http.StatusBadRequest, msg)
		return false
	}
	return true
}
