package testkit

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// PKCE is a verifier and its S256 challenge.
type PKCE struct{ Verifier, Challenge string }

// NewPKCE returns a fresh PKCE pair.
func NewPKCE() PKCE {
	v := strings.Repeat("x", 10) + base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprint(randInt())))
	v = (v + strings.Repeat("v", 43))[:50]
	sum := sha256.Sum256([]byte(v))
	return PKCE{Verifier: v, Challenge: base64.RawURLEncoding.EncodeToString(sum[:])}
}

var (
	inputRE  = regexp.MustCompile(`<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"`)
	actionRE = regexp.MustCompile(`<form[^>]*action="([^"]+)"`)
)

// Form is an HTML form scraped from a page.
type Form struct {
	Action string
	Fields url.Values
}

// ParseForm returns the first form of an HTML page with its hidden and
// prefilled inputs.
func ParseForm(t testing.TB, html string) Form {
	t.Helper()
	m := actionRE.FindStringSubmatch(html)
	if m == nil {
		t.Fatalf("no form in page:\n%s", html)
	}
	f := Form{Action: unescapeHTML(m[1]), Fields: url.Values{}}
	for _, in := range inputRE.FindAllStringSubmatch(html, -1) {
		f.Fields.Set(unescapeHTML(in[1]), unescapeHTML(in[2]))
	}
	return f
}

func unescapeHTML(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">", "&quot;", `"`).Replace(s)
}

// Get fetches a URL with c and returns the response and its body.
func Get(t testing.TB, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// PostForm posts values with c and returns the response and its body.
func PostForm(t testing.TB, c *http.Client, u string, v url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := c.PostForm(u, v)
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// LoginCode runs the browserless authorization-code flow of the public client
// clientID through the real login page with c (which must keep cookies and
// not follow redirects) and returns the code delivered to redirectURI.
func (e *Env) LoginCode(t testing.TB, c *http.Client, realm, clientID, redirectURI, user, password string, pkce PKCE) string {
	t.Helper()
	return e.LoginCodeAt(t, c, e.Issuer(realm), clientID, redirectURI, user, password, pkce)
}

// LoginCodeAt is LoginCode against an issuer URL (either realm prefix).
func (e *Env) LoginCodeAt(t testing.TB, c *http.Client, issuer, clientID, redirectURI, user, password string, pkce PKCE) string {
	t.Helper()
	q := url.Values{"client_id": {clientID}, "redirect_uri": {redirectURI}, "response_type": {"code"},
		"scope": {"openid email profile"}, "state": {"st"}, "nonce": {"nn"},
		"code_challenge": {pkce.Challenge}, "code_challenge_method": {"S256"}}
	resp, body := Get(t, c, issuer+"/protocol/openid-connect/auth?"+q.Encode())
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize = %d %s, want 302 to the login page", resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	if strings.Contains(loc, "/protocol/openid-connect/auth/callback") {
		// An SSO session of c's browser: no login page, straight to the callback.
		resp, body = Get(t, c, loc)
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("callback = %d %s, want 302", resp.StatusCode, body)
		}
		loc = resp.Header.Get("Location")
	}
	if !strings.HasPrefix(loc, redirectURI) {
		resp, body = Get(t, c, loc)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("login page = %d %s", resp.StatusCode, body)
		}
		f := ParseForm(t, body)
		f.Fields.Set("username", user)
		f.Fields.Set("password", password)
		f.Fields.Set("action", "password")
		resp, body = PostForm(t, c, f.Action, f.Fields)
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("login POST = %d %s, want 302", resp.StatusCode, body)
		}
		resp, body = Get(t, c, resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("callback = %d %s, want 302", resp.StatusCode, body)
		}
		loc = resp.Header.Get("Location")
	}
	u, err := url.Parse(loc)
	if err != nil || u.Query().Get("code") == "" {
		t.Fatalf("redirect %q carries no code", loc)
	}
	return u.Query().Get("code")
}

// TokenResponse is the token endpoint's JSON answer (or error).
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	Error        string `json:"error"`
	Status       int    `json:"-"`
}

// Token posts a token request (public client: client_id in the form).
func (e *Env) Token(t testing.TB, c *http.Client, realm string, form url.Values) TokenResponse {
	t.Helper()
	resp, body := PostForm(t, c, e.Issuer(realm)+"/protocol/openid-connect/token", form)
	var tr TokenResponse
	_ = json.Unmarshal([]byte(body), &tr)
	tr.Status = resp.StatusCode
	return tr
}
