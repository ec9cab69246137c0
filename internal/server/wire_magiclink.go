package server

import (
	"context"

	"github.com/gorilla/mux"

	"github.com/latchkey/latchkey/oidc"
)

// wireMagicLinkSender sets the login page's "email me a sign-in link" sender.
func (d *deps) wireMagicLinkSender(ctx context.Context, o *oidc.Options) error { return nil }

// mountMagicLink mounts /kobil-magic-link/... under both realm prefixes.
func (d *deps) mountMagicLink(ctx context.Context, r *mux.Router) error { return nil }
