package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const sampleYAML = `
server:
  listen: "127.0.0.1:9443"
  publicURL: "https://idp.example.com/"
  tls: {mode: files, certFile: /etc/tls/cert.pem, keyFile: /etc/tls/key.pem}
  trustedProxies: ["10.0.0.0/8"]
storage:
  path: /var/lib/latchkey/db
smtp:
  host: smtp.example.com
  port: 465
  security: tls
realms:
  - name: acme
    tokens:
      accessTokenLifespan: 10m
    clients:
      - clientId: web
        public: true
        redirectUris: ["https://app.example.com/callback"]
      - clientId: backend
        secret: s3cret
        grantTypes: [client_credentials]
    sites:
      - name: shop
        appURL: https://shop.example.com/app
        extraParams: []
`

const sampleTOML = `
[server]
listen = "127.0.0.1:9443"
publicURL = "https://idp.example.com/"
trustedProxies = ["10.0.0.0/8"]
[server.tls]
mode = "files"
certFile = "/etc/tls/cert.pem"
keyFile = "/etc/tls/key.pem"
[storage]
path = "/var/lib/latchkey/db"
[smtp]
host = "smtp.example.com"
port = 465
security = "tls"
[[realms]]
name = "acme"
[realms.tokens]
accessTokenLifespan = "10m"
[[realms.clients]]
clientId = "web"
public = true
redirectUris = ["https://app.example.com/callback"]
[[realms.clients]]
clientId = "backend"
secret = "s3cret"
grantTypes = ["client_credentials"]
[[realms.sites]]
name = "shop"
appURL = "https://shop.example.com/app"
extraParams = []
`

const sampleJSON = `{
  "server": {"listen": "127.0.0.1:9443", "publicURL": "https://idp.example.com/",
    "tls": {"mode": "files", "certFile": "/etc/tls/cert.pem", "keyFile": "/etc/tls/key.pem"},
    "trustedProxies": ["10.0.0.0/8"]},
  "storage": {"path": "/var/lib/latchkey/db"},
  "smtp": {"host": "smtp.example.com", "port": 465, "security": "tls"},
  "realms": [{"name": "acme", "tokens": {"accessTokenLifespan": "10m"},
    "clients": [
      {"clientId": "web", "public": true, "redirectUris": ["https://app.example.com/callback"]},
      {"clientId": "backend", "secret": "s3cret", "grantTypes": ["client_credentials"]}],
    "sites": [{"name": "shop", "appURL": "https://shop.example.com/app", "extraParams": []}]}]
}`

// writeFile writes content to name in a fresh temp dir and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// problemsOf returns the problems of a *ValidationError, failing otherwise.
func problemsOf(t *testing.T, err error) []Problem {
	t.Helper()
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("err = %v (%T), want a *ValidationError", err, err)
	}
	return verr.Problems
}

func TestLoadFormatsAgree(t *testing.T) {
	files := map[string]string{"latchkey.yaml": sampleYAML, "latchkey.yml": sampleYAML,
		"latchkey.toml": sampleTOML, "latchkey.json": sampleJSON}
	var want *Config
	for _, name := range []string{"latchkey.yaml", "latchkey.yml", "latchkey.toml", "latchkey.json"} {
		t.Run(name, func(t *testing.T) {
			cfg, err := Load(writeFile(t, name, files[name]))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if want == nil {
				want = cfg
				return
			}
			if !reflect.DeepEqual(cfg, want) {
				t.Errorf("got %+v\nwant (from YAML) %+v", cfg, want)
			}
		})
	}
	if want == nil {
		t.Fatal("YAML did not load")
	}
	r := want.Realms[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"publicURL (trailing slash stripped)", want.Server.PublicURL, "https://idp.example.com"},
		{"defaultRealm", want.DefaultRealm, "acme"},
		{"accessTokenLifespan", r.Tokens.AccessTokenLifespan, 10 * time.Minute},
		{"idTokenLifespan", r.Tokens.IDTokenLifespan, 10 * time.Minute},
		{"smtp.port", want.SMTP.Port, 465},
		{"web pkce", r.Clients[0].PKCE, PKCERequired},
		{"web grantTypes", r.Clients[0].GrantTypes, []string{GrantAuthorizationCode, GrantRefreshToken}},
		{"backend pkce", r.Clients[1].PKCE, PKCEOptional},
		{"explicit empty extraParams", r.Sites[0].ExtraParams, []string{}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

func TestLoadFileErrors(t *testing.T) {
	tests := []struct {
		name, path, want string
	}{
		{"missing file", filepath.Join(t.TempDir(), "nope.yaml"), "read config"},
		{"unknown extension", writeFile(t, "latchkey.ini", "x=1"), "unsupported config file extension"},
		{"bad yaml", writeFile(t, "latchkey.yaml", "server: [unclosed"), "parse yaml"},
		{"bad json", writeFile(t, "latchkey.json", `{"server": }`), "parse json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load(%q) err = %v, want it to contain %q", tc.path, err, tc.want)
			}
		})
	}
}

