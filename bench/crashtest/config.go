package crashtest

import (
	"bytes"
	"fmt"
	"os"
	"text/template"
)

// Names in the realm every harness config sets up.
const (
	// Realm is the realm the tests and the soak drive (also the default realm).
	Realm = "lk"
	// ServiceClientID and ServiceSecret are the confidential client whose
	// service account holds magic-link-sender and link-generator.
	ServiceClientID = "svc"
	ServiceSecret   = "svc-secret-for-tests"
	// PublicClientID is the public client of the login form flow.
	PublicClientID = "web"
	// RedirectURI is the public client's redirect URI; nothing listens there
	// (port 9 is "discard") and the harness never follows the redirect.
	RedirectURI = "http://127.0.0.1:9/cb"
	// Site is the generate-link API's site.
	Site = "app"
	// Workflow is the webhook workflow generate-link requests name.
	Workflow = "notify"
	// WebhookSecret signs webhook deliveries.
	WebhookSecret = "hook-secret-for-tests"
	// UserPassword is the password of every seeded user.
	UserPassword = "correct-horse-battery"
)

// Config describes a harness server config. Everything that would stand in
// the way of driving the server hard is off: TLS (plain http on loopback,
// sslRequired none), brute-force detection, rate limits and the magic-link
// resend interval.
type Config struct {
	Port   int
	DBPath string
	// PostgresDSN, when set, keeps everything in PostgreSQL instead of the
	// bbolt file (the server then needs LATCHKEY_API_KEY_SECRET).
	PostgresDSN string
	SMTPPort    int
	// WebhookURL is where the "notify" workflow posts; empty: no workflow.
	WebhookURL string
	// Users are seeded with UserPassword (created at the first start only).
	Users []string
	// MagicLinkLifespan is the link lifetime (default 15m).
	MagicLinkLifespan string
	// LogLevel of the server (default warn, so that the log stays small).
	LogLevel string
}

// BaseURL is the server's public URL.
func (c Config) BaseURL() string { return fmt.Sprintf("http://127.0.0.1:%d", c.Port) }

var configTemplate = template.Must(template.New("config").Parse(`
server:
  listen: "127.0.0.1:{{.Port}}"
  publicURL: "http://127.0.0.1:{{.Port}}"
  tls: {mode: "off"}
storage:
  path: "{{.DBPath}}"
{{- if .PostgresDSN}}
  driver: postgres
  postgres: {dsn: "{{.PostgresDSN}}", maxConns: 16}
{{- end}}
defaultRealm: {{.Realm}}
log: {level: {{.LogLevel}}}
smtp:
  host: "127.0.0.1"
  port: {{.SMTPPort}}
  security: none
  from: "Latchkey <no-reply@example.com>"
realms:
  - name: {{.Realm}}
    sslRequired: none
    bruteForce: {enabled: false}
    rateLimits: {perIP: "off", perAccount: "off"}
    magicLink: {resendInterval: 0s, lifespan: {{.MagicLinkLifespan}}}
    clients:
      - clientId: {{.ServiceClientID}}
        secret: "{{.ServiceSecret}}"
        grantTypes: [client_credentials]
        serviceAccountRoles: [magic-link-sender, link-generator]
      - clientId: {{.PublicClientID}}
        public: true
        redirectUris: ["{{.RedirectURI}}"]
        grantTypes: [authorization_code, refresh_token]
        pkce: optional
    users:
{{- range .Users}}
      - email: "{{.}}"
        password: "{{$.UserPassword}}"
        emailVerified: true
{{- end}}
    sites:
      - name: {{.Site}}
        appURL: "https://app.example.com/app.html"
{{- if .WebhookURL}}
    workflows:
      - name: {{.Workflow}}
        webhook: "{{.WebhookURL}}"
        secret: "{{.WebhookSecret}}"
        maxAttempts: 1000
        initialBackoff: 50ms
        timeout: 5s
{{- end}}
`))

// Write renders the config to path.
func (c Config) Write(path string) error {
	if c.LogLevel == "" {
		c.LogLevel = "warn"
	}
	if c.MagicLinkLifespan == "" {
		c.MagicLinkLifespan = "15m"
	}
	data := struct {
		Config
		Realm, ServiceClientID, ServiceSecret, PublicClientID, RedirectURI string
		Site, Workflow, WebhookSecret, UserPassword                        string
	}{c, Realm, ServiceClientID, ServiceSecret, PublicClientID, RedirectURI,
		Site, Workflow, WebhookSecret, UserPassword}
	var buf bytes.Buffer
	if err := configTemplate.Execute(&buf, data); err != nil {
		return fmt.Errorf("render harness config: %w", err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("write harness config: %w", err)
	}
	return nil
}
