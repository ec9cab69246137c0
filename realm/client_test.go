package realm_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/realm"
)

func TestNormalizeResponseType(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"code", "code"},
		{"token", "token"},
		{"id_token", "id_token"},
		{"token id_token", "id_token token"},
		{"id_token token", "id_token token"},
		{"token code", "code token"},
		{"id_token code", "code id_token"},
		{"token id_token code", "code id_token token"},
		{"id_token code token", "code id_token token"},
		{"  code \t id_token  ", "code id_token"},
		{"", ""},
		{"   ", ""},
		{"code code", ""},
		{"token id_token token", ""},
		{"code foo", ""},
		{"none", ""},
		{"CODE", ""},
		{"code,token", ""},
		{"code+token", ""},
	}
	for _, tt := range tests {
		if got := realm.NormalizeResponseType(tt.in); got != tt.want {
			t.Errorf("NormalizeResponseType(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestClientResponseTypes(t *testing.T) {
	r, _, _ := newDemo(t)
	implicit := []string{"token", "id_token", "id_token token"}
	tests := []struct {
		client string
		want   []string
	}{
		{"code", []string{"code"}},
		{"implicit", implicit},
		{"hybrid", append([]string{"code"}, append(implicit, "code id_token", "code token", "code id_token token")...)},
		{"svc", nil},
	}
	for _, tt := range tests {
		t.Run(tt.client, func(t *testing.T) {
			c, ok := r.Client(tt.client)
			if !ok {
				t.Fatalf("client %q not found", tt.client)
			}
			got := c.ResponseTypes()
			if !slices.Equal(got, tt.want) {
				t.Fatalf("ResponseTypes() = %q, want %q", got, tt.want)
			}
			for _, rt := range got {
				if n := realm.NormalizeResponseType(rt); n != rt {
					t.Errorf("response type %q is not canonical (normalizes to %q)", rt, n)
				}
			}
		})
	}
}

func TestClientAllowsResponseType(t *testing.T) {
	r, _, _ := newDemo(t)
	tests := []struct {
		rt                         string
		code, implicit, hybrid, cc bool
	}{
		{"code", true, false, true, false},
		{"token", false, true, true, false},
		{"id_token", false, true, true, false},
		{"token id_token", false, true, true, false},
		{"id_token token", false, true, true, false},
		{"code id_token", false, false, true, false},
		{"token code", false, false, true, false},
		{"id_token token code", false, false, true, false},
		{"code code", false, false, false, false},
		{"", false, false, false, false},
		{"none", false, false, false, false},
	}
	for _, tt := range tests {
		for _, c := range []struct {
			id   string
			want bool
		}{{"code", tt.code}, {"implicit", tt.implicit}, {"hybrid", tt.hybrid}, {"svc", tt.cc}} {
			cl, _ := r.Client(c.id)
			if got := cl.AllowsResponseType(tt.rt); got != c.want {
				t.Errorf("client %q AllowsResponseType(%q) = %v, want %v", c.id, tt.rt, got, c.want)
			}
		}
	}
}

func TestClientGrants(t *testing.T) {
	r, _, _ := newDemo(t)
	tests := []struct {
		client string
		want   []string
	}{
		{"code", []string{realm.GrantAuthorizationCode, realm.GrantRefreshToken}},
		{"implicit", []string{realm.GrantImplicit}},
		{"hybrid", []string{realm.GrantAuthorizationCode, realm.GrantImplicit}},
		{"svc", []string{realm.GrantClientCredentials}},
	}
	for _, tt := range tests {
		c, _ := r.Client(tt.client)
		if got := c.Grants(); !slices.Equal(got, tt.want) {
			t.Errorf("client %q Grants() = %q, want %q", tt.client, got, tt.want)
		}
		for _, g := range []string{realm.GrantAuthorizationCode, realm.GrantRefreshToken, realm.GrantClientCredentials, realm.GrantImplicit} {
			if got, want := c.AllowsGrant(g), slices.Contains(tt.want, g); got != want {
				t.Errorf("client %q AllowsGrant(%q) = %v, want %v", tt.client, g, got, want)
			}
		}
	}
}

func TestMatchRedirectURI(t *testing.T) {
	r, _, _ := newDemo(t)
	tests := []struct {
		client, uri string
		want        bool
	}{
		{"code", "https://app.example.com/cb", true},
		{"code", "https://app.example.com/cb/", false},
		{"code", "https://app.example.com/cb?x=1", false},
		{"code", "https://app.example.com/cb#frag", false},
		{"code", "https://APP.example.com/cb", false},
		{"code", "http://app.example.com/cb", false},
		{"code", "https://app.example.com/cbx", false},
		{"code", "", false},

		// An exact entry of a wildcard client is still exact.
		{"wild", "https://app.example.com/cb", true},
		{"wild", "https://app.example.com/cb/more", false},
		// Prefix entries.
		{"wild", "https://app.example.com/spa/", true},
		{"wild", "https://app.example.com/spa/deep/path?x=1&y=2", true},
		{"wild", "https://app.example.com/spa", false},
		{"wild", "https://app.example.com/spaevil", false},
		{"wild", "https://app.example.com/spa/#frag", false},
		{"wild", "https://app.example.com/spa/x?y=1#frag", false},
		{"wild", "https://app.example.com/spa/../admin", false},
		{"wild", "https://app.example.com/spa/x/..", false},
		// Browsers resolve percent-encoded dot segments too.
		{"wild", "https://app.example.com/spa/%2e%2e/admin", false},
		{"wild", "https://app.example.com/spa/%2E%2E/admin", false},
		{"wild", "https://app.example.com/spa/.%2e/admin", false},
		{"wild", "https://app.example.com/spa/%2e./admin", false},
		{"wild", "https://app.example.com/spa/file%2Ejpg", true},
		{"wild", "https://app.example.com/spa/%zz", false},
		{"wild", "https://app.example.com.evil.com/spa/", false},
		{"wild", "https://evil.com/https://app.example.com/spa/", false},
		{"wild", "com.example.app:/oauth/done", true},
		{"wild", "com.example.app:/other", false},
	}
	for _, tt := range tests {
		c, ok := r.Client(tt.client)
		if !ok {
			t.Fatalf("client %q not found", tt.client)
		}
		if got := c.MatchRedirectURI(tt.uri); got != tt.want {
			t.Errorf("client %q MatchRedirectURI(%q) = %v, want %v", tt.client, tt.uri, got, tt.want)
		}
	}
}

// A prefix without a path would match other hosts (app.example.com.evil.com),
// so the config refuses it; MatchRedirectURI relies on that.
func TestWildcardRedirectNeedsPath(t *testing.T) {
	tests := []struct {
		name, uris string
		wildcard   bool
		wantErr    string // "" = valid
	}{
		{"prefix with path", `["https://app.example.com/*"]`, true, ""},
		{"prefix without path", `["https://app.example.com*"]`, true, "wildcard must follow a path"},
		{"wildcard not allowed", `["https://app.example.com/*"]`, false, "does not set wildcardRedirects"},
		{"wildcard in the middle", `["https://app.example.com/*/cb"]`, true, "only as the last character"},
		{"fragment", `["https://app.example.com/cb#x"]`, false, "fragment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wild := "false"
			if tt.wildcard {
				wild = "true"
			}
			yaml := `
realms:
  - name: demo
    clients:
      - clientId: web
        public: true
        wildcardRedirects: ` + wild + `
        redirectUris: ` + tt.uris + `
`
			_, err := config.LoadBytes([]byte(yaml), "yaml")
			var verr *config.ValidationError
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("LoadBytes: %v, want no error", err)
			case tt.wantErr != "" && (!errors.As(err, &verr) || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("LoadBytes error = %v, want a *config.ValidationError containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestCheckSecret(t *testing.T) {
	r, _, _ := newDemo(t)
	tests := []struct {
		client, secret string
		want           bool
	}{
		{"svc", "s3cret-value", true},
		{"svc", "s3cret-value ", false},
		{"svc", "S3cret-value", false},
		{"svc", "s3cret", false},
		{"svc", "", false},
		// The argon2id hash; the second right answer comes from the cache.
		{"hashed", testPassword, true},
		{"hashed", testPassword, true},
		{"hashed", "wrong", false},
		{"hashed", "", false},
		// Public clients have no secret: nothing matches.
		{"code", "", false},
		{"code", "s3cret-value", false},
		{"code", testPassword, false},
	}
	for _, tt := range tests {
		c, _ := r.Client(tt.client)
		if got := c.CheckSecret(tt.secret); got != tt.want {
			t.Errorf("client %q CheckSecret(%q) = %v, want %v", tt.client, tt.secret, got, tt.want)
		}
	}
}

// A Client built by hand (as a caller outside Build might) with a public
// flag and no secret never matches, whatever is presented.
func TestCheckSecretZeroClient(t *testing.T) {
	for _, c := range []*realm.Client{{ID: "x"}, {ID: "y", Public: true}} {
		for _, s := range []string{"", "x", testPassword} {
			if c.CheckSecret(s) {
				t.Errorf("client %+v CheckSecret(%q) = true, want false", c.ID, s)
			}
		}
	}
}

// TestClientAuthenticators shows that Build carries each client's
// authentication method and credentials, and that the methods are
// exclusive: a JWT client's secret is no secret credential.
func TestClientAuthenticators(t *testing.T) {
	const hs = "hs-secret-0123456789abcdef0123456789"
	yaml := `
server: {listen: "127.0.0.1:8443", tls: {mode: "off"}}
realms:
  - name: a
    signingAlgorithm: EdDSA
    clients:
      - clientId: sec
        secret: plain-secret
        grantTypes: [client_credentials]
      - clientId: hs
        clientAuthenticator: client-secret-jwt
        secret: ` + hs + `
        grantTypes: [client_credentials]
      - clientId: pk
        clientAuthenticator: client-jwt
        jwks: {keys: [{kty: OKP, crv: Ed25519, kid: k1, x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}
        grantTypes: [client_credentials]
      - clientId: uri
        clientAuthenticator: client-jwt
        jwksUri: https://keys.example.com/jwks
        grantTypes: [client_credentials]
      - clientId: pub
        public: true
        redirectUris: ["https://app.example.com/cb"]
`
	clk := newClock()
	r := mustRealm(t, buildRegistry(t, yaml, openStore(t, clk), clk), "a")
	tests := []struct {
		client, authenticator, secret string
		secretOK                      bool
		hmacKey                       string
		kids                          string
		jwksURI                       string
	}{
		{"sec", realm.ClientAuthSecret, "plain-secret", true, "", "", ""},
		{"hs", realm.ClientAuthSecretJWT, hs, false, hs, "", ""},
		{"pk", realm.ClientAuthJWT, "", false, "", "k1", ""},
		{"uri", realm.ClientAuthJWT, "", false, "", "", "https://keys.example.com/jwks"},
		{"pub", "", "", false, "", "", ""},
	}
	for _, tt := range tests {
		c, ok := r.Client(tt.client)
		if !ok {
			t.Fatalf("client %q not found", tt.client)
		}
		var kids []string
		for _, k := range c.JWKS {
			kids = append(kids, k.KeyID)
		}
		if c.Authenticator != tt.authenticator || c.CheckSecret(tt.secret) != tt.secretOK ||
			string(c.HMACKey()) != tt.hmacKey || strings.Join(kids, ",") != tt.kids || c.JWKSURI != tt.jwksURI {
			t.Errorf("client %s: authenticator %q, CheckSecret(%q) %v, HMACKey %q, kids %q, jwksUri %q; want %q %v %q %q %q",
				tt.client, c.Authenticator, tt.secret, c.CheckSecret(tt.secret), c.HMACKey(), kids, c.JWKSURI,
				tt.authenticator, tt.secretOK, tt.hmacKey, tt.kids, tt.jwksURI)
		}
	}
}
