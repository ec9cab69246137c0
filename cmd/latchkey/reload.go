package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/server"
)

// pidFileName is written next to the database file while the server runs,
// so that `latchkey reload` finds the process to signal.
const pidFileName = "latchkey.pid"

func pidFile(cfg *config.Config) string {
	return filepath.Join(filepath.Dir(cfg.Storage.Path), pidFileName)
}

func writePIDFile(cfg *config.Config) error {
	if err := os.MkdirAll(filepath.Dir(pidFile(cfg)), 0o700); err != nil {
		return err
	}
	return os.WriteFile(pidFile(cfg), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600)
}

func removePIDFile(cfg *config.Config) { _ = os.Remove(pidFile(cfg)) }

// reloadOnHangup re-reads the config file on every SIGHUP until ctx ends.
func reloadOnHangup(ctx context.Context, srv *server.Server, load configLoader, logger *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			_ = reloadConfig(ctx, srv, load, logger)
		}
	}
}

// reloadConfig loads and validates the config file and swaps its realms in;
// an invalid file is refused with every problem logged, and the running
// config is kept.
func reloadConfig(ctx context.Context, srv *server.Server, load configLoader, logger *slog.Logger) error {
	cfg, err := load()
	if err == nil {
		err = srv.Reload(ctx, cfg)
	} else {
		srv.ReloadRefused()
	}
	if err != nil {
		var ve *config.ValidationError
		if errors.As(err, &ve) {
			for _, p := range ve.Problems {
				logger.Error("config reload refused: invalid config; the running config is kept", "key", p.Key, "problem", p.Message)
			}
		} else {
			logger.Error("config reload refused; the running config is kept", "error", err)
		}
		return err
	}
	return nil
}

// newReloadCmd signals the server of the config's data directory to re-read
// its config file (as SIGHUP does).
func newReloadCmd(load configLoader) *cobra.Command {
	return &cobra.Command{
		Use:   "reload",
		Short: "Make the running server re-read its config file (sends SIGHUP to the PID in the data directory)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			raw, err := os.ReadFile(pidFile(cfg))
			if err != nil {
				return fmt.Errorf("is the server running? %w", err)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
			if err != nil || pid <= 0 {
				return fmt.Errorf("%s holds no PID", pidFile(cfg))
			}
			if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
				return fmt.Errorf("signal the server (pid %d): %w", pid, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "asked the server (pid %d) to reload its config\n", pid)
			return nil
		},
	}
}
