package magiclink_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/internal/testkit"
)

func TestLandingCompletesAuthorization(t *testing.T) {
	env := testkit.New(t, testConfig)
	tok := env.ServiceToken(t, "acme", "svc", "svc-secret")
	verifier := oauth2.GenerateVerifier()
	tests := []struct {
		name     string
		client   string
		secret   string
		extra    map[string]any
		mode     string
		wantKeys []string // parameters the authorization response must carry
		pkce     bool
	}{
		{name: "code by query", client: "conf", secret: "conf-secret", mode: "query", wantKeys: []string{"code", "state", "iss"}},
		{name: "code by fragment", client: "conf", secret: "conf-secret", mode: "fragment", wantKeys: []string{"code", "state"}},
		{name: "code by form_post", client: "conf", secret: "conf-secret", mode: "form_post", wantKeys: []string{"code", "state"}},
		{name: "code token by fragment", client: "conf", secret: "conf-secret", mode: "fragment",
			extra: map[string]any{"responseType": "code token"}, wantKeys: []string{"code", "access_token", "token_type", "state"}},
		{name: "code token by form_post", client: "conf", secret: "conf-secret", mode: "form_post",
			extra: map[string]any{"responseType": "token code"}, wantKeys: []string{"code", "access_token", "state"}},
		{name: "code id_token token by fragment", client: "conf", secret: "conf-secret", mode: "fragment",
			extra: map[string]any{"responseType": "code id_token token", "nonce": "n-0S6_WzA2Mj"}, wantKeys: []string{"code", "id_token", "access_token"}},
		{name: "public client without PKCE", client: "web", mode: "query", wantKeys: []string{"code"}},
		{name: "public client with PKCE", client: "web", mode: "query", pkce: true, wantKeys: []string{"code"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			email := "user" + string(rune('a'+i)) + "@example.com"
			req := linkRequest(email, map[string]any{"clientId": tt.client, "responseMode": tt.mode, "state": "st-" + tt.name})
			for k, v := range tt.extra {
				req[k] = v
			}
			var opts []oauth2.AuthCodeOption
			if tt.pkce {
				req["codeChallenge"], req["codeChallengeMethod"] = oauth2.S256ChallengeFromVerifier(verifier), "S256"
				opts = append(opts, oauth2.VerifierOption(verifier))
			}
			link := sendLink(t, env, "acme", tok, req)
			resp := authResponse(t, confirm(t, env.Client(), link), tt.mode)
			for _, k := range tt.wantKeys {
				if resp.Get(k) == "" {
					t.Fatalf("authorization response %v lacks %q", resp, k)
				}
			}
			if resp.Get("state") != "st-"+tt.name {
				t.Fatalf("state = %q, want %q", resp.Get("state"), "st-"+tt.name)
			}
			rp := newRP(t, env, "acme", tt.client, tt.secret)
			if front := resp.Get("id_token"); front != "" {
				idt, err := rp.verifier.Verify(rp.ctx, front)
				if err != nil {
					t.Fatalf("verify front-channel ID token: %v", err)
				}
				if err := idt.VerifyAccessToken(resp.Get("access_token")); err != nil {
					t.Fatalf("front-channel at_hash: %v", err)
				}
				if c := claims(t, idt); c["c_hash"] != halfHash(resp.Get("code")) || idt.Nonce != "n-0S6_WzA2Mj" {
					t.Fatalf("front-channel c_hash %v nonce %q, want %s and the request's nonce", c["c_hash"], idt.Nonce, halfHash(resp.Get("code")))
				}
			}
			if access := resp.Get("access_token"); access != "" {
				userinfo(t, env, access, email)
			}
			tokens, idt := rp.exchange(t, resp.Get("code"), opts...)
			c := claims(t, idt)
			if c["email"] != email || c["email_verified"] != true || !slices.Contains(idt.Audience, tt.client) {
				t.Fatalf("ID token email %v verified %v aud %v, want %s, true, %s", c["email"], c["email_verified"], idt.Audience, email, tt.client)
			}
			if err := idt.VerifyAccessToken(tokens.AccessToken); err != nil {
				t.Fatalf("token endpoint at_hash: %v", err)
			}
			if amr, _ := c["amr"].([]any); !slices.Contains(amr, any("email")) {
				t.Fatalf("amr = %v, want it to contain email", c["amr"])
			}
		})
	}
}

