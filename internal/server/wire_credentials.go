package server

import (
	"context"
	"fmt"

	"github.com/gorilla/mux"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/credentials"
)

// mountCredentials mounts /user/login and /wf/generate-user-token per realm and at the root.
func (s *Server) mountCredentials(ctx context.Context, r *mux.Router) error {
	var keys *credentials.APIKeys
	var err error
	if s.Config.Storage.Driver == config.DriverPostgres {
		keys, err = credentials.LoadSharedAPIKeys(ctx, s.Store)
	} else {
		keys, err = credentials.LoadAPIKeys(s.Config.Storage.Path)
	}
	if err != nil {
		return fmt.Errorf("load API key secret: %w", err)
	}
	h, err := credentials.New(credentials.Options{
		Realms: s.Realms, Proxies: s.Proxies, Logger: s.logger,
		MaxBody: s.Config.Server.MaxBodyBytes, APIKeys: keys,
	})
	if err != nil {
		return err
	}
	h.Mount(r)
	return nil
}
