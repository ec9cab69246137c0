package applink

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/gorilla/mux"

	"github.com/latchkey/latchkey/internal/crypto/tokens"
	"github.com/latchkey/latchkey/internal/jsonapi"
	"github.com/latchkey/latchkey/internal/platform/httpx"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
)

// Paths of the API, relative to a realm prefix (realm.RoutePrefixes) or the root.
// Both spellings are served: the documented one with the trailing slash,
// and the one clients tend to write.
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
	api := &jsonapi.Endpoint{API: "generate-link", Realms: h.Realms, Proxies: h.Proxies, MaxBody: h.MaxBody,
		Logger: h.logger(), HTTPS: true, Write: writeError}
	handler := api.Handle(h.serve)
	for _, prefix := range append(append([]string(nil), realm.RoutePrefixes...), "") {
		for _, p := range paths {
			r.Handle(prefix+p, handler).Name(RouteName)
		}
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

// linkCallerKinds are the tokens that may generate links: an OIDC client's
// access token or an API token. A link token never may: links are handed to
// third parties, and one must not mint more.
const linkCallerKinds = tokens.Bearer

func (h *Handler) serve(c *jsonapi.Call) error {
	ctx := c.R.Context()
	caller, err := h.authorize(c)
	if err != nil {
		return err
	}
	var b body
	if err := c.Decode(&b); err != nil {
		return err
	}
	req, err := b.validate(c.Realm)
	if err != nil {
		return err
	}
	res, err := h.Service.Generate(ctx, c.Realm, req)
	if err != nil {
		return err
	}
	h.logger().InfoContext(ctx, "application links generated", "realm", c.Realm.Name, "site", req.Site.Name,
		"links", len(res.Links), "users_created", res.Created, "deliveries_queued", res.Queued,
		"caller", caller, "request_id", httpx.RequestID(ctx))
	writeJSON(c.W, http.StatusOK, res.Links)
	return nil
}

// authorize accepts a Bearer token of the realm (through the token gate), or
// else the realm's browser session, of a subject with the link-generator
// role, and returns the caller's subject for the log.
func (h *Handler) authorize(c *jsonapi.Call) (string, error) {
	p, err := c.Bearer(linkCallerKinds, realm.RoleLinkGenerator)
	if !errors.Is(err, jsonapi.ErrNoToken) {
		if err != nil {
			return "", err
		}
		return p.Subject(), nil
	}
	if h.Sessions == nil {
		return "", fail(http.StatusUnauthorized, msgNoAuth)
	}
	rl := c.Realm
	u, ok := h.Sessions(c.R.Context(), c.R, rl.Name)
	if !ok {
		return "", fail(http.StatusUnauthorized, msgNoAuth)
	}
	// The session cookie is SameSite=Lax, which keeps other sites' forms out;
	// a browser's Origin header also keeps out sibling subdomains, which
	// count as the same site.
	if o := c.R.Header.Get("Origin"); o != "" && o != origin(rl.Issuer) {
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

// writeError is the API's jsonapi.Writer: the {"error"} answer. Faults get
// a generic text: internals are never echoed (the pipeline logs them).
func writeError(w http.ResponseWriter, _ *http.Request, err error) int {
	var (
		ae        *apiError
		bad       *BadRequestError
		malformed *jsonapi.MalformedError
		tokenErr  *jsonapi.TokenError
		forbidden *jsonapi.ForbiddenError
	)
	status, msg := http.StatusInternalServerError, msgInternal
	switch {
	case errors.As(err, &ae):
		status, msg = ae.status, ae.msg
	case errors.As(err, &bad):
		status, msg = http.StatusBadRequest, bad.Msg
	case errors.Is(err, jsonapi.ErrRealmNotFound):
		status, msg = http.StatusNotFound, msgRealm
	case errors.Is(err, jsonapi.ErrMethodNotAllowed):
		status, msg = http.StatusMethodNotAllowed, msgMethod
	case errors.Is(err, jsonapi.ErrHTTPSRequired):
		status, msg = http.StatusForbidden, msgHTTPS
	case errors.Is(err, jsonapi.ErrNotBearer):
		status, msg = http.StatusUnauthorized, msgScheme
	case errors.As(err, &tokenErr):
		status, msg = http.StatusUnauthorized, msgBadToken
	case errors.As(err, &forbidden):
		status, msg = http.StatusForbidden, msgForbidden
	case errors.Is(err, jsonapi.ErrTooLarge):
		status, msg = http.StatusRequestEntityTooLarge, msgTooLarge
	case errors.Is(err, jsonapi.ErrEmptyBody):
		// A request without a body has no parameters: the documented missing-emails answer.
		status, msg = http.StatusBadRequest, "Missing required parameter: emails"
	case errors.As(err, &malformed):
		status, msg = http.StatusBadRequest, msgMalformedFmt+malformed.Reason
	case errors.Is(err, jsonapi.ErrUnreadableBody):
		status, msg = http.StatusBadRequest, "Could not read the request body"
	}
	switch status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", "Bearer")
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", http.MethodPost)
	}
	writeJSON(w, status, errorBody{msg})
	return status
}

type errorBody struct {
	Error string `json:"error"`
}

// writeJSON writes v like httpx.WriteJSON, but without HTML escaping so that
// the links' "&" read as existing clients expect, not as \u0026.
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
