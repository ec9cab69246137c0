package magiclink

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/latchkey/latchkey/internal/crypto/tokens"
	"github.com/latchkey/latchkey/internal/jsonapi"
	"github.com/latchkey/latchkey/internal/platform/httpx"
	"github.com/latchkey/latchkey/realm"
)

// Handler serves the access-link API and the landing pages.
type Handler struct {
	Service *Service
	Realms  *realm.Registry
	Proxies *httpx.Proxies
	CSRF    *httpx.CSRF
	// MaxBody caps the API's request body (default httpx.DefaultMaxBody).
	MaxBody int64
	Logger  *slog.Logger
}

// callerKinds are the tokens that may call the API: an OIDC client's access
// token (typically a service account's) or an API token. A link token never
// may, whatever roles its user has: links are seen by third parties.
const callerKinds = tokens.Bearer

// Mount registers the API and the landing under both realm prefixes. Every
// method is routed here so that wrong ones get this API's own 405, not the
// OIDC catch-all's answer.
func (h *Handler) Mount(r *mux.Router) {
	if h.Logger == nil {
		h.Logger = slog.Default()
	}
	api := &jsonapi.Endpoint{API: "magic-link", Realms: h.Realms, Proxies: h.Proxies, MaxBody: h.MaxBody,
		Logger: h.Logger, HTTPS: true, Write: writeAPIError}
	for _, prefix := range realm.RoutePrefixes {
		r.Handle(prefix+APIPath, api.Handle(h.serveAccessLink)).Name("magiclink-access-link")
		r.HandleFunc(prefix+LandingPath, h.serveLanding).Name("magiclink-login")
	}
}

// serveAccessLink is POST {realm}/kobil-magic-link/access-link. The pipeline
// has checked realm, method and transport security; then come the bearer
// token and its role (Keycloak's order), then the body.
func (h *Handler) serveAccessLink(c *jsonapi.Call) error {
	ctx := c.R.Context()
	caller, err := c.Bearer(callerKinds, realm.RoleMagicLinkSender)
	if err != nil {
		return err
	}
	var req Request
	if err := c.Decode(&req); err != nil {
		return err
	}
	if err := h.Service.Issue(ctx, c.Realm, req, caller.Subject()); err != nil {
		var e *Error
		switch {
		case !errors.As(err, &e) || e.Code >= 500:
			// The pipeline logs the failed answer; this line says which link.
			h.Logger.ErrorContext(ctx, "magic link not sent", "realm", c.Realm.Name, "client_id", req.ClientID,
				"error", err, "request_id", httpx.RequestID(ctx))
		case e.Code == http.StatusTooManyRequests:
			h.Logger.InfoContext(ctx, "magic link rate limited", "realm", c.Realm.Name, "client_id", req.ClientID, "caller", caller.Subject())
		}
		return err
	}
	writeResponse(c.W, http.StatusOK, MsgSent)
	return nil
}

// writeAPIError is the API's jsonapi.Writer: every error in the KOBIL API's
// {message,status,subSystem} shape. Faults get a body that says nothing
// about the cause.
func writeAPIError(w http.ResponseWriter, r *http.Request, err error) int {
	var (
		e         *Error
		malformed *jsonapi.MalformedError
		forbidden *jsonapi.ForbiddenError
		tokenErr  *jsonapi.TokenError
	)
	realmName := mux.Vars(r)["realm"]
	status, msg := http.StatusInternalServerError, MsgInternal
	switch {
	case errors.As(err, &e):
		if e.RetryAfter > 0 {
			jsonapi.SetRetryAfter(w, &jsonapi.LimitedError{RetryAfter: e.RetryAfter})
		}
		status, msg = e.Code, e.Message
	case errors.Is(err, jsonapi.ErrRealmNotFound):
		status, msg = http.StatusNotFound, MsgRealmNotFound
	case errors.Is(err, jsonapi.ErrMethodNotAllowed):
		status, msg = http.StatusMethodNotAllowed, "Method not allowed, use POST"
	case errors.Is(err, jsonapi.ErrHTTPSRequired):
		status, msg = http.StatusForbidden, MsgHTTPSRequired
	case errors.Is(err, jsonapi.ErrNoToken), errors.Is(err, jsonapi.ErrNotBearer):
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+realmName+`"`)
		status, msg = http.StatusUnauthorized, "Missing bearer token"
	case errors.As(err, &tokenErr):
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+realmName+`", error="invalid_token"`)
		status, msg = http.StatusUnauthorized, "Invalid or expired bearer token"
	case errors.As(err, &forbidden):
		status, msg = http.StatusForbidden, "Missing required role "+forbidden.Role
	case errors.Is(err, jsonapi.ErrTooLarge):
		status, msg = http.StatusRequestEntityTooLarge, "Request body too large"
	case errors.Is(err, jsonapi.ErrEmptyBody):
		status, msg = http.StatusBadRequest, "Request body is required"
	case errors.As(err, &malformed):
		status, msg = http.StatusBadRequest, "Invalid request body: "+malformed.Reason
	case errors.Is(err, jsonapi.ErrUnreadableBody):
		status, msg = http.StatusBadRequest, "Invalid request body"
	case jsonapi.IsUnavailable(err):
		status, msg = http.StatusServiceUnavailable, "Service temporarily unavailable"
	}
	writeResponse(w, status, msg)
	return status
}
