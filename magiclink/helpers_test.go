package magiclink_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/internal/testkit"
)

// testConfig has two realms: acme (no rate limits, no resend interval, for
// the flows) and limited (small limits, for the 429s).
const testConfig = `
server: {publicURL: "https://localhost"}
realms:
  - name: acme
    displayName: Acme Corp
    magicLink: {resendInterval: 0s}
    rateLimits: {perIP: "off", perAccount: "off"}
    clients:
      - clientId: svc
        secret: svc-secret
        grantTypes: [client_credentials]
        serviceAccountRoles: [magic-link-sender]
      - clientId: norole
        secret: norole-secret
        grantTypes: [client_credentials]
      - clientId: web
        public: true
        redirectUris: ["https://app.example.com/cb"]
        grantTypes: [authorization_code, implicit, refresh_token]
      - clientId: conf
        secret: conf-secret
        redirectUris: ["https://app.example.com/cb"]
        grantTypes: [authorization_code, implicit, refresh_token]
      - clientId: codeonly
        secret: codeonly-secret
        redirectUris: ["https://app.example.com/cb"]
        grantTypes: [authorization_code]
    users:
      - email: alice@example.com
        password: "alice-password-1"
      - email: bob@example.com
        password: "bob-password-1"
        enabled: false
  - name: limited
    magicLink: {resendInterval: 60s}
    rateLimits: {perIP: "3/m", perAccount: "2/m"}
    clients:
      - clientId: svc
        secret: svc-secret
        grantTypes: [client_credentials]
        serviceAccountRoles: [magic-link-sender]
      - clientId: conf
        secret: conf-secret
        redirectUris: ["https://app.example.com/cb"]
        grantTypes: [authorization_code]
      - clientId: other
        secret: other-secret
        redirectUris: ["https://app.example.com/cb"]
        grantTypes: [authorization_code]
`

const redirectURI = "https://app.example.com/cb"

// callAPI posts body (a string is sent as is, anything else as JSON) to the
// realm's access-link API.
func callAPI(t testing.TB, env *testkit.Env, realm, token string, body any) (int, string, http.Header) {
	t.Helper()
	return callAPIMethod(t, env, http.MethodPost, "/auth/realms/"+realm, token, body)
}

