package config

import (
	_ "embed"
	"fmt"
)

// DemoYAML is the embedded demo config that Load("") uses: one realm with a
// public client, a service client, a demo user and a site, self-signed TLS and
// mail written to the log.
//
//go:embed demo.yaml
var DemoYAML []byte

// Names and credentials in DemoYAML, for the CLI to print. They are public
// demo values, never to be used outside a local trial.
const (
	DemoRealm           = "demo"
	DemoPublicClientID  = "web"
	DemoServiceClientID = "backend"
	DemoClientSecret    = "demo-backend-secret"
	DemoUserEmail       = "demo@example.com"
	DemoUserPassword    = "demo-password"
)

// Demo returns the embedded demo config with defaults applied and validated.
// Unlike Load(""), it ignores LATCHKEY_* environment overrides, so that it is
// the same everywhere (tests rely on that).
func Demo() (*Config, error) {
	cfg, err := load(DemoYAML, "yaml", false)
	if err != nil {
		return nil, fmt.Errorf("embedded demo config: %w", err)
	}
	return cfg, nil
}
