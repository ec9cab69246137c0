package config

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateStorage(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(c *Config)
		wantKey string // "" = valid
	}{
		{"bbolt by default", func(c *Config) {}, ""},
		{"postgres with a DSN", func(c *Config) {
			c.Storage.Driver, c.Storage.Postgres.DSN = DriverPostgres, "postgres://latchkey@127.0.0.1/latchkey"
		}, ""},
		{"postgres without a DSN", func(c *Config) { c.Storage.Driver = DriverPostgres }, "storage.postgres.dsn"},
		{"postgres with no connections", func(c *Config) {
			c.Storage.Driver, c.Storage.Postgres.DSN, c.Storage.Postgres.MaxConns = DriverPostgres, "postgres://x@h/db", -1
		}, "storage.postgres.maxConns"},
		{"unknown driver", func(c *Config) { c.Storage.Driver = "mysql" }, "storage.driver"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig(t)
			c.ApplyDefaults()
			tt.mutate(c)
			err := c.Validate()
			if tt.wantKey == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || !strings.Contains(err.Error(), tt.wantKey) {
				t.Fatalf("Validate() = %v, want a problem at %s", err, tt.wantKey)
			}
		})
	}
}

func TestStorageFromEnv(t *testing.T) {
	t.Setenv("LATCHKEY_STORAGE_DRIVER", "postgres")
	t.Setenv("LATCHKEY_PG_DSN", "postgres://latchkey@127.0.0.1:5432/latchkey")
	cfg, err := LoadBytes([]byte(`
storage:
  postgres: {dsn: "${LATCHKEY_PG_DSN}", maxConns: 5}
realms: [{name: demo}]
`), "yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Storage.Driver != DriverPostgres || cfg.Storage.Postgres.DSN != "postgres://latchkey@127.0.0.1:5432/latchkey" || cfg.Storage.Postgres.MaxConns != 5 {
		t.Errorf("storage = %+v, want postgres with the DSN from the environment and 5 connections", cfg.Storage)
	}
}
