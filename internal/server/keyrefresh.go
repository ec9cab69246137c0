package server

import (
	"context"
	"errors"
	"time"
)

// defaultKeyRefresh is how often every realm's signing keys are re-read from
// the store: a rotation made anywhere (another replica, the CLI, the admin
// API) is served by the JWKS and used for signing within this interval, and
// a retired key stops verifying once its overlap has passed.
const defaultKeyRefresh = 10 * time.Second

// refreshKeys re-reads the realms' signing keys until ctx ends.
func (s *Server) refreshKeys(ctx context.Context) {
	t := time.NewTicker(s.opts.KeyRefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.RefreshKeys(ctx)
		}
	}
}

// RefreshKeys re-reads every enabled realm's signing keys now and rebuilds
// the documents that list them. A realm whose keys cannot be read keeps the
// ones it has (a store outage must not empty the JWKS).
func (s *Server) RefreshKeys(ctx context.Context) {
	for _, r := range s.Realms.All() {
		p, ok := s.OIDC.Get(r.Name)
		if !ok {
			continue
		}
		if err := p.RefreshKeys(ctx); err != nil && !errors.Is(err, context.Canceled) {
			s.logger.WarnContext(ctx, "reload signing keys", "realm", r.Name, "error", err)
		}
	}
}
