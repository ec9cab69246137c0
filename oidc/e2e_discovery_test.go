package oidc_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/latchkey/latchkey/internal/testkit"
)

// TestDiscovery checks every realm's discovery document with go-oidc (which
// insists that the issuer equals the URL it was fetched from) and, under the
// Keycloak 17+ alias, by raw HTTP: the alias serves the same document with
// the canonical issuer.
func TestDiscovery(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	ctx := oidcCtx(env)
	c := env.Client()

	for _, realmName := range []string{"acme", "other", "ec", "ed"} {
		t.Run("go-oidc/"+realmName, func(t *testing.T) {
			p, err := gooidc.NewProvider(ctx, env.Issuer(realmName))
			if err != nil {
				t.Fatalf("NewProvider(%q): %v", env.Issuer(realmName), err)
			}
			if got, want := p.Endpoint().TokenURL, endpoint(env, realmName, pToken); got != want {
				t.Errorf("token endpoint = %q, want %q", got, want)
			}
			if got, want := p.UserInfoEndpoint(), endpoint(env, realmName, pUserinfo); got != want {
				t.Errorf("userinfo endpoint = %q, want %q", got, want)
			}
		})
	}

	canonical := get(t, c, endpoint(env, "acme", pDiscovery))
	if canonical.Status != http.StatusOK {
		t.Fatalf("GET discovery = %d, want 200", canonical.Status)
	}
	doc := canonical.JSON(t)
	iss := env.Issuer("acme")
	wantStrings := map[string]string{
		"issuer":                 iss,
		"authorization_endpoint": iss + pAuth,
		"token_endpoint":         iss + pToken,
		"userinfo_endpoint":      iss + pUserinfo,
		"introspection_endpoint": iss + pIntrospect,
		"revocation_endpoint":    iss + pRevoke,
		"end_session_endpoint":   iss + pLogout,
		"jwks_uri":               iss + pCerts,
	}
	for k, want := range wantStrings {
		if got, _ := doc[k].(string); got != want {
			t.Errorf("discovery %s = %q, want %q", k, got, want)
		}
	}
	wantLists := map[string][]string{
		"response_types_supported":              {"code", "id_token", "token", "id_token token", "code id_token", "code token", "code id_token token"},
		"response_modes_supported":              {"query", "fragment", "form_post"},
		"code_challenge_methods_supported":      {"S256"},
		"grant_types_supported":                 {"authorization_code", "implicit", "refresh_token", "client_credentials"},
		"id_token_signing_alg_values_supported": {"RS256"},
		"subject_types_supported":               {"public"},
	}
	for k, want := range wantLists {
		got := stringList(doc[k])
		if !slices.Equal(got, want) {
			t.Errorf("discovery %s = %q, want %q", k, got, want)
		}
	}
	if got := stringList(doc["code_challenge_methods_supported"]); slices.Contains(got, "plain") {
		t.Errorf("discovery advertises plain PKCE: %q", got)
	}

	t.Run("alias", func(t *testing.T) {
		alias := get(t, c, env.URL+"/realms/acme"+pDiscovery)
		if alias.Status != http.StatusOK {
			t.Fatalf("GET alias discovery = %d, want 200", alias.Status)
		}
		// Keycloak 17+'s form has its own issuer (strict clients compare it
		// with the URL they were given); everything else is the same document.
		aliasIss := env.URL + "/realms/acme"
		if want := strings.ReplaceAll(canonical.Body, iss, aliasIss); alias.Body != want {
			t.Errorf("alias discovery differs from canonical beyond the issuer:\n got %s\nwant %s", alias.Body, want)
		}
		if got, _ := alias.JSON(t)["issuer"].(string); got != aliasIss {
			t.Errorf("alias issuer = %q, want %q", got, aliasIss)
		}
		// The alias serves the protocol endpoints too.
		if p := get(t, c, env.URL+"/realms/acme"+pCerts); p.Status != http.StatusOK || !strings.Contains(p.Body, `"keys"`) {
			t.Errorf("GET alias JWKS = %d %s, want 200 with keys", p.Status, p.Body)
		}
	})

	t.Run("signing algorithms per realm", func(t *testing.T) {
		for realmName, want := range map[string]string{"ec": "ES256", "ed": "EdDSA"} {
			d := get(t, c, endpoint(env, realmName, pDiscovery)).JSON(t)
			if got := stringList(d["id_token_signing_alg_values_supported"]); !slices.Equal(got, []string{want}) {
				t.Errorf("realm %q id_token_signing_alg_values_supported = %q, want [%s]", realmName, got, want)
			}
		}
	})

	t.Run("unknown realm", func(t *testing.T) {
		if p := get(t, c, endpoint(env, "nope", pDiscovery)); p.Status != http.StatusNotFound {
			t.Errorf("GET discovery of unknown realm = %d, want 404", p.Status)
		}
	})
}

