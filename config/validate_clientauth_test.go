package config

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// jwkMap is a JWK as the config decoder hands it over (a generic map).
func jwkMap(t *testing.T, k jose.JSONWebKey) map[string]any {
	t.Helper()
	b, err := k.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func jwksOf(keys ...map[string]any) map[string]any {
	list := make([]any, len(keys))
	for i, k := range keys {
		list[i] = k
	}
	return map[string]any{"keys": list}
}

// testKeys are one key of each kind a JWK Set may hold.
type testKeys struct {
	rsaPub, ecPub, edPub, rsaPriv, oct, enc, hsAlg map[string]any
}

func newTestKeys(t *testing.T) testKeys {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKeys{
		rsaPub:  jwkMap(t, jose.JSONWebKey{Key: &rk.PublicKey, KeyID: "rsa", Use: "sig", Algorithm: "RS256"}),
		ecPub:   jwkMap(t, jose.JSONWebKey{Key: &ek.PublicKey, KeyID: "ec"}),
		edPub:   jwkMap(t, jose.JSONWebKey{Key: edPub, KeyID: "ed", Algorithm: "EdDSA"}),
		rsaPriv: jwkMap(t, jose.JSONWebKey{Key: rk, KeyID: "priv"}),
		oct:     jwkMap(t, jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "oct"}),
		enc:     jwkMap(t, jose.JSONWebKey{Key: &rk.PublicKey, KeyID: "enc", Use: "enc"}),
		hsAlg:   jwkMap(t, jose.JSONWebKey{Key: &rk.PublicKey, KeyID: "hs", Algorithm: "HS256"}),
	}
}

const longSecret = "0123456789abcdef0123456789abcdef" // 32 bytes: HS256's key size

// cc is the grant of the test clients (no redirect URIs needed).
var cc = []string{GrantClientCredentials}

