package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/bboltstore"
	"github.com/latchkey/latchkey/storage/postgres"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// configLoader loads the configuration named by --config. Commands take it
// rather than a loaded config because flags are parsed after the command
// tree is built.
type configLoader func() (*config.Config, error)

func newRootCmd() *cobra.Command {
	var configPath string
	root := &cobra.Command{
		Use:           "latchkey",
		Short:         "Latchkey: a multi-realm OpenID Connect identity provider",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVarP(&configPath, "config", "c", os.Getenv("LATCHKEY_CONFIG"),
		"config file (YAML, TOML or JSON); empty: the embedded demo config")
	load := configLoader(func() (*config.Config, error) { return config.Load(configPath) })
	root.AddCommand(newServeCmd(load), newConfigCmd(load), newUserCmd(load), newKeysCmd(load), newMigrateCmd(load), newReloadCmd(load), newVersionCmd())
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := version
			if info, ok := debug.ReadBuildInfo(); ok && v == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
				v = info.Main.Version
			}
			fmt.Fprintln(cmd.OutOrStdout(), "latchkey", v)
			return nil
		},
	}
}

func newConfigCmd(load configLoader) *cobra.Command {
	c := &cobra.Command{Use: "config", Short: "Work with configuration files"}
	c.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Validate the config file without starting the server",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			where := cfg.Storage.Path
			if cfg.Storage.Driver == config.DriverPostgres {
				where = "postgres" // the DSN may hold a password: never echo it
			}
			fmt.Fprintf(cmd.OutOrStdout(), "config OK: %d realm(s), default realm %q, storage %s\n",
				len(cfg.Realms), cfg.DefaultRealm, where)
			return nil
		},
	})
	return c
}

func newLogger(cfg *config.Config) *slog.Logger { return loggerAt(cfg, logLevel(cfg)) }

// newLibraryLogger is the logger of third-party libraries: at least warn.
func newLibraryLogger(cfg *config.Config) *slog.Logger {
	return loggerAt(cfg, max(logLevel(cfg), slog.LevelWarn))
}

func logLevel(cfg *config.Config) slog.Level {
	var level slog.Level
	switch strings.ToLower(cfg.Log.Level) {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		level = slog.LevelInfo
	}
	return level
}

func loggerAt(cfg *config.Config, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// openStore opens the configured backend: the bbolt file (a running server
// holds its lock, hence the hint) or the PostgreSQL database, whose schema
// migrations it applies.
func openStore(ctx context.Context, cfg *config.Config) (storage.Store, error) {
	if cfg.Storage.Driver == config.DriverPostgres {
		s, err := postgres.Open(ctx, postgres.Options{DSN: cfg.Storage.Postgres.DSN, MaxConns: cfg.Storage.Postgres.MaxConns})
		if err != nil {
			return nil, fmt.Errorf("storage.postgres: %w", err)
		}
		return s, nil
	}
	s, err := bboltstore.Open(cfg.Storage.Path, bboltstore.Options{})
	if err != nil {
		return nil, fmt.Errorf("%w (is a latchkey server running on this database? admin commands need it stopped)", err)
	}
	return s, nil
}

// newMigrateCmd applies PostgreSQL schema migrations without starting the
// server (serve applies them too), for deployments that migrate first.
func newMigrateCmd(load configLoader) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply the PostgreSQL schema migrations (storage.driver postgres) and exit",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			if cfg.Storage.Driver != config.DriverPostgres {
				return fmt.Errorf("migrate: storage.driver is %s; only postgres has schema migrations", cfg.Storage.Driver)
			}
			if err := postgres.Migrate(cmd.Context(), cfg.Storage.Postgres.DSN); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "database schema is up to date")
			return nil
		},
	}
}
