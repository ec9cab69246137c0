package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/platform/tlsutil"
	"github.com/latchkey/latchkey/internal/server"
	"github.com/latchkey/latchkey/realm"
)

// defaultMemoryLimit is the soft heap limit when GOMEMLIMIT is unset.
const defaultMemoryLimit = 96 << 20

func newServeCmd(load configLoader) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the server (without --config: the embedded demo realm)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			return serve(cmd.Context(), cfg, cmd.Flags().Lookup("config").Value.String() == "", load)
		},
	}
}

func serve(ctx context.Context, cfg *config.Config, demo bool, load configLoader) error {
	logger := newLogger(cfg)
	// zitadel/oidc logs only through slog.Default since v3.48; its info lines
	// (one per registered route and realm) are noise, so it gets warnings and up.
	slog.SetDefault(newLibraryLogger(cfg))
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	start := time.Now()
	store, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	srv, err := server.New(ctx, cfg, store, server.Options{Logger: logger})
	if err != nil {
		return fmt.Errorf("start server: %w", err)
	}

	tlsConfig, certFile, err := serverTLS(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("server.listen: %w", err)
	}
	// Creating the users the config lists hashes their passwords with argon2id
	// (19 MiB each); hand that memory back before serving so idle RSS
	// reflects the running server.
	debug.FreeOSMemory()
	// Every login allocates a fresh 19 MiB argon2id block, which the GC would
	// otherwise let pile up to twice the live heap. A soft limit makes it
	// collect sooner; GOMEMLIMIT (read by the runtime) overrides it.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	workers, cancelWorkers := context.WithCancel(context.Background())
	srv.Start(workers)
	go reloadOnHangup(workers, srv, load, logger)
	if err := writePIDFile(cfg); err != nil {
		logger.Warn("write the PID file (latchkey reload needs it)", "error", err)
	}
	defer removePIDFile(cfg)

	logger.Info("latchkey started", "version", version, "listen", ln.Addr().String(), "public_url", cfg.Server.PublicURL,
		"tls", cfg.Server.TLS.Mode, "realms", len(cfg.Realms), "startup_ms", time.Since(start).Milliseconds())
	if demo {
		printDemo(cfg, certFile)
	}
	err = srv.Serve(ctx, ln, tlsConfig, 20*time.Second)
	cancelWorkers()
	srv.Wait()
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("latchkey stopped")
	return nil
}

// serverTLS returns the TLS configuration of cfg's server.tls.mode (nil: plain
// HTTP) and, for a self-signed certificate, the file it was written to, which
// clients must be told to trust.
func serverTLS(cfg *config.Config) (tlsConfig *tls.Config, certFile string, err error) {
	var cert tls.Certificate
	switch cfg.Server.TLS.Mode {
	case config.TLSSelfSigned:
		host, _, _ := net.SplitHostPort(cfg.Server.Listen)
		cert, certFile, err = tlsutil.SelfSigned(filepath.Dir(cfg.Storage.Path), host)
		if err != nil {
			return nil, "", fmt.Errorf("server.tls: self-signed certificate: %w", err)
		}
	case config.TLSFiles:
		cert, err = tls.LoadX509KeyPair(cfg.Server.TLS.CertFile, cfg.Server.TLS.KeyFile)
		if err != nil {
			return nil, "", fmt.Errorf("server.tls: load certificate: %w", err)
		}
	default:
		return nil, "", nil
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, certFile, nil
}

func printDemo(cfg *config.Config, certFile string) {
	iss := cfg.Server.PublicURL + realm.LegacyPrefix + config.DemoRealm
	fmt.Fprintf(os.Stderr, `
Latchkey is running with the embedded demo config (no --config given).

  Discovery:     %[1]s/.well-known/openid-configuration
  Login (try):   %[1]s/protocol/openid-connect/auth?client_id=%[2]s&response_type=code&scope=openid&redirect_uri=https%%3A%%2F%%2Foidcdebugger.com%%2Fdebug&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSlsebwZ&code_challenge_method=S256&nonce=n1&state=s1
  Demo user:     %[3]s / %[4]s
  Service client %[5]s / %[6]s  (client_credentials; roles magic-link-sender, link-generator)
  TLS:           self-signed; trust %[7]s (curl --cacert %[7]s)
  Mail:          no SMTP host configured: mails are written to this log.

`, iss, config.DemoPublicClientID, config.DemoUserEmail, config.DemoUserPassword,
		config.DemoServiceClientID, config.DemoClientSecret, certFile)
}