// halfHash is the c_hash/at_hash of v for RS256.
func halfHash(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// userinfo checks that the front-channel access token gets wantEmail's
// claims from userinfo.
func userinfo(t testing.TB, env *testkit.Env, access, wantEmail string) {
	t.Helper()
	if r := env.Userinfo(t, "acme", access); r.Status != http.StatusOK || !strings.Contains(r.Body, `"email":"`+wantEmail+`"`) {
		t.Fatalf("userinfo with the front-channel access token = %d %s, want 200 with %s", r.Status, r.Body, wantEmail)
	}
}

// TestSeedExampleWithPasswordReset sends the seed document's own request
// (open_id, code token, form_post, forceCreate, resetPassword) and follows it
// to a code exchanged at the token endpoint and a password that works.
func TestSeedExampleWithPasswordReset(t *testing.T) {
	env := testkit.New(t, testConfig)
	tok := env.ServiceToken(t, "acme", "svc", "svc-secret")
	link := sendLink(t, env, "acme", tok, map[string]any{
		"email": "abc@gmail.com", "clientId": "conf", "redirectUri": redirectURI, "scope": "open_id",
		"responseMode": "form_post", "responseType": "code token", "forceCreate": true, "resetPassword": true,
	})
	rl, _ := env.Server.Realms.Get("acme")
	u, err := env.Store.GetUserByEmail(context.Background(), "acme", "abc@gmail.com")
	if err != nil || u.EmailVerified || u.PasswordHash != "" {
		t.Fatalf("forceCreate user = %+v, %v; want an unverified user without password", u, err)
	}
	c := env.Client()
	form := confirm(t, c, link)
	if form.status != http.StatusOK || !strings.Contains(form.body, `id="save-password"`) || form.fields.Get("reset") == "" {
		t.Fatalf("after confirming = %d, want the set-password form:\n%s", form.status, form.body)
	}
	tests := []struct {
		name, pw, confirm string
		wantStatus        int
		wantIn            string
	}{
		{"mismatch", "new-password-1", "new-password-2", 400, "The passwords do not match."},
		{"too short", "short", "short", 400, "The password must have at least 8 characters."},
	}
	for _, tt := range tests {
		fields := cloneValues(form.fields)
		fields.Set("password-new", tt.pw)
		fields.Set("password-confirm", tt.confirm)
		got := post(t, c, form.action, fields)
		if got.status != tt.wantStatus || !strings.Contains(got.body, tt.wantIn) {
			t.Fatalf("%s: got %d, want %d with %q:\n%s", tt.name, got.status, tt.wantStatus, tt.wantIn, got.body)
		}
		form = got
	}
	fields := cloneValues(form.fields)
	fields.Set("password-new", "brand-new-password")
	fields.Set("password-confirm", "brand-new-password")
	resp := authResponse(t, post(t, c, form.action, fields), "form_post")
	if resp.Get("code") == "" || resp.Get("access_token") == "" {
		t.Fatalf("hybrid form_post fields %v, want code and access_token", resp)
	}
	_, idt := newRP(t, env, "acme", "conf", "conf-secret").exchange(t, resp.Get("code"))
	if idt.Subject != u.ID {
		t.Fatalf("ID token sub = %q, want the created user %q", idt.Subject, u.ID)
	}
	if u, _ = env.Store.GetUser(context.Background(), "acme", u.ID); !u.EmailVerified {
		t.Fatal("email not verified after the link was used")
	}
	if _, err := rl.Authenticate(context.Background(), "abc@gmail.com", "brand-new-password"); err != nil {
		t.Fatalf("login with the new password: %v", err)
	}
	// The set-password form is single use too.
	if again := post(t, c, form.action, fields); again.status != http.StatusGone {
		t.Fatalf("reposting the password form = %d, want 410", again.status)
	}
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