func TestEnvOverrides(t *testing.T) {
	t.Setenv("LATCHKEY_SERVER_LISTEN", "0.0.0.0:9000")
	t.Setenv("LATCHKEY_STORAGE_PATH", "/tmp/override.db")
	t.Setenv("LATCHKEY_SERVER_TLS_MODE", "off")
	t.Setenv("LATCHKEY_SMTP_PORT", "2525")
	t.Setenv("LATCHKEY_SERVER_TRUSTEDPROXIES", "10.0.0.0/8, 192.168.0.0/16")
	t.Setenv("LATCHKEY_LOG_LEVEL", "debug")
	// The file sets server.listen and storage.path but none of the others.
	yaml := "server: {listen: \"127.0.0.1:1\"}\nstorage: {path: ./file.db}\nrealms: [{name: a}]\n"
	cfg, err := Load(writeFile(t, "c.yaml", yaml))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"server.listen", cfg.Server.Listen, "0.0.0.0:9000"},
		{"storage.path", cfg.Storage.Path, "/tmp/override.db"},
		{"server.tls.mode", cfg.Server.TLS.Mode, TLSOff},
		{"server.publicURL (derived)", cfg.Server.PublicURL, "http://localhost:9000"},
		{"smtp.port", cfg.SMTP.Port, 2525},
		{"server.trustedProxies", cfg.Server.TrustedProxies, []string{"10.0.0.0/8", "192.168.0.0/16"}},
		{"log.level", cfg.Log.Level, "debug"},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

func TestEnvOverridesFileValues(t *testing.T) {
	t.Setenv("LATCHKEY_SERVER_PUBLICURL", "https://idp.example.org/")
	t.Setenv("LATCHKEY_DEFAULTREALM", "b")
	t.Setenv("LATCHKEY_SMTP_HOST", "smtp.example.org")
	yaml := "server: {publicURL: \"https://file.example\"}\ndefaultRealm: a\nsmtp: {host: file}\nrealms: [{name: a}, {name: b}]\n"
	cfg, err := LoadBytes([]byte(yaml), "yaml")
	if err != nil {
		t.Fatalf("LoadBytes: %v", err)
	}
	got := []string{cfg.Server.PublicURL, cfg.DefaultRealm, cfg.SMTP.Host}
	want := []string{"https://idp.example.org", "b", "smtp.example.org"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("publicURL, defaultRealm, smtp.host = %q, want %q", got, want)
	}
}

func TestEnvOverrideInvalidValue(t *testing.T) {
	t.Setenv("LATCHKEY_SMTP_PORT", "smtp")
	_, err := LoadBytes([]byte("realms: [{name: a}]"), "yaml")
	ps := problemsOf(t, err)
	if len(ps) != 1 || ps[0].Key != "smtp.port" {
		t.Errorf("problems = %v, want one for smtp.port", ps)
	}
}

func TestExpandEnv(t *testing.T) {
	t.Setenv("BACKEND_SECRET", "from-env")
	t.Setenv("HOST_PART", "mail")
	hash := "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA"
	yaml := `
smtp: {host: "${HOST_PART}.example.com", username: u, password: "p$${NOT_EXPANDED}"}
realms:
  - name: a
    clients:
      - {clientId: backend, secret: "${BACKEND_SECRET}", grantTypes: [client_credentials]}
      - {clientId: other, secretHash: "` + hash + `", grantTypes: [client_credentials]}
`
	cfg, err := LoadBytes([]byte(yaml), "yaml")
	if err != nil {
		t.Fatalf("LoadBytes: %v", err)
	}
	if got := cfg.Realms[0].Clients[0].Secret; got != "from-env" {
		t.Errorf("secret = %q, want %q", got, "from-env")
	}
	if got := cfg.SMTP.Host; got != "mail.example.com" {
		t.Errorf("smtp.host = %q, want mail.example.com", got)
	}
	if got := cfg.SMTP.Password; got != "p${NOT_EXPANDED}" {
		t.Errorf("smtp.password = %q, want the literal p${NOT_EXPANDED}", got)
	}
	if got := cfg.Realms[0].Clients[1].SecretHash; got != hash {
		t.Errorf("secretHash = %q, want it untouched %q", got, hash)
	}
}

func TestExpandEnvErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unset variable", `{clientId: web, public: true, redirectUris: ["https://a.example/cb"]}, {clientId: backend, secret: "${LATCHKEY_TEST_UNSET}", grantTypes: [client_credentials]}`,
			"realms[0].clients[1].secret: environment variable LATCHKEY_TEST_UNSET is not set"},
		{"malformed reference", `{clientId: backend, secret: "${NOT-A-NAME}", grantTypes: [client_credentials]}`,
			`realms[0].clients[0].secret: invalid environment reference "${NOT-A-NAME}"`},
		{"unterminated", `{clientId: backend, secret: "${OPEN", grantTypes: [client_credentials]}`,
			`realms[0].clients[0].secret: unterminated "${OPEN"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadBytes([]byte("realms: [{name: a, clients: ["+tc.yaml+"]}]"), "yaml")
			ps := problemsOf(t, err)
			// The empty secret must not be reported a second time as missing.
			if len(ps) != 1 || !strings.HasPrefix(ps[0].String(), tc.want) {
				t.Errorf("problems = %q, want exactly one starting with %q", ps, tc.want)
			}
		})
	}
}

func TestUnknownKeys(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"typo with hint", "realms: [{name: a, clients: [{clientId: w, public: true, redirectUri: [x]}]}]",
			[]string{`realms[0].clients[0].redirectUri: unknown key (did you mean "redirectUris"?)`}},
		{"snake case", "server: {public_url: x}\nrealms: [{name: a}]",
			[]string{`server.public_url: unknown key (did you mean "publicURL"?)`}},
		{"top level", "sever: {listen: x}\nrealms: [{name: a}]",
			[]string{`sever: unknown key (did you mean "server"?)`}},
		{"no close match", "realms: [{name: a, frobnicate: true}]",
			[]string{`realms[0].frobnicate: unknown key`}},
		{"two at once", "realms: [{name: a, tokens: {accessLifespan: 5m}, sites: [{name: s, appUrl2: x}]}]",
			[]string{"realms[0].sites[0].appUrl2: unknown key", "realms[0].tokens.accessLifespan: unknown key"}},
		{"same key in two cases", "realms: [{name: a, displayName: x, displayname: y}]",
			[]string{`realms[0].displayname: duplicate key (also written as "displayName"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadBytes([]byte(tc.yaml), "yaml")
			ps := problemsOf(t, err)
			if len(ps) != len(tc.want) {
				t.Fatalf("problems = %q, want %d: %q", ps, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(ps[i].String(), w) {
					t.Errorf("problem %d = %q, want prefix %q", i, ps[i], w)
				}
			}
		})
	}
}

func TestKeysAreCaseInsensitive(t *testing.T) {
	yaml := "REALMS: [{Name: a, clients: [{clientID: w, public: true, redirectURIs: [\"https://a.example/cb\"]}]}]"
	cfg, err := LoadBytes([]byte(yaml), "yaml")
	if err != nil {
		t.Fatalf("LoadBytes: %v", err)
	}
	if got := cfg.Realms[0].Clients[0].RedirectURIs; !reflect.DeepEqual(got, []string{"https://a.example/cb"}) {
		t.Errorf("redirectUris = %q", got)
	}
}

func TestDecodeErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"duration without unit", "realms: [{name: a, magicLink: {lifespan: 300}}]",
			"realms[0].magicLink.lifespan: duration 300 has no unit"},
		{"bad duration", "realms: [{name: a, tokens: {accessTokenLifespan: 5 minutes}}]",
			"realms[0].tokens.accessTokenLifespan: "},
		{"not a number", "smtp: {port: lots}\nrealms: [{name: a}]", "smtp.port: "},
		{"not a bool", "realms: [{name: a, clients: [{clientId: w, public: maybe}]}]", "realms[0].clients[0].public: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadBytes([]byte(tc.yaml), "yaml")
			ps := problemsOf(t, err)
			if len(ps) != 1 || !strings.HasPrefix(ps[0].String(), tc.want) {
				t.Errorf("problems = %q, want one starting with %q", ps, tc.want)
			}
		})
	}
}

