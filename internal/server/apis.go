package server

import (
	"context"

	"github.com/gorilla/mux"

	"github.com/latchkey/latchkey/internal/platform/httpx"
	"github.com/latchkey/latchkey/oidc"
)

// deps carries what the feature wirings share. Each feature wires itself in
// its own wire_*.go file.
type deps struct {
	server *Server
	csrf   *httpx.CSRF
}

// beforeOIDC builds the pieces the OIDC providers use (the login page's
// "email me a link" sender).
func (d *deps) beforeOIDC(ctx context.Context, o *oidc.Options) error {
	return d.wireMagicLinkSender(ctx, o)
}

// mountAPIs registers the credential APIs' routes, before the OIDC catch-all.
func (d *deps) mountAPIs(ctx context.Context, r *mux.Router) error {
	for _, mount := range []func(context.Context, *mux.Router) error{
		d.mountMagicLink, d.mountCredentials, d.mountLinkAPI,
	} {
		if err := mount(ctx, r); err != nil {
			return err
		}
	}
	return nil
}
