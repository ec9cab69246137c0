package server

import (
	"context"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/latchkey/latchkey/internal/admin"
	"github.com/latchkey/latchkey/realm"
)

// mountAdmin mounts Keycloak's Admin REST API (the subset Latchkey has) for
// every realm. A key rotation through it is served and used at once.
func (s *Server) mountAdmin(_ context.Context, r *mux.Router) error {
	h := &admin.Handler{Realms: s.Realms, MaxBody: s.Config.Server.MaxBodyBytes, Logger: s.logger, Actions: s.MagicLinks,
		RotateKeys: func(req *http.Request, rl *realm.Realm) error {
			if err := rl.Keys.Rotate(req.Context()); err != nil {
				return err
			}
			if p, ok := s.OIDC.Get(rl.Name); ok {
				return p.RefreshKeys(req.Context())
			}
			return nil
		}}
	h.Mount(r)
	return nil
}
