package server

import (
	"context"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/latchkey/latchkey/internal/platform/httpx"
	"github.com/latchkey/latchkey/internal/platform/metrics"
)

// parts lists what the server is made of, in the order their routes are
// matched. Each part wires itself in its own wire_*.go file. The OIDC
// providers come last: their protocol route is a per-realm catch-all.
func (s *Server) parts() []func(context.Context, *mux.Router) error {
	return []func(context.Context, *mux.Router) error{
		s.mountOutbox,      // the durable outbox (no routes) and its back-channel logouts
		s.mountHealth,      // /health/live, /health/ready
		s.mountMetrics,     // /metrics
		s.mountMagicLinks,  // /kobil-magic-link/… and the login page's "email me a link"
		s.mountCredentials, // /user/login, /wf/generate-user-token
		s.mountAppLinks,    // /generate-link-api/ and the outbox that delivers its workflows
		s.mountAdmin,       // /admin/realms/{realm}/…: Keycloak's Admin REST API
		s.mountOIDC,        // each realm's OpenID Connect provider and login pages
	}
}

// mountHealth serves liveness and readiness (storage reachable).
func (s *Server) mountHealth(_ context.Context, r *mux.Router) error {
	r.HandleFunc("/health/live", func(w http.ResponseWriter, _ *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "UP"})
	}).Methods(http.MethodGet, http.MethodHead).Name("health-live")
	r.HandleFunc("/health/ready", func(w http.ResponseWriter, r *http.Request) {
		if err := s.Store.Ping(r.Context()); err != nil {
			httpx.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "DOWN"})
			return
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "UP"})
	}).Methods(http.MethodGet, http.MethodHead).Name("health-ready")
	return nil
}

// mountMetrics serves the Prometheus metrics.
func (s *Server) mountMetrics(_ context.Context, r *mux.Router) error {
	r.Handle("/metrics", metrics.Handler()).Methods(http.MethodGet).Name("metrics")
	return nil
}

// mountOIDC mounts every realm's provider.
func (s *Server) mountOIDC(_ context.Context, r *mux.Router) error {
	s.OIDC.Mount(r)
	return nil
}
