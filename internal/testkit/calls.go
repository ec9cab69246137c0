package testkit

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/storage"
)

// Call is an HTTP answer read in full.
type Call struct {
	Status int
	Header http.Header
	Body   string
}

// JSON decodes the body as a JSON object (nil when it is not one).
func (c Call) JSON() map[string]any {
	var m map[string]any
	_ = json.Unmarshal([]byte(c.Body), &m)
	return m
}

// Do sends req with c and reads the answer; a transport or read error
// fails the test.
func Do(t testing.TB, c *http.Client, req *http.Request) Call {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body of %s %s: %v", req.Method, req.URL.Redacted(), err)
	}
	return Call{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}

// SendJSON sends body (Content-Type application/json) to u with method, with
// a bearer token when one is given.
func SendJSON(t testing.TB, c *http.Client, method, u, bearer, body string) Call {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatalf("new request %s %q: %v", method, u, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return Do(t, c, req)
}

// PostJSON posts body as JSON to u, with a bearer token when one is given.
func PostJSON(t testing.TB, c *http.Client, u, bearer, body string) Call {
	t.Helper()
	return SendJSON(t, c, http.MethodPost, u, bearer, body)
}

// ServiceToken is a client_credentials access token of a confidential
// client, which authenticates with HTTP Basic (client_secret_basic, the
// method every server must support). Anything but a 200 with an access
// token fails the test.
func (e *Env) ServiceToken(t testing.TB, realm, clientID, secret string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.Issuer(realm)+"/protocol/openid-connect/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// RFC 6749 §2.3.1: the id and secret are form-encoded before Basic.
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	r := Do(t, e.apiClient(), req)
	var tr TokenResponse
	_ = json.Unmarshal([]byte(r.Body), &tr)
	if r.Status != http.StatusOK || tr.AccessToken == "" {
		t.Fatalf("client_credentials of %s in realm %s = %d %s, want 200 with an access token", clientID, realm, r.Status, r.Body)
	}
	return tr.AccessToken
}

// Userinfo calls a realm's userinfo endpoint with a bearer token.
func (e *Env) Userinfo(t testing.TB, realm, token string) Call {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.Issuer(realm)+"/protocol/openid-connect/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	return Do(t, e.apiClient(), req)
}

// Introspect asks a realm's introspection endpoint about token, as the
// confidential client clientID.
func (e *Env) Introspect(t testing.TB, realm, clientID, secret, token string) Call {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.Issuer(realm)+"/protocol/openid-connect/token/introspect",
		strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, secret)
	return Do(t, e.apiClient(), req)
}

// Revoke posts token to a realm's revocation endpoint as client clientID
// (public when secret is empty).
func (e *Env) Revoke(t testing.TB, realm, clientID, secret, token string) Call {
	t.Helper()
	form := url.Values{"token": {token}}
	if secret == "" {
		form.Set("client_id", clientID)
	}
	req, _ := http.NewRequest(http.MethodPost, e.Issuer(realm)+"/protocol/openid-connect/revoke", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(clientID, secret)
	}
	return Do(t, e.apiClient(), req)
}

// SetUserEnabled enables or disables a user (found by email) in storage.
func (e *Env) SetUserEnabled(t testing.TB, realm, email string, enabled bool) storage.User {
	t.Helper()
	ctx := context.Background()
	u, err := e.Store.GetUserByEmail(ctx, realm, email)
	if err != nil {
		t.Fatalf("find user %s in realm %s: %v", email, realm, err)
	}
	u, err = e.Store.UpdateUser(ctx, realm, u.ID, func(u storage.User) (storage.User, error) {
		u.Enabled = enabled
		return u, nil
	})
	if err != nil {
		t.Fatalf("update user %s: %v", email, err)
	}
	return u
}
