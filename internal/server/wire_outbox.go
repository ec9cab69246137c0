package server

import (
	"context"

	"github.com/gorilla/mux"

	"github.com/latchkey/latchkey/internal/backchannel"
	"github.com/latchkey/latchkey/internal/outbox"
)

// mountOutbox builds the outbox worker that every part queues durable work
// for, registers the back-channel logout deliveries (sessions end in the
// realm and OIDC packages, which only queue), and adds the worker to the
// server's background workers. It mounts no routes.
func (s *Server) mountOutbox(_ context.Context, _ *mux.Router) error {
	s.outbox = outbox.New(s.Store, outbox.Options{Logger: s.logger, Now: s.opts.Now})
	(&backchannel.Deliveries{Realms: s.Realms, HTTPClient: s.opts.OutboundHTTP}).Register(s.outbox)
	s.workers = append(s.workers, func(ctx context.Context) {
		s.outbox.Run(ctx)
		for _, f := range s.afterOutbox {
			f()
		}
	})
	return nil
}
