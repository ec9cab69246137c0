package server

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/platform/metrics"
	"github.com/latchkey/latchkey/oidc"
	"github.com/latchkey/latchkey/realm"
)

// reloads counts config reloads by result (ok, error).
var reloads = promauto.With(metrics.Registry).NewCounterVec(prometheus.CounterOpts{
	Name: "latchkey_config_reloads_total",
	Help: "Config reloads (SIGHUP, latchkey reload) by result.",
}, []string{"result"})

// Reload swaps in the realms of cfg — their clients, sites, workflows, mail
// templates and policies; realms added and removed — atomically: requests
// already running finish on the realms they started with, later ones see the
// new ones. cfg must be validated (config.Load does that). On any error
// nothing changes. Server-level settings (listen address, TLS, storage,
// trusted proxies, body cap) need a restart.
func (s *Server) Reload(ctx context.Context, cfg *config.Config) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	err := s.reload(ctx, cfg)
	if err != nil {
		reloads.WithLabelValues("error").Inc()
		return err
	}
	reloads.WithLabelValues("ok").Inc()
	return nil
}

// ReloadRefused counts a reload whose config file did not load.
func (s *Server) ReloadRefused() { reloads.WithLabelValues("error").Inc() }

func (s *Server) reload(ctx context.Context, cfg *config.Config) error {
	reg, err := realm.Build(ctx, cfg, s.Store, s.opts.Now)
	if err != nil {
		return fmt.Errorf("reload: build realms: %w", err)
	}
	ps, err := oidc.New(ctx, reg, oidc.Options{Logger: s.logger, Proxies: s.Proxies, CSRF: s.csrf,
		MaxBody: s.Config.Server.MaxBodyBytes})
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	if err := s.MagicLinks.LoadTemplates(reg); err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	// Providers first: a realm a request finds in the registry then has its
	// provider (a removed realm's provider stays unreachable: the registry
	// no longer names it).
	s.OIDC.Replace(ps)
	s.Realms.Replace(reg)
	s.logger.InfoContext(ctx, "config reloaded", "realms", len(cfg.Realms))
	return nil
}