func TestValidateClientAuthenticatorAccepts(t *testing.T) {
	k := newTestKeys(t)
	svc := func(c *Config) *Client { return &c.Realms[0].Clients[1] }
	tests := []struct {
		name   string
		mutate func(c *Config)
	}{
		{"client-secret written out", func(c *Config) { svc(c).ClientAuthenticator = ClientAuthSecret }},
		{"client-jwt with inline RSA, EC and Ed25519 keys", func(c *Config) {
			*svc(c) = Client{ClientID: "svc", GrantTypes: cc, ClientAuthenticator: ClientAuthJWT, JWKS: jwksOf(k.rsaPub, k.ecPub, k.edPub)}
		}},
		{"client-jwt with an https jwksUri", func(c *Config) {
			*svc(c) = Client{ClientID: "svc", GrantTypes: cc, ClientAuthenticator: ClientAuthJWT, JWKSURI: "https://keys.example.com/jwks.json"}
		}},
		{"client-jwt with an http jwksUri on loopback", func(c *Config) {
			*svc(c) = Client{ClientID: "svc", GrantTypes: cc, ClientAuthenticator: ClientAuthJWT, JWKSURI: "http://127.0.0.1:8080/jwks"}
		}},
		{"client-secret-jwt with a 32-byte secret", func(c *Config) {
			*svc(c) = Client{ClientID: "svc", GrantTypes: cc, ClientAuthenticator: ClientAuthSecretJWT, Secret: longSecret}
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

func TestValidateClientAuthenticatorNamesTheKey(t *testing.T) {
	k := newTestKeys(t)
	const ck = "realms[0].clients[1]"
	jwtClient := func(c *Config, mutate func(*Client)) {
		cl := Client{ClientID: "svc", GrantTypes: cc, ClientAuthenticator: ClientAuthJWT, JWKS: jwksOf(k.rsaPub)}
		mutate(&cl)
		c.Realms[0].Clients[1] = cl
	}
	tests := []struct {
		name    string
		mutate  func(c *Config)
		wantKey string
		wantMsg string
	}{
		{"unknown authenticator", func(c *Config) { c.Realms[0].Clients[1].ClientAuthenticator = "client-x509" },
			ck + ".clientAuthenticator", "not one of"},
		{"authenticator on a public client", func(c *Config) { c.Realms[0].Clients[0].ClientAuthenticator = ClientAuthJWT },
			"realms[0].clients[0].clientAuthenticator", "public client"},
		{"client-jwt without keys", func(c *Config) { jwtClient(c, func(cl *Client) { cl.JWKS = nil }) },
			ck + ".jwks", "needs jwks"},
		{"client-jwt with jwks and jwksUri", func(c *Config) {
			jwtClient(c, func(cl *Client) { cl.JWKSURI = "https://keys.example.com/jwks" })
		}, ck + ".jwksUri", "not both"},
		{"client-jwt with a secret", func(c *Config) { jwtClient(c, func(cl *Client) { cl.Secret = longSecret }) },
			ck + ".secret", "signed JWTs only"},
		{"jwksUri over http to another host", func(c *Config) {
			jwtClient(c, func(cl *Client) { cl.JWKS, cl.JWKSURI = nil, "http://keys.example.com/jwks" })
		}, ck + ".jwksUri", "loopback"},
		{"jwksUri not a URL", func(c *Config) { jwtClient(c, func(cl *Client) { cl.JWKS, cl.JWKSURI = nil, "keys.example.com" }) },
			ck + ".jwksUri", "absolute https"},
		{"jwksUri with user info", func(c *Config) {
			jwtClient(c, func(cl *Client) { cl.JWKS, cl.JWKSURI = nil, "https://u:p@keys.example.com/jwks" })
		}, ck + ".jwksUri", "user info"},
		{"private key in jwks", func(c *Config) { jwtClient(c, func(cl *Client) { cl.JWKS = jwksOf(k.rsaPub, k.rsaPriv) }) },
			ck + ".jwks", "keys[1] (kid \"priv\"): a private key"},
		{"symmetric key in jwks", func(c *Config) { jwtClient(c, func(cl *Client) { cl.JWKS = jwksOf(k.oct) }) },
			ck + ".jwks", "symmetric"},
		{"encryption key in jwks", func(c *Config) { jwtClient(c, func(cl *Client) { cl.JWKS = jwksOf(k.enc) }) },
			ck + ".jwks", `use "enc"`},
		{"HMAC alg on a public key", func(c *Config) { jwtClient(c, func(cl *Client) { cl.JWKS = jwksOf(k.hsAlg) }) },
			ck + ".jwks", `alg "HS256"`},
		{"duplicate kid", func(c *Config) { jwtClient(c, func(cl *Client) { cl.JWKS = jwksOf(k.rsaPub, k.rsaPub) }) },
			ck + ".jwks", "duplicate kid"},
		{"jwks without keys", func(c *Config) { jwtClient(c, func(cl *Client) { cl.JWKS = map[string]any{"kty": "RSA"} }) },
			ck + ".jwks", "not a JWK Set"},
		{"jwks key that does not parse", func(c *Config) {
			jwtClient(c, func(cl *Client) { cl.JWKS = jwksOf(map[string]any{"kty": "RSA", "n": "!!", "e": "AQAB"}) })
		}, ck + ".jwks", "keys[0]"},
		{"jwks on a client-secret client", func(c *Config) { c.Realms[0].Clients[1].JWKS = jwksOf(k.rsaPub) },
			ck + ".jwks", "only a client with clientAuthenticator client-jwt"},
		{"jwksUri on a client-secret-jwt client", func(c *Config) {
			c.Realms[0].Clients[1] = Client{ClientID: "svc", GrantTypes: cc, ClientAuthenticator: ClientAuthSecretJWT, Secret: longSecret,
				JWKSURI: "https://keys.example.com/jwks"}
		}, ck + ".jwksUri", "only a client with clientAuthenticator client-jwt"},
		{"client-secret-jwt with only a secretHash", func(c *Config) {
			c.Realms[0].Clients[1].ClientAuthenticator = ClientAuthSecretJWT
		}, ck + ".secretHash", "argon2id hash"},
		{"client-secret-jwt without a secret", func(c *Config) {
			c.Realms[0].Clients[1] = Client{ClientID: "svc", GrantTypes: cc, ClientAuthenticator: ClientAuthSecretJWT}
		}, ck + ".secret", "needs a secret"},
		{"client-secret-jwt with a short secret", func(c *Config) {
			c.Realms[0].Clients[1] = Client{ClientID: "svc", GrantTypes: cc, ClientAuthenticator: ClientAuthSecretJWT, Secret: "short"}
		}, ck + ".secret", "at least 32 bytes"},
		{"client-secret without a secret", func(c *Config) {
			c.Realms[0].Clients[1] = Client{ClientID: "svc", GrantTypes: cc, ClientAuthenticator: ClientAuthSecret}
		}, ck + ".secret", "needs a secret or secretHash"},
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

// TestClientAuthenticatorDefault shows that a confidential client gets
// client-secret and a public one no authenticator.
func TestClientAuthenticatorDefault(t *testing.T) {
	c := validConfig(t)
	c.ApplyDefaults()
	if got := c.Realms[0].Clients[0].ClientAuthenticator; got != "" {
		t.Errorf("public client's clientAuthenticator = %q, want empty", got)
	}
	if got := c.Realms[0].Clients[1].ClientAuthenticator; got != ClientAuthSecret {
		t.Errorf("confidential client's clientAuthenticator = %q, want %q", got, ClientAuthSecret)
	}
}

// TestLoadInlineJWKS loads an inline JWK Set from each file format, with
// the admin's spelling of the keys (the decoder lower-cases map keys; JWK
// member names are lower case, and go-jose matches x5t#S256 regardless),
// and reads it back into the same public key.
func TestLoadInlineJWKS(t *testing.T) {
	k := newTestKeys(t)
	keyJSON, err := json.Marshal(k.ecPub)
	if err != nil {
		t.Fatal(err)
	}
	var toml []string
	for _, name := range []string{"kty", "crv", "kid", "x", "y"} {
		toml = append(toml, fmt.Sprintf("%s = %q", name, k.ecPub[name]))
	}
	docs := map[string]string{
		"toml": `
[[realms]]
name = "r"
[[realms.clients]]
clientId = "svc"
clientAuthenticator = "client-jwt"
grantTypes = ["client_credentials"]
[realms.clients.jwks]
keys = [{ ` + strings.Join(toml, ", ") + ` }]
`,
		"yaml": `
realms:
  - name: r
    clients:
      - clientId: svc
        clientAuthenticator: client-jwt
        grantTypes: [client_credentials]
        jwks:
          keys:
            - ` + string(keyJSON) + `
`,
		"json": `{"realms": [{"name": "r", "clients": [{"clientId": "svc", "clientAuthenticator": "client-jwt",
  "grantTypes": ["client_credentials"], "jwks": {"keys": [` + string(keyJSON) + `]}}]}]}`,
	}
	for format, doc := range docs {
		t.Run(format, func(t *testing.T) {
			cfg, err := LoadBytes([]byte(doc), format)
			if err != nil {
				t.Fatalf("LoadBytes: %v", err)
			}
			keys, err := ParseJWKS(cfg.Realms[0].Clients[0].JWKS)
			if err != nil {
				t.Fatalf("ParseJWKS: %v", err)
			}
			if len(keys) != 1 || keys[0].KeyID != "ec" {
				t.Fatalf("keys = %+v, want the one key with kid ec", keys)
			}
			pub, ok := keys[0].Key.(*ecdsa.PublicKey)
			if !ok || pub.X.Cmp(mustEC(t, k.ecPub).X) != 0 {
				t.Errorf("key = %T, want the configured EC public key", keys[0].Key)
			}
		})
	}
}

func mustEC(t *testing.T, m map[string]any) *ecdsa.PublicKey {
	t.Helper()
	b, _ := json.Marshal(m)
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(b); err != nil {
		t.Fatal(err)
	}
	return k.Key.(*ecdsa.PublicKey)
}

// TestLoadRejectsPrivateJWKS goes through the whole loader: a private key
// pasted into jwks is refused with its path.
func TestLoadRejectsPrivateJWKS(t *testing.T) {
	k := newTestKeys(t)
	keyJSON, _ := json.Marshal(k.rsaPriv)
	doc := `
realms:
  - name: r
    clients:
      - clientId: a
        secret: s
        grantTypes: [client_credentials]
      - clientId: b
        secret: s
        grantTypes: [client_credentials]
      - clientId: svc
        clientAuthenticator: client-jwt
        grantTypes: [client_credentials]
        jwks: {keys: [` + string(keyJSON) + `]}
`
	_, err := LoadBytes([]byte(doc), "yaml")
	ps := problemsOf(t, err)
	if len(ps) != 1 || ps[0].Key != "realms[0].clients[2].jwks" || !strings.Contains(ps[0].Message, "private key") {
		t.Errorf("problems = %q, want one for realms[0].clients[2].jwks about a private key", ps)
	}
}
