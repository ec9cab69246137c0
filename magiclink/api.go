package magiclink

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/tokens"
	"github.com/latchkey/latchkey/oidc"
	"github.com/latchkey/latchkey/realm"
)

// Handler serves the access-link API and the landing pages.
type Handler struct {
	Service *Service
	Proxies *httpx.Proxies
	CSRF    *httpx.CSRF
	// MaxBody caps the API's request body (default httpx.DefaultMaxBody).
	MaxBody int64
	Logger  *slog.Logger
}

// Mount registers the API and the landing under both realm prefixes. Every
// method is routed here so that wrong ones get this API's own 405, not the
// OIDC catch-all's answer.
func (h *Handler) Mount(r *mux.Router) {
	if h.Logger == nil {
		h.Logger = slog.Default()
	}
	for _, prefix := range oidc.Prefixes {
		r.HandleFunc(prefix+APIPath, h.serveAccessLink).Name("magiclink-access-link")
		r.HandleFunc(prefix+LandingPath, h.serveLanding).Name("magiclink-login")
	}
}

// serveAccessLink is POST {realm}/kobil-magic-link/access-link. Checks run in
// Keycloak's order: realm, method, transport security, bearer token, role,
// then the body.
func (h *Handler) serveAccessLink(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, ok := h.Service.provider(mux.Vars(r)["realm"])
	if !ok {
		writeResponse(w, http.StatusNotFound, MsgRealmNotFound)
		return
	}
	rl := p.Realm()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeResponse(w, http.StatusMethodNotAllowed, "Method not allowed, use POST")
		return
	}
	if !h.Proxies.SSLRequirementMet(r, rl.SSLRequired) {
		writeResponse(w, http.StatusForbidden, MsgHTTPSRequired)
		return
	}
	raw, ok := httpx.BearerToken(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+rl.Name+`"`)
		writeResponse(w, http.StatusUnauthorized, "Missing bearer token")
		return
	}
	claims, err := rl.Tokens.Verify(ctx, raw)
	if err != nil || claims.Type != "Bearer" {
		if err != nil && !tokens.IsInvalid(err) {
			h.Logger.ErrorContext(ctx, "verify magic-link caller token", "realm", rl.Name, "error", err, "request_id", httpx.RequestID(ctx))
			writeResponse(w, http.StatusInternalServerError, MsgInternal)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+rl.Name+`", error="invalid_token"`)
		writeResponse(w, http.StatusUnauthorized, "Invalid or expired bearer token")
		return
	}
	if !claims.HasRole(realm.RoleMagicLinkSender) {
		writeResponse(w, http.StatusForbidden, "Missing required role "+realm.RoleMagicLinkSender)
		return
	}
	var req Request
	if err := httpx.DecodeJSON(r, h.MaxBody, &req); err != nil {
		writeDecodeError(w, err)
		return
	}
	if err := h.Service.Issue(ctx, rl, req, claims.Subject); err != nil {
		var e *Error
		switch {
		case !errors.As(err, &e) || e.Code >= 500:
			h.Logger.ErrorContext(ctx, "magic link not sent", "realm", rl.Name, "client_id", req.ClientID,
				"error", err, "request_id", httpx.RequestID(ctx))
		case e.Code == http.StatusTooManyRequests:
			h.Logger.InfoContext(ctx, "magic link rate limited", "realm", rl.Name, "client_id", req.ClientID, "caller", claims.Subject)
		}
		writeError(w, err)
		return
	}
	writeResponse(w, http.StatusOK, MsgSent)
}

// writeDecodeError maps httpx.DecodeJSON's errors: 413 for an oversized body,
// 400 with the reason otherwise (a read error is the client's broken body).
func writeDecodeError(w http.ResponseWriter, err error) {
	var mal *httpx.MalformedJSONError
	var maxErr *http.MaxBytesError
	switch {
	case errors.Is(err, httpx.ErrBodyTooLarge), errors.As(err, &maxErr):
		writeResponse(w, http.StatusRequestEntityTooLarge, "Request body too large")
	case errors.Is(err, httpx.ErrEmptyBody):
		writeResponse(w, http.StatusBadRequest, "Request body is required")
	case errors.As(err, &mal):
		writeResponse(w, http.StatusBadRequest, "Invalid request body: "+mal.Reason)
	default:
		writeResponse(w, http.StatusBadRequest, "Invalid request body")
	}
}