// TestJWKSPublicOnly checks that the key set has a kid, alg and use on every
// key and never a private part.
func TestJWKSPublicOnly(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	c := env.Client()
	for _, realmName := range []string{"acme", "ec", "ed"} {
		t.Run(realmName, func(t *testing.T) {
			raw := get(t, c, endpoint(env, realmName, pCerts))
			for _, private := range []string{`"d"`, `"p"`, `"q"`, `"dp"`, `"dq"`, `"qi"`} {
				if strings.Contains(raw.Body, private+":") {
					t.Errorf("JWKS of %q contains private member %s: %s", realmName, private, raw.Body)
				}
			}
			set := env.JWKS(t, realmName)
			if len(set.Keys) == 0 {
				t.Fatalf("JWKS of %q is empty", realmName)
			}
			for _, k := range set.Keys {
				if k.KeyID == "" || k.Algorithm == "" || k.Use != "sig" || !k.IsPublic() {
					t.Errorf("JWKS key %+v: want kid, alg, use=sig and a public key", k)
				}
			}
		})
	}
}

// TestCORS checks that the protocol endpoints answer preflights only for
// the clients' registered web origins (not the library's allow-all default).
func TestCORS(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	c := env.Client()
	tests := []struct {
		name, path, origin string
		wantAllowed        bool
	}{
		{"token from registered origin", pToken, webOrigin, true},
		{"userinfo from registered origin", pUserinfo, webOrigin, true},
		{"token from another origin", pToken, "https://evil.example.com", false},
		{"userinfo from another origin", pUserinfo, "https://evil.example.com", false},
		{"token from a redirect URI origin (webOrigins +)", pToken, "https://app.example.com", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodOptions, endpoint(env, "acme", tt.path), nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Origin", tt.origin)
			req.Header.Set("Access-Control-Request-Method", http.MethodPost)
			req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
			p := do(t, c, req)
			got := p.Header.Get("Access-Control-Allow-Origin")
			if tt.wantAllowed && got != tt.origin {
				t.Errorf("preflight from %s: Access-Control-Allow-Origin = %q (status %d), want %q", tt.origin, got, p.Status, tt.origin)
			}
			if !tt.wantAllowed && got != "" {
				t.Errorf("preflight from %s: Access-Control-Allow-Origin = %q, want none", tt.origin, got)
			}
		})
	}
}

func stringList(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// capabilitiesConfig has a realm whose only client uses client_credentials
// and one whose clients enable every optional capability.
const capabilitiesConfig = `
server: {publicURL: "https://localhost"}
realms:
  - name: plain
    clients:
      - {clientId: svc, secret: svc-secret, grantTypes: [client_credentials]}
  - name: full
    clients:
      - clientId: spa
        public: true
        redirectUris: ["https://spa.example.com/cb"]
        webOrigins: ["https://spa.example.com"]
        grantTypes: [authorization_code, refresh_token]
      - clientId: cli
        secret: cli-secret
        grantTypes: [password]
        backchannelLogoutUri: "https://cli.example.com/backchannel"
      - clientId: tv
        public: true
        grantTypes: ["urn:ietf:params:oauth:grant-type:device_code"]
      - clientId: signer
        secret: "a-client-secret-of-at-least-32-bytes"
        clientAuthenticator: client-secret-jwt
        grantTypes: [client_credentials]
`

// TestDiscoveryListsCapabilities checks that discovery lists each optional
// capability exactly when some client of the realm has it enabled.
func TestDiscoveryListsCapabilities(t *testing.T) {
	t.Parallel()
	env := testkit.New(t, capabilitiesConfig, testkit.Options{NoMail: true})
	for _, tc := range []struct {
		realm string
		on    bool
	}{{"plain", false}, {"full", true}} {
		t.Run(tc.realm, func(t *testing.T) {
			iss := env.Issuer(tc.realm)
			doc := get(t, env.Client(), iss+pDiscovery).JSON(t)
			checks := map[string]bool{
				"password grant": slices.Contains(stringList(doc["grant_types_supported"]), "password"),
				"device grant": slices.Contains(stringList(doc["grant_types_supported"]), "urn:ietf:params:oauth:grant-type:device_code") &&
					doc["device_authorization_endpoint"] == iss+"/protocol/openid-connect/auth/device",
				"offline_access scope": slices.Contains(stringList(doc["scopes_supported"]), "offline_access"),
				"backchannel logout":   doc["backchannel_logout_supported"] == true && doc["backchannel_logout_session_supported"] == true,
				"session iframe":       doc["check_session_iframe"] == iss+"/protocol/openid-connect/login-status-iframe.html",
				"client_secret_jwt": slices.Contains(stringList(doc["token_endpoint_auth_methods_supported"]), "client_secret_jwt") &&
					slices.Contains(stringList(doc["introspection_endpoint_auth_methods_supported"]), "client_secret_jwt") &&
					slices.Contains(stringList(doc["token_endpoint_auth_signing_alg_values_supported"]), "HS256"),
			}
			for what, listed := range checks {
				if listed != tc.on {
					t.Errorf("%s listed = %v, want %v", what, listed, tc.on)
				}
			}
		})
	}
}
