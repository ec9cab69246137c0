package server

import (
	"context"
	"fmt"

	"github.com/gorilla/mux"

	"github.com/latchkey/latchkey/internal/platform/mail"
	"github.com/latchkey/latchkey/magiclink"
	"github.com/latchkey/latchkey/realm"
)

// mountMagicLinks builds the magic-link service on the OIDC providers (which
// complete the authorizations links carry), offers it on every login page as
// "email me a sign-in link", and mounts the API and the landing page.
func (s *Server) mountMagicLinks(_ context.Context, r *mux.Router) error {
	senders := mail.NewCache(s.logger)
	svc, err := magiclink.NewService(magiclink.Options{
		Realms:    s.Realms,
		Providers: s.OIDC,
		Mailer: func(rl *realm.Realm) (mail.Sender, error) {
			return senders.Sender(mailConfig(rl.SMTP))
		},
		Logger: s.logger,
	})
	if err != nil {
		return fmt.Errorf("magic links: %w", err)
	}
	s.MagicLinks = svc
	s.OIDC.OfferLoginLinks(svc)
	h := &magiclink.Handler{Service: svc, Realms: s.Realms, Proxies: s.Proxies, CSRF: s.csrf,
		MaxBody: s.Config.Server.MaxBodyBytes, Logger: s.logger}
	h.Mount(r)
	s.workers = append(s.workers, func(ctx context.Context) {
		<-ctx.Done()
		_ = senders.Close() // idle SMTP connections
	})
	return nil
}

// mailConfig maps a realm's effective SMTP settings to the mail package's.
func mailConfig(c realm.SMTP) mail.Config {
	return mail.Config{Host: c.Host, Port: c.Port, From: c.From, Username: c.Username,
		Password: c.Password, Security: c.Security, Timeout: c.Timeout}
}
