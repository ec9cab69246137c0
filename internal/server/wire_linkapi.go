package server

import (
	"context"

	"github.com/gorilla/mux"
)

// mountLinkAPI mounts /generate-link-api/ per realm and at the root, and adds
// the outbox worker to the server's background workers.
func (d *deps) mountLinkAPI(ctx context.Context, r *mux.Router) error { return nil }
