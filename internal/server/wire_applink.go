package server

import (
	"context"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/latchkey/latchkey/internal/applink"
	"github.com/latchkey/latchkey/internal/platform/mail"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
)

// mountAppLinks mounts /generate-link-api/ per realm and at the root, and adds
// the outbox worker (which delivers the API's workflows) to the server's
// background workers.
func (s *Server) mountAppLinks(_ context.Context, r *mux.Router) error {
	worker := s.outbox
	senders := mail.NewCache(s.logger)
	s.afterOutbox = append(s.afterOutbox, func() { _ = senders.Close() }) // idle SMTP connections
	deliveries := &applink.Deliveries{Realms: s.Realms, HTTPClient: s.opts.OutboundHTTP, Mailer: func(rl *realm.Realm) mail.Sender {
		sender, err := senders.Sender(mailConfig(rl.SMTP))
		if err != nil {
			s.logger.Warn("application link mail: unusable SMTP settings", "realm", rl.Name, "error", err)
			return nil
		}
		return sender
	}}
	deliveries.Register(worker)
	h := &applink.Handler{
		Realms:  s.Realms,
		Service: &applink.Service{Notify: worker.Notify},
		// Browser callers authenticate with the realm's SSO session.
		Sessions: func(ctx context.Context, r *http.Request, name string) (storage.User, bool) {
			p, ok := s.OIDC.Get(name)
			if !ok {
				return storage.User{}, false
			}
			_, u, ok := p.CurrentSession(ctx, r)
			return u, ok
		},
		Proxies: s.Proxies,
		MaxBody: s.Config.Server.MaxBodyBytes,
		Logger:  s.logger,
	}
	h.Mount(r)
	return nil
}
