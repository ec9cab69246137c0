package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/gorilla/mux"

	"github.com/latchkey/latchkey/internal/platform/mail"
	"github.com/latchkey/latchkey/magiclink"
	"github.com/latchkey/latchkey/oidc"
	"github.com/latchkey/latchkey/realm"
)

// wireMagicLinkSender builds the magic-link service and sets it as the login
// page's "email me a sign-in link" sender. It runs before the OIDC providers
// exist, so the service reads them from the server at request time.
func (d *deps) wireMagicLinkSender(ctx context.Context, o *oidc.Options) error {
	s := d.server
	senders := mail.NewCache(s.logger)
	svc, err := magiclink.NewService(magiclink.Options{
		Realms:    s.Realms,
		Providers: func() *oidc.Providers { return s.OIDC },
		Mailer: func(rl *realm.Realm) (mail.Sender, error) {
			return senders.Sender(magicLinkMailConfig(rl.SMTP))
		},
		Logger: s.logger,
	})
	if err != nil {
		return fmt.Errorf("magic links: %w", err)
	}
	o.Links = svc
	s.workers = append(s.workers, func(ctx context.Context) {
		<-ctx.Done()
		_ = senders.Close() // idle SMTP connections
	})
	return nil
}

// mountMagicLink mounts /kobil-magic-link/... under both realm prefixes.
func (d *deps) mountMagicLink(ctx context.Context, r *mux.Router) error {
	s := d.server
	svc, ok := s.OIDC.Links().(*magiclink.Service)
	if !ok {
		return errors.New("magic links: service not wired (wireMagicLinkSender must run first)")
	}
	h := &magiclink.Handler{Service: svc, Realms: s.Realms, Proxies: s.Proxies, CSRF: d.csrf, MaxBody: s.Config.Server.MaxBodyBytes, Logger: s.logger}
	h.Mount(r)
	return nil
}

// magicLinkMailConfig maps a realm's effective SMTP settings to the mail package's.
func magicLinkMailConfig(c realm.SMTP) mail.Config {
	return mail.Config{Host: c.Host, Port: c.Port, From: c.From, Username: c.Username,
		Password: c.Password, Security: c.Security, Timeout: c.Timeout}
}