func TestResendIntervalZeroMeansOff(t *testing.T) {
	cfg, err := LoadBytes([]byte("realms: [{name: a, magicLink: {resendInterval: 0}}, {name: b}]"), "yaml")
	if err != nil {
		t.Fatalf("LoadBytes: %v", err)
	}
	cfg.ApplyDefaults() // idempotent: the explicit 0 must survive a second call
	if got := cfg.Realms[0].MagicLink.ResendInterval; got != 0 {
		t.Errorf("explicit resendInterval 0 became %s, want 0 (off)", got)
	}
	if got := cfg.Realms[1].MagicLink.ResendInterval; got != time.Minute {
		t.Errorf("absent resendInterval = %s, want the 60s default", got)
	}
}

// The device flow block is read from a file with its Keycloak-style
// durations, and an unknown key in it is named.
func TestDeviceFlowFromFile(t *testing.T) {
	cfg, err := LoadBytes([]byte(`realms:
  - name: a
    deviceFlow: {lifespan: 15m, pollInterval: 3s}
    clients: [{clientId: tv, public: true, grantTypes: ["urn:ietf:params:oauth:grant-type:device_code"]}]
`), "yaml")
	if err != nil {
		t.Fatalf("LoadBytes: %v", err)
	}
	if got, want := cfg.Realms[0].DeviceFlow, (DeviceFlow{Lifespan: 15 * time.Minute, PollInterval: 3 * time.Second}); got != want {
		t.Errorf("deviceFlow = %+v, want %+v", got, want)
	}
	if got := cfg.Realms[0].Clients[0].GrantTypes; len(got) != 1 || got[0] != GrantDeviceCode {
		t.Errorf("grantTypes = %v, want [%s]", got, GrantDeviceCode)
	}
	_, err = LoadBytes([]byte("realms: [{name: a, deviceFlow: {interval: 5s}}]"), "yaml")
	if err == nil || !strings.Contains(err.Error(), "realms[0].deviceFlow.interval") {
		t.Errorf("unknown deviceFlow key: error %v, want one naming realms[0].deviceFlow.interval", err)
	}
}

func TestDemo(t *testing.T) {
	t.Setenv("LATCHKEY_SERVER_LISTEN", "127.0.0.1:9999")
	demo, err := Demo()
	if err != nil {
		t.Fatalf("Demo: %v", err)
	}
	r := demo.Realm(DemoRealm)
	if r == nil {
		t.Fatalf("Demo has no realm %q", DemoRealm)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen (env ignored)", demo.Server.Listen, "127.0.0.1:8443"},
		{"publicURL", demo.Server.PublicURL, "https://localhost:8443"},
		{"tls", demo.Server.TLS.Mode, TLSSelfSigned},
		{"smtp.host", demo.SMTP.Host, ""},
		{"defaultRealm", demo.DefaultRealm, DemoRealm},
		{"displayName", r.DisplayName, "Demo Realm"},
		{"user", r.Users[0].Email, DemoUserEmail},
		{"password", r.Users[0].Password, DemoUserPassword},
		{"public client", r.Clients[0].ClientID + " " + r.Clients[0].PKCE, DemoPublicClientID + " required"},
		{"service client", r.Clients[1].ClientID, DemoServiceClientID},
		{"secret", r.Clients[1].Secret, DemoClientSecret},
		{"site", r.Sites[0].Name, "testing"},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}

	// Load("") is the demo too, but with environment overrides applied.
	cfg, err := Load("")
	if err != nil {
		t.Fatalf(`Load(""): %v`, err)
	}
	if cfg.Server.Listen != "127.0.0.1:9999" || cfg.Server.PublicURL != "https://localhost:9999" {
		t.Errorf(`Load("") listen, publicURL = %q, %q; want the env override and a URL derived from it`,
			cfg.Server.Listen, cfg.Server.PublicURL)
	}
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in      string
		n       int
		per     time.Duration
		wantErr bool
	}{
		{"20/s", 20, time.Second, false},
		{"5/m", 5, time.Minute, false},
		{" 100 / h ", 100, time.Hour, false},
		{"", 0, 0, false},
		{"off", 0, 0, false},
		{"0/s", 0, 0, true},
		{"-1/s", 0, 0, true},
		{"20", 0, 0, true},
		{"20/d", 0, 0, true},
		{"x/s", 0, 0, true},
		{"20 per second", 0, 0, true},
	}
	for _, tc := range tests {
		n, per, err := ParseRate(tc.in)
		if (err != nil) != tc.wantErr || n != tc.n || per != tc.per {
			t.Errorf("ParseRate(%q) = %d, %s, %v; want %d, %s, error %v", tc.in, n, per, err, tc.n, tc.per, tc.wantErr)
		}
	}
}
