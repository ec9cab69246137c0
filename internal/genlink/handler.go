package genlink

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/gorilla/mux"

	"github.com/latchkey/latchkey/internal/httpx"
	"github.com/latchkey/latchkey/internal/tokens"
	"github.com/latchkey/latchkey/oidc"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
)

// Paths of the API, relative to a realm prefix (oidc.Prefixes) or the root.
// Both spellings are served: the seed's with the trailing slash, and the one
// clients tend to write.
var paths = []string{"/generate-link-api/", "/generate-link-api"}

// RouteName is the mux route name of the API (the metrics' route label).
const RouteName = "generate-link-api"

// SessionLookup returns the enabled user of the request's browser SSO
// session in the realm, if there is one.
type SessionLookup func(ctx context.Context, r *http.Request, realm string) (storage.User, bool)

// Handler serves the API.
type Handler struct {
	Realms  *realm.Registry
	Service *Service
	// Sessions authenticates browser callers; nil accepts bearer tokens only.
	Sessions SessionLookup
	Proxies  *httpx.Proxies
	// MaxBody caps the request body (httpx.DefaultMaxBody when 0).
	MaxBody int64
	Logger  *slog.Logger
}

// Mount registers the API under both realm prefixes and at the root, where
// it serves the registry's default realm.
func (h *Handler) Mount(r *mux.Router) {
	for _, prefix := range oidc.Prefixes {
		for _, p := range paths {
			r.Handle(prefix+p, h.serve(func(r *http.Request) string { return mux.Vars(r)["realm"] })).Name(RouteName)
		}
	}
	for _, p := range paths {
		r.Handle(p, h.serve(func(*http.Request) string { return h.Realms.Default })).Name(RouteName)
	}
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.Default()
	}
	return h.Logger
}

// apiError is an answer other than 200: a status and the {"error"} text.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func fail(status int, msg string) error { return &apiError{status: status, msg: msg} }

// Error texts of the API (the bodies are {"error": <text>}).
const (
	msgRealm        = "Realm does not exist"
	msgMethod       = "Method not allowed: use POST"
	msgHTTPS        = "HTTPS required"
	msgNoAuth       = "Authentication required: send a Bearer access token"
	msgBadToken     = "Invalid or expired access token"
	msgScheme       = "Unsupported authorization scheme: send a Bearer access token"
	msgForbidden    = "The caller lacks the realm role " + realm.RoleLinkGenerator
	msgCrossOrigin  = "Cross-origin requests must authenticate with a Bearer access token"
	msgTooLarge     = "Request body too large"
	msgInternal     = "Internal server error"
	msgMalformedFmt = "Malformed JSON: "
)

func (h *Handler) serve(realmOf func(*http.Request) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, err := h.handle(r, realmOf(r))
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, res.Links)
	})
}

func (h *Handler) handle(r *http.Request, realmName string) (Result, error) {
	ctx := r.Context()
	rl, ok := h.Realms.Get(realmName)
	if !ok {
		return Result{}, fail(http.StatusNotFound, msgRealm)
	}
	if r.Method != http.MethodPost {
		return Result{}, fail(http.StatusMethodNotAllowed, msgMethod)
	}
	if h.Proxies != nil && !h.Proxies.SSLRequirementMet(r, rl.SSLRequired) {
		return Result{}, fail(http.StatusForbidden, msgHTTPS)
	}
	caller, err := h.authorize(ctx, r, rl)
	if err != nil {
		return Result{}, err
	}
	var b body
	if err := httpx.DecodeJSON(r, h.MaxBody, &b); err != nil {
		return Result{}, decodeError(err)
	}
	req, err := b.validate(rl)
	if err != nil {
		return Result{}, err
	}
	res, err := h.Service.Generate(ctx, rl, req)
	if err != nil {
		return Result{}, err
	}
	h.logger().InfoContext(ctx, "application links generated", "realm", rl.Name, "site", req.Site.Name,
		"links", len(res.Links), "users_created", res.Created, "deliveries_queued", res.Queued,
		"caller", caller, "request_id", httpx.RequestID(ctx))
	return res, nil
}

// decodeError maps httpx.DecodeJSON's errors to answers. An empty body is a
// request without parameters, so it gets the seed's missing-emails answer.
func decodeError(err error) error {
	var malformed *httpx.MalformedJSONError
	var maxErr *http.MaxBytesError
	switch {
	case errors.Is(err, httpx.ErrBodyTooLarge), errors.As(err, &maxErr):
		return fail(http.StatusRequestEntityTooLarge, msgTooLarge)
	case errors.Is(err, httpx.ErrEmptyBody):
		return badRequest("Missing required parameter: emails")
	case errors.As(err, &malformed):
		return badRequest("%s%s", msgMalformedFmt, malformed.Reason)
	default: // the client went away or sent a broken body
		return badRequest("Could not read the request body")
	}
}

// authorize accepts a Bearer access token of the realm, or else the realm's
// browser session, of a subject with the link-generator role, and returns
// the caller's subject for the log.
func (h *Handler) authorize(ctx context.Context, r *http.Request, rl *realm.Realm) (string, error) {
	if raw, ok := httpx.BearerToken(r); ok {
		c, err := rl.Tokens.Verify(ctx, raw)
		switch {
		case err != nil && tokens.IsInvalid(err):
			return "", fail(http.StatusUnauthorized, msgBadToken)
		case err != nil:
			return "", err
		case !c.HasRole(realm.RoleLinkGenerator):
			return "", fail(http.StatusForbidden, msgForbidden)
		}
		return c.Subject, nil
	}
	if r.Header.Get("Authorization") != "" {
		return "", fail(http.StatusUnauthorized, msgScheme)
	}
	if h.Sessions == nil {
		return "", fail(http.StatusUnauthorized, msgNoAuth)
	}
	u, ok := h.Sessions(ctx, r, rl.Name)
	if !ok {
		return "", fail(http.StatusUnauthorized, msgNoAuth)
	}
	// The session cookie is SameSite=Lax, which keeps other sites' forms out;
	// a browser's Origin header also keeps out sibling subdomains, which
	// count as the same site.
	if o := r.Header.Get("Origin"); o != "" && o != origin(rl.Issuer) {
		return "", fail(http.StatusForbidden, msgCrossOrigin)
	}
	for _, role := range u.Roles {
		if role == realm.RoleLinkGenerator {
			return u.ID, nil
		}
	}
	return "", fail(http.StatusForbidden, msgForbidden)
}

// origin returns scheme://host[:port] of an absolute URL.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// writeError writes the API's {"error"} answer. Faults are logged with the
// request id and answered with a generic text: internals are never echoed.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	var bad *BadRequestError
	switch {
	case errors.As(err, &ae):
		switch ae.status {
		case http.StatusUnauthorized:
			w.Header().Set("WWW-Authenticate", "Bearer")
		case http.StatusMethodNotAllowed:
			w.Header().Set("Allow", http.MethodPost)
		}
		writeJSON(w, ae.status, errorBody{ae.msg})
	case errors.As(err, &bad):
		writeJSON(w, http.StatusBadRequest, errorBody{bad.Msg})
	default:
		h.logger().ErrorContext(r.Context(), "generate application links", "error", err,
			"request_id", httpx.RequestID(r.Context()))
		writeJSON(w, http.StatusInternalServerError, errorBody{msgInternal})
	}
}

type errorBody struct {
	Error string `json:"error"`
}

// writeJSON writes v like httpx.WriteJSON, but without HTML escaping so that
// the links' "&" read as in the seed, not as \u0026.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"`+msgInternal+`"}`)
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