// callAPIMethod is callAPI with any method and realm prefix.
func callAPIMethod(t testing.TB, env *testkit.Env, method, prefix, token string, body any) (int, string, http.Header) {
	t.Helper()
	raw, ok := body.(string)
	if !ok {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		raw = string(b)
	}
	req, _ := http.NewRequest(method, env.URL+prefix+"/kobil-magic-link/access-link", strings.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := env.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// linkRequest is a valid request body for the acme realm's conf client.
func linkRequest(email string, extra map[string]any) map[string]any {
	m := map[string]any{
		"email": email, "clientId": "conf", "redirectUri": redirectURI, "scope": "openid email",
		"responseMode": "query", "responseType": "code", "forceCreate": true,
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

const okBody = `{"message":"Mail was sent successfully to provided email id with magic link","status":"Ok","subSystem":5}`

// sendLink asks for a link for email and returns it from the captured mail.
func sendLink(t testing.TB, env *testkit.Env, realm, token string, body map[string]any) string {
	t.Helper()
	before := env.Mail.CountTo(body["email"].(string))
	status, got, _ := callAPI(t, env, realm, token, body)
	if status != http.StatusOK || got != okBody {
		t.Fatalf("access-link = %d %s, want 200 %s", status, got, okBody)
	}
	if n := env.Mail.CountTo(body["email"].(string)); n != before+1 {
		t.Fatalf("mails to %s: %d, want %d", body["email"], n, before+1)
	}
	msg := env.Mail.WaitFor(t, body["email"].(string), 5*time.Second)
	link := msg.FindLink("/kobil-magic-link/login?key=")
	if link == "" {
		t.Fatalf("no magic link in the mail:\n%s", msg.Text)
	}
	return link
}

// page is a fetched HTML page with its first form.
type page struct {
	status int
	body   string
	header http.Header
	action string
	fields url.Values
}

var (
	formRE  = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	inputRE = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)"`)
)

func parsePage(t testing.TB, resp *http.Response) page {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	p := page{status: resp.StatusCode, body: string(b), header: resp.Header, fields: url.Values{}}
	if m := formRE.FindStringSubmatch(p.body); m != nil {
		p.action = html.UnescapeString(m[1])
	}
	for _, m := range inputRE.FindAllStringSubmatch(p.body, -1) {
		p.fields.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return p
}

func get(t testing.TB, c *http.Client, u string) page {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	return parsePage(t, resp)
}

func post(t testing.TB, c *http.Client, u string, form url.Values) page {
	t.Helper()
	resp, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	return parsePage(t, resp)
}

// loginPage starts an authorization request of the confidential client conf
// in realm acme with state and returns the login page it is sent to, and
// the page's URL.
func loginPage(t testing.TB, env *testkit.Env, c *http.Client, state string) (page, string) {
	t.Helper()
	auth := env.Issuer("acme") + "/protocol/openid-connect/auth?" + url.Values{
		"client_id": {"conf"}, "redirect_uri": {redirectURI}, "response_type": {"code"},
		"scope": {"openid email"}, "state": {state},
	}.Encode()
	resp, err := c.Get(auth)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loginURL, err := resp.Location()
	if err != nil {
		t.Fatalf("authorization endpoint = %d without a redirect to the login page", resp.StatusCode)
	}
	return get(t, c, loginURL.String()), loginURL.String()
}

// confirm opens the link and presses the confirm button; it returns the
// answer to the POST.
func confirm(t testing.TB, c *http.Client, link string) page {
	t.Helper()
	p := get(t, c, link)
	if p.status != http.StatusOK || !strings.Contains(p.body, `id="confirm"`) {
		t.Fatalf("GET link = %d, want 200 with the confirm button:\n%s", p.status, p.body)
	}
	return post(t, c, p.action, p.fields)
}

// authResponse extracts the authorization response from the landing's
// answer: a redirect (query or fragment) or a form_post page.
func authResponse(t testing.TB, p page, mode string) url.Values {
	t.Helper()
	switch mode {
	case "form_post":
		if p.status != http.StatusOK || p.action != redirectURI {
			t.Fatalf("form_post page = %d action %q, want 200 posting to %s:\n%s", p.status, p.action, redirectURI, p.body)
		}
		if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "sha256-") {
			t.Fatalf("form_post CSP %q does not allow the auto-submit script", csp)
		}
		return p.fields
	default:
		if p.status != http.StatusFound {
			t.Fatalf("landing = %d, want 302:\n%s", p.status, p.body)
		}
		loc, err := url.Parse(p.header.Get("Location"))
		if err != nil || !strings.HasPrefix(loc.String(), redirectURI) {
			t.Fatalf("redirect to %q, want %s...", p.header.Get("Location"), redirectURI)
		}
		if mode == "fragment" {
			if loc.RawQuery != "" {
				t.Fatalf("fragment response also has a query: %s", loc)
			}
			v, err := url.ParseQuery(loc.Fragment)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		if loc.Fragment != "" {
			t.Fatalf("query response has a fragment: %s", loc)
		}
		return loc.Query()
	}
}

// rp is a relying party: golang.org/x/oauth2 for the exchange, coreos/go-oidc
// for the ID token.
type rp struct {
	ctx      context.Context
	oauth    oauth2.Config
	verifier *gooidc.IDTokenVerifier
}

func newRP(t testing.TB, env *testkit.Env, realm, client, secret string) *rp {
	t.Helper()
	ctx := gooidc.ClientContext(context.Background(), env.Client())
	prov, err := gooidc.NewProvider(ctx, env.Issuer(realm))
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	style := oauth2.AuthStyleInHeader
	if secret == "" {
		style = oauth2.AuthStyleInParams
	}
	ep := prov.Endpoint()
	ep.AuthStyle = style
	return &rp{
		ctx:      ctx,
		oauth:    oauth2.Config{ClientID: client, ClientSecret: secret, Endpoint: ep, RedirectURL: redirectURI, Scopes: []string{"openid"}},
		verifier: prov.Verifier(&gooidc.Config{ClientID: client, Now: env.Clock.Now}),
	}
}

// exchange redeems the code and verifies the ID token.
func (p *rp) exchange(t testing.TB, code string, opts ...oauth2.AuthCodeOption) (*oauth2.Token, *gooidc.IDToken) {
	t.Helper()
	tok, err := p.oauth.Exchange(p.ctx, code, opts...)
	if err != nil {
		t.Fatalf("exchange code: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := p.verifier.Verify(p.ctx, raw)
	if err != nil {
		t.Fatalf("verify ID token: %v", err)
	}
	return tok, idt
}

// claims decodes an ID token's claims.
func claims(t testing.TB, idt *gooidc.IDToken) map[string]any {
	t.Helper()
	var c map[string]any
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	return c
}
