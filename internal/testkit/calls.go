package testkit

import (
	"context"
	"encoding/base64"
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

// Do sends req with c and reads the answer.
func Do(t testing.TB, c *http.Client, req *http.Request) Call {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return Call{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}

// PostJSON posts body as JSON to u, with a bearer token when one is given.
func PostJSON(t testing.TB, c *http.Client, u, bearer, body string) Call {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return Do(t, c, req)
}

// ServiceToken is a client_credentials access token of a confidential client.
func (e *Env) ServiceToken(t testing.TB, realm, clientID, secret string) string {
	t.Helper()
	tr := e.Token(t, e.Client(), realm, url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}})
	if tr.AccessToken == "" {
		t.Fatalf("client_credentials of %s in realm %s: status %d error %q", clientID, realm, tr.Status, tr.Error)
	}
	return tr.AccessToken
}

// Userinfo calls a realm's userinfo endpoint with a bearer token.
func (e *Env) Userinfo(t testing.TB, realm, token string) Call {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.Issuer(realm)+"/protocol/openid-connect/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	return Do(t, e.Client(), req)
}

// Introspect asks a realm's introspection endpoint about token, as the
// confidential client clientID.
func (e *Env) Introspect(t testing.TB, realm, clientID, secret, token string) Call {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.Issuer(realm)+"/protocol/openid-connect/token/introspect",
		strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, secret)
	return Do(t, e.Client(), req)
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
	return Do(t, e.Client(), req)
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

// Claims decodes a JWT's payload without verifying it (tests verify
// signatures separately, with go-oidc or go-jose).
func Claims(t testing.TB, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("%q is not a compact JWS", raw)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("decode JWT payload: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decode JWT claims: %v", err)
	}
	return m
}
