package config

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/crypto/password"
)

// validConfig is a config that passes Validate once defaults are applied;
// each test case breaks one thing in a fresh copy.
func validConfig(t *testing.T) *Config {
	t.Helper()
	hash, err := password.HashWith("secret", password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	return &Config{
		Realms: []Realm{{
			Name: "main",
			Clients: []Client{
				{ClientID: "web", Public: true, RedirectURIs: []string{"https://app.example.com/cb"},
					WebOrigins: []string{"https://app.example.com"}},
				{ClientID: "svc", SecretHash: hash, GrantTypes: []string{GrantClientCredentials}},
			},
			Users:     []User{{Email: "a@example.com", Password: "long-enough"}},
			Sites:     []Site{{Name: "shop", AppURL: "https://shop.example.com/app"}},
			Workflows: []Workflow{{Name: "notify", Webhook: "https://hooks.example.com/x", Secret: "k"}},
		}},
	}
}

func TestValidateAcceptsValidConfigs(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
	}{
		{"base", func(c *Config) {}},
		{"custom scheme redirect", func(c *Config) { c.Realms[0].Clients[0].RedirectURIs = []string{"com.example.app:/cb"} }},
		{"wildcard redirect when allowed", func(c *Config) {
			c.Realms[0].Clients[0].WildcardRedirects = true
			c.Realms[0].Clients[0].RedirectURIs = []string{"https://app.example.com/*"}
		}},
		{"http webhook on loopback", func(c *Config) {
			c.Realms[0].Workflows = append(c.Realms[0].Workflows,
				Workflow{Name: "a", Webhook: "http://127.0.0.1:9000/hook", Secret: "k"},
				Workflow{Name: "b", Webhook: "http://[::1]/hook", Secret: "k"},
				Workflow{Name: "c", Webhook: "http://localhost/hook", Secret: "k"})
		}},
		{"rate limits off", func(c *Config) { c.Realms[0].RateLimits = RateLimits{PerIP: "off", PerAccount: "off"} }},
		{"no extra params", func(c *Config) { c.Realms[0].Sites[0].ExtraParams = []string{} }},
		{"web origins + and *", func(c *Config) { c.Realms[0].Clients[0].WebOrigins = []string{"+", "*"} }},
		{"tls files", func(c *Config) { c.Server.TLS = TLS{Mode: TLSFiles, CertFile: "c.pem", KeyFile: "k.pem"} }},
		{"realm smtp override", func(c *Config) { c.Realms[0].SMTP = SMTP{From: "Acme <a@acme.example>"} }},
		{"device-only public client without redirect URIs", func(c *Config) {
			c.Realms[0].Clients = append(c.Realms[0].Clients,
				Client{ClientID: "tv", Public: true, GrantTypes: []string{GrantDeviceCode, GrantRefreshToken}})
		}},
		{"device grant on a confidential client", func(c *Config) {
			c.Realms[0].Clients[1].GrantTypes = append(c.Realms[0].Clients[1].GrantTypes, GrantDeviceCode)
		}},
		{"device flow tuned", func(c *Config) {
			c.Realms[0].DeviceFlow = DeviceFlow{Lifespan: 30 * time.Second, PollInterval: time.Second}
		}},
		{"brute force disabled", func(c *Config) {
			c.Realms[0].BruteForce = BruteForce{Enabled: ptr(false), FailureFactor: -1}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig(t)
			tc.mutate(c)
			c.ApplyDefaults()
			if err := c.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestValidateNamesTheKey(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(c *Config)
		wantKey string
		wantMsg string
	}{
		{"listen", func(c *Config) { c.Server.Listen = "8443" }, "server.listen", "host:port"},
		{"publicURL scheme", func(c *Config) { c.Server.PublicURL = "ftp://x" }, "server.publicURL", "http or https"},
		{"publicURL query", func(c *Config) { c.Server.PublicURL = "https://x?a=b" }, "server.publicURL", "query"},
		{"tls mode", func(c *Config) { c.Server.TLS.Mode = "on" }, "server.tls.mode", `"on" is not one of`},
		{"tls cert", func(c *Config) { c.Server.TLS = TLS{Mode: TLSFiles, KeyFile: "k"} }, "server.tls.certFile", "required"},
		{"tls key", func(c *Config) { c.Server.TLS = TLS{Mode: TLSFiles, CertFile: "c"} }, "server.tls.keyFile", "required"},
		{"proxy", func(c *Config) { c.Server.TrustedProxies = []string{"10.0.0.0/8", "10.1.1.1"} }, "server.trustedProxies[1]", "CIDR"},
		{"body cap", func(c *Config) { c.Server.MaxBodyBytes = -1 }, "server.maxBodyBytes", "positive"},
		{"storage", func(c *Config) { c.Storage.Path = " " }, "storage.path", "required"},
		{"smtp security", func(c *Config) { c.SMTP.Security = "ssl" }, "smtp.security", "not one of"},
		{"smtp port", func(c *Config) { c.SMTP.Port = 70000 }, "smtp.port", "65535"},
		{"smtp from", func(c *Config) { c.SMTP.From = "nobody" }, "smtp.from", "mail address"},
		{"log level", func(c *Config) { c.Log.Level = "loud" }, "log.level", "not one of"},
		{"no realms", func(c *Config) { c.Realms = nil }, "realms", "at least one realm"},
		{"realm name", func(c *Config) { c.Realms[0].Name = "my realm" }, "realms[0].name", "letters, digits"},
		{"duplicate realm", func(c *Config) {
			c.Realms = append(c.Realms, Realm{Name: "main"})
		}, "realms[1].name", "duplicate realm name"},
		{"default realm", func(c *Config) { c.DefaultRealm = "other" }, "defaultRealm", `no realm is named "other"`},
		{"sslRequired", func(c *Config) { c.Realms[0].SSLRequired = "some" }, "realms[0].sslRequired", "not one of"},
		{"algorithm", func(c *Config) { c.Realms[0].SigningAlgorithm = "HS256" }, "realms[0].signingAlgorithm", "not one of"},
		{"lifespan", func(c *Config) { c.Realms[0].Tokens.AccessTokenLifespan = -time.Minute },
			"realms[0].tokens.accessTokenLifespan", "positive"},
		{"magic link lifespan", func(c *Config) { c.Realms[0].MagicLink = MagicLink{Lifespan: 2 * time.Hour, MaxLifespan: time.Hour} },
			"realms[0].magicLink.lifespan", "longer than magicLink.maxLifespan"},
		{"failure factor", func(c *Config) { c.Realms[0].BruteForce.FailureFactor = -3 }, "realms[0].bruteForce.failureFactor", "at least 1"},
		{"rate", func(c *Config) { c.Realms[0].RateLimits.PerIP = "20 per second" }, "realms[0].rateLimits.perIP", "N/unit"},
		{"min length", func(c *Config) { c.Realms[0].PasswordPolicy.MinLength = -1 }, "realms[0].passwordPolicy.minLength", "at least 1"},
		{"realm smtp", func(c *Config) { c.Realms[0].SMTP.Security = "ssl" }, "realms[0].smtp.security", "not one of"},
		{"template", func(c *Config) { c.Realms[0].MailTemplates.MagicLinkHTML = "{{ .Link" },
			"realms[0].mailTemplates.magicLinkHTML", "unclosed action"},
		{"max emails", func(c *Config) { c.Realms[0].LinkAPI.MaxEmails = -1 }, "realms[0].linkAPI.maxEmails", "at least 1"},
		{"client id", func(c *Config) { c.Realms[0].Clients[0].ClientID = "" }, "realms[0].clients[0].clientId", "required"},
		{"duplicate client", func(c *Config) { c.Realms[0].Clients[1].ClientID = "web" }, "realms[0].clients[1].clientId", "duplicate"},
		{"confidential without secret", func(c *Config) { c.Realms[0].Clients[1].SecretHash = "" },
			"realms[0].clients[1].secret", "needs a secret"},
		{"public with secret", func(c *Config) { c.Realms[0].Clients[0].Secret = "x" }, "realms[0].clients[0].secret", "public client"},
		{"secret and hash", func(c *Config) { c.Realms[0].Clients[1].Secret = "x" }, "realms[0].clients[1].secret", "not both"},
		{"secret hash", func(c *Config) { c.Realms[0].Clients[1].SecretHash = "$2b$10$abc" }, "realms[0].clients[1].secretHash", "argon2id"},
		{"fragment", func(c *Config) { c.Realms[0].Clients[0].RedirectURIs[0] = "https://a.example/cb#x" },
			"realms[0].clients[0].redirectUris[0]", "fragment"},
		{"relative redirect", func(c *Config) { c.Realms[0].Clients[0].RedirectURIs[0] = "/cb" },
			"realms[0].clients[0].redirectUris[0]", "absolute"},
		{"wildcard not allowed", func(c *Config) { c.Realms[0].Clients[0].RedirectURIs[0] = "https://a.example/*" },
			"realms[0].clients[0].redirectUris[0]", "wildcardRedirects"},
		{"wildcard after host", func(c *Config) {
			c.Realms[0].Clients[0].WildcardRedirects = true
			c.Realms[0].Clients[0].RedirectURIs[0] = "https://a.example*"
		}, "realms[0].clients[0].redirectUris[0]", "other hosts"},
		{"wildcard in the middle", func(c *Config) {
			c.Realms[0].Clients[0].WildcardRedirects = true
			c.Realms[0].Clients[0].RedirectURIs[0] = "https://*.example/cb"
		}, "realms[0].clients[0].redirectUris[0]", "last character"},
		{"javascript redirect", func(c *Config) { c.Realms[0].Clients[0].RedirectURIs[0] = "javascript:alert(1)" },
			"realms[0].clients[0].redirectUris[0]", "not allowed"},
		{"post logout", func(c *Config) { c.Realms[0].Clients[0].PostLogoutRedirectURIs = []string{"x"} },
			"realms[0].clients[0].postLogoutRedirectUris[0]", "absolute"},
		{"origin with path", func(c *Config) { c.Realms[0].Clients[0].WebOrigins[0] = "https://a.example/app" },
			"realms[0].clients[0].webOrigins[0]", "not an origin"},
		{"device grant misspelt", func(c *Config) {
			c.Realms[0].Clients[0].GrantTypes = []string{GrantAuthorizationCode, "device_code"}
		}, "realms[0].clients[0].grantTypes[1]", `"device_code" is not one of`},
		{"device lifespan", func(c *Config) { c.Realms[0].DeviceFlow.Lifespan = -time.Minute },
			"realms[0].deviceFlow.lifespan", "positive"},
		{"device poll interval fraction", func(c *Config) { c.Realms[0].DeviceFlow.PollInterval = 1500 * time.Millisecond },
			"realms[0].deviceFlow.pollInterval", "whole number of seconds"},
		{"device poll interval below a second", func(c *Config) { c.Realms[0].DeviceFlow.PollInterval = 500 * time.Millisecond },
			"realms[0].deviceFlow.pollInterval", "at least 1s"},
		{"device poll interval not below lifespan", func(c *Config) {
			c.Realms[0].DeviceFlow = DeviceFlow{Lifespan: time.Minute, PollInterval: time.Minute}
		}, "realms[0].deviceFlow.pollInterval", "not shorter than deviceFlow.lifespan"},
		{"grant type", func(c *Config) {
			c.Realms[0].Clients[1].GrantTypes = []string{GrantClientCredentials, "urn:example:unknown"}
		},
			"realms[0].clients[1].grantTypes[1]", `"urn:example:unknown" is not one of`},
		{"backchannel logout over http", func(c *Config) { c.Realms[0].Clients[1].BackchannelLogoutURI = "http://rp.example.com/bc" },
			"realms[0].clients[1].backchannelLogoutUri", "loopback"},
		{"public client credentials", func(c *Config) {
			c.Realms[0].Clients[0].GrantTypes = []string{GrantAuthorizationCode, GrantClientCredentials}
		}, "realms[0].clients[0].grantTypes[1]", "confidential"},
		{"pkce", func(c *Config) { c.Realms[0].Clients[0].PKCE = "sometimes" }, "realms[0].clients[0].pkce", "not one of"},
		{"redirect required", func(c *Config) {
			c.Realms[0].Clients[1].GrantTypes = []string{GrantImplicit}
		}, "realms[0].clients[1].redirectUris", "required"},
		{"email with name", func(c *Config) { c.Realms[0].Users[0].Email = "A <a@example.com>" }, "realms[0].users[0].email", "plain email"},
		{"email invalid", func(c *Config) { c.Realms[0].Users[0].Email = "a@" }, "realms[0].users[0].email", "plain email"},
		{"duplicate email", func(c *Config) {
			c.Realms[0].Users = append(c.Realms[0].Users, User{Email: "A@Example.com"})
		}, "realms[0].users[1].email", "duplicate email"},
		{"password and hash", func(c *Config) { c.Realms[0].Users[0].PasswordHash = c.Realms[0].Clients[1].SecretHash },
			"realms[0].users[0].password", "not both"},
		{"password hash", func(c *Config) { c.Realms[0].Users[0] = User{Email: "a@example.com", PasswordHash: "$argon2id$nope"} },
			"realms[0].users[0].passwordHash", "argon2id"},
		{"short password", func(c *Config) { c.Realms[0].Users[0].Password = "short" }, "realms[0].users[0].password", "minLength"},
		{"site name", func(c *Config) { c.Realms[0].Sites[0].Name = "" }, "realms[0].sites[0].name", "required"},
		{"duplicate site", func(c *Config) { c.Realms[0].Sites = append(c.Realms[0].Sites, c.Realms[0].Sites[0]) },
			"realms[0].sites[1].name", "duplicate"},
		{"app url", func(c *Config) { c.Realms[0].Sites[0].AppURL = "shop.example.com" }, "realms[0].sites[0].appURL", "absolute"},
		{"app url query", func(c *Config) { c.Realms[0].Sites[0].AppURL = "https://s.example/?a=1" }, "realms[0].sites[0].appURL", "query"},
		{"extra param", func(c *Config) { c.Realms[0].Sites[0].ExtraParams = []string{"vin", "token"} },
			"realms[0].sites[0].extraParams[1]", "always set"},
		{"site lifespan", func(c *Config) { c.Realms[0].Sites[0].TokenLifespan = -time.Hour }, "realms[0].sites[0].tokenLifespan", "positive"},
		{"workflow email", func(c *Config) { c.Realms[0].Workflows[0].Name = "email" }, "realms[0].workflows[0].name", "built-in"},
		{"workflow comma", func(c *Config) { c.Realms[0].Workflows[0].Name = "a,b" }, "realms[0].workflows[0].name", "comma"},
		{"webhook http", func(c *Config) { c.Realms[0].Workflows[0].Webhook = "http://hooks.example.com/x" },
			"realms[0].workflows[0].webhook", "loopback"},
		{"webhook scheme", func(c *Config) { c.Realms[0].Workflows[0].Webhook = "ftp://127.0.0.1/x" },
			"realms[0].workflows[0].webhook", "https"},
		{"workflow secret", func(c *Config) { c.Realms[0].Workflows[0].Secret = "" }, "realms[0].workflows[0].secret", "required"},
		{"max attempts", func(c *Config) { c.Realms[0].Workflows[0].MaxAttempts = -1 }, "realms[0].workflows[0].maxAttempts", "at least 1"},
		{"backoff", func(c *Config) { c.Realms[0].Workflows[0].InitialBackoff = -time.Second },
			"realms[0].workflows[0].initialBackoff", "positive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig(t)
			tc.mutate(c)
			c.ApplyDefaults()
			ps := problemsOf(t, c.Validate())
			if len(ps) != 1 || ps[0].Key != tc.wantKey || !strings.Contains(ps[0].Message, tc.wantMsg) {
				t.Errorf("problems = %q, want exactly one for %s containing %q", ps, tc.wantKey, tc.wantMsg)
			}
		})
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	yaml := `
server: {listen: "nope"}
realms:
  - name: a
    signingAlgorithm: HS256
    clients:
      - clientId: web
        public: true
        redirectUris: ["https://app.example.com/cb#frag"]
`
	_, err := Load(writeFile(t, "bad.yaml", yaml))
	ps := problemsOf(t, err)
	want := []string{"server.listen", "realms[0].signingAlgorithm", "realms[0].clients[0].redirectUris[0]"}
	var got []string
	for _, p := range ps {
		got = append(got, p.Key)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problem keys = %q, want %q", got, want)
	}
	for _, k := range want {
		if !strings.Contains(err.Error(), k+": ") {
			t.Errorf("error text %q does not name %s", err, k)
		}
	}
}

func TestApplyDefaults(t *testing.T) {
	c := &Config{Realms: []Realm{{Name: "r", Sites: []Site{{Name: "s", TokenLifespan: 48 * time.Hour}},
		RateLimits: RateLimits{PerAccount: "1/m"}}}}
	c.ApplyDefaults()
	once := *c
	once.Realms = append([]Realm(nil), c.Realms...)
	c.ApplyDefaults()
	if !reflect.DeepEqual(&once, c) {
		t.Errorf("ApplyDefaults is not idempotent:\n%+v\n%+v", once, *c)
	}
	r := c.Realms[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"publicURL", c.Server.PublicURL, "https://localhost:8443"},
		{"defaultRealm", c.DefaultRealm, "r"},
		{"displayName", r.DisplayName, "r"},
		{"keyRotationOverlap", r.Tokens.KeyRotationOverlap, 48 * time.Hour},
		{"partial rate limits kept", r.RateLimits, RateLimits{PerAccount: "1/m"}},
		{"extraParams", r.Sites[0].ExtraParams, []string{"licencePlate", "vin"}},
		{"enabled", r.IsEnabled(), true},
		{"confirmPage", *r.MagicLink.ConfirmPage, true},
		{"bruteForce", *r.BruteForce.Enabled, true},
		{"smtp timeout", c.SMTP.Timeout, 10 * time.Second},
		{"device code lifespan", r.DeviceFlow.Lifespan, 10 * time.Minute},
		{"device poll interval", r.DeviceFlow.PollInterval, 5 * time.Second},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}
}

func TestDerivePublicURL(t *testing.T) {
	tests := []struct{ listen, mode, want string }{
		{"127.0.0.1:8443", TLSSelfSigned, "https://localhost:8443"},
		{":8080", TLSOff, "http://localhost:8080"},
		{"0.0.0.0:443", TLSFiles, "https://localhost"},
		{"[::1]:80", TLSOff, "http://localhost"},
		{"idp.example.com:8443", TLSFiles, "https://idp.example.com:8443"},
		{"[2001:db8::1]:443", TLSFiles, "https://[2001:db8::1]"},
		{"nope", TLSOff, ""},
	}
	for _, tc := range tests {
		if got := derivePublicURL(tc.listen, tc.mode); got != tc.want {
			t.Errorf("derivePublicURL(%q, %q) = %q, want %q", tc.listen, tc.mode, got, tc.want)
		}
	}
}

func TestRealmSMTP(t *testing.T) {
	global := SMTP{Host: "smtp.example.com", Port: 587, From: "G <g@example.com>", Username: "u", Password: "p",
		Security: SMTPStartTLS, Timeout: 10 * time.Second}
	c := &Config{SMTP: global, Realms: []Realm{
		{Name: "plain"},
		{Name: "from", SMTP: SMTP{From: "A <a@acme.example>"}},
		{Name: "host", SMTP: SMTP{Host: "mail.acme.example", Port: 465, Security: SMTPTLS}},
	}}
	withFrom := global
	withFrom.From = "A <a@acme.example>"
	otherHost := SMTP{Host: "mail.acme.example", Port: 465, From: global.From, Security: SMTPTLS, Timeout: global.Timeout}
	tests := []struct {
		realm string
		want  SMTP
	}{
		{"plain", global},
		{"unknown", global},
		{"from", withFrom},
		{"host", otherHost}, // the global credentials stay with the global host
	}
	for _, tc := range tests {
		if got := c.RealmSMTP(tc.realm); got != tc.want {
			t.Errorf("RealmSMTP(%q) = %+v, want %+v", tc.realm, got, tc.want)
		}
	}
}

// TestSpecExample loads the example of SPEC §4: the keys admins are promised.
func TestSpecExample(t *testing.T) {
	hash, err := password.HashWith("pw", password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("ADMIN_HASH", hash)
	t.Setenv("BACKEND_SECRET", "backend-secret")
	t.Setenv("HOOK_SECRET", "hook-secret")
	cfg, err := Load("testdata/spec-example.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	r := cfg.Realms[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"client secret", r.Clients[1].Secret, "backend-secret"},
		{"workflow secret", r.Workflows[0].Secret, "hook-secret"},
		{"password hash", r.Users[0].PasswordHash, hash},
		{"rate limits", r.RateLimits, RateLimits{PerIP: "20/s", PerAccount: "5/m"}},
		{"resend", r.MagicLink.ResendInterval, 60 * time.Second},
		{"extra params", r.Sites[0].ExtraParams, []string{"licencePlate", "vin"}},
		{"smtp override empty", r.SMTP.IsZero(), true},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
}
