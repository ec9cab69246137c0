package crashtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"time"
)

// Paths under the realm prefix.
const (
	PathToken     = "/protocol/openid-connect/token"
	PathAuth      = "/protocol/openid-connect/auth"
	PathUserinfo  = "/protocol/openid-connect/userinfo"
	PathMagicLink = "/kobil-magic-link/access-link"
	PathUserLogin = "/user/login"
	PathGenLink   = "/generate-link-api/"
	PathLanding   = "/kobil-magic-link/login"
)

// Client calls one Latchkey server's endpoints the way the tests need. It
// never follows redirects: the tests read the Location headers.
type Client struct {
	Base string
	HTTP *http.Client
}

// NewClient returns a client with its own connection pool.
func NewClient(base string) *Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}
	return &Client{Base: base, HTTP: &http.Client{
		Transport:     tr,
		Timeout:       15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// RealmURL is the absolute URL of path under the realm prefix.
func (c *Client) RealmURL(path string) string { return c.Base + "/auth/realms/" + Realm + path }

// Close drops idle connections (after the server behind them died).
func (c *Client) Close() { c.HTTP.CloseIdleConnections() }

// Response is a read response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	// URL is the request URL, to resolve a relative Location against.
	URL *url.URL
}

// Location is the absolute redirect target, or nil.
func (r Response) Location() *url.URL {
	loc := r.Header.Get("Location")
	if loc == "" {
		return nil
	}
	u, err := r.URL.Parse(loc)
	if err != nil {
		return nil
	}
	return u
}

// Do sends one request and reads the whole answer. A transport error
// (connection refused or reset, as when the server was killed) is returned
// as an error: the caller cannot know whether the request took effect.
func (c *Client) Do(ctx context.Context, hc *http.Client, method, rawURL, contentType string, body []byte, header http.Header) (Response, error) {
	if hc == nil {
		hc = c.HTTP
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, rd)
	if err != nil {
		return Response{}, fmt.Errorf("build %s request: %w", method, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Response{}, fmt.Errorf("%s %s: %w", method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, fmt.Errorf("read answer of %s %s: %w", method, req.URL.Path, err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b, URL: req.URL}, nil
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// PostJSON posts v as JSON to rawURL with an optional bearer token.
func (c *Client) PostJSON(ctx context.Context, rawURL, token string, v any) (Response, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return Response{}, fmt.Errorf("encode request: %w", err)
	}
	var h http.Header
	if token != "" {
		h = bearer(token)
	}
	return c.Do(ctx, nil, http.MethodPost, rawURL, "application/json", b, h)
}

// PostForm posts form to rawURL through hc (nil: the shared client).
func (c *Client) PostForm(ctx context.Context, hc *http.Client, rawURL string, form url.Values) (Response, error) {
	return c.Do(ctx, hc, http.MethodPost, rawURL, "application/x-www-form-urlencoded", []byte(form.Encode()), nil)
}

// AnswerError means the server answered, but not as the caller expected (as
// opposed to a transport error, after which the outcome is unknown).
type AnswerError struct{ Msg string }

func (e *AnswerError) Error() string { return e.Msg }

func answerErr(format string, args ...any) error {
	return &AnswerError{Msg: fmt.Sprintf(format, args...)}
}

// IsAnswer reports whether err is an *AnswerError.
func IsAnswer(err error) bool {
	var ae *AnswerError
	return errors.As(err, &ae)
}

// TokenResponse is the token endpoint's answer.
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Error        string `json:"error"`
}

// ClientCredentials requests the service account's access token and
// returns the answer and, on a 200, the token.
func (c *Client) ClientCredentials(ctx context.Context) (Response, string, error) {
	r, err := c.PostForm(ctx, nil, c.RealmURL(PathToken), url.Values{
		"grant_type": {"client_credentials"}, "client_id": {ServiceClientID}, "client_secret": {ServiceSecret}})
	if err != nil || r.Status != http.StatusOK {
		return r, "", err
	}
	var tr TokenResponse
	if json.Unmarshal(r.Body, &tr) != nil || tr.AccessToken == "" {
		return r, "", answerErr("client_credentials answered 200 without an access token: %.300s", r.Body)
	}
	return r, tr.AccessToken, nil
}

// ServiceToken gets the service account's access token (client_credentials).
func (c *Client) ServiceToken(ctx context.Context) (string, error) {
	r, tok, err := c.ClientCredentials(ctx)
	if err != nil {
		return "", err
	}
	if tok == "" {
		return "", answerErr("client_credentials = %d %.300s, want 200 with an access token", r.Status, r.Body)
	}
	return tok, nil
}

// SendMagicLink asks for a magic link for email (forceCreate), answered by
// a 302 to RedirectURI with a code in the query once used.
func (c *Client) SendMagicLink(ctx context.Context, token, email string) (Response, error) {
	return c.PostJSON(ctx, c.RealmURL(PathMagicLink), token, map[string]any{
		"email": email, "clientId": PublicClientID, "redirectUri": RedirectURI, "scope": "openid",
		"responseMode": "query", "responseType": "code", "forceCreate": true,
	})
}

// GenerateLink asks for application links for emails with workflows.
func (c *Client) GenerateLink(ctx context.Context, token string, emails []string, workflows string) (Response, error) {
	return c.PostJSON(ctx, c.RealmURL(PathGenLink), token, map[string]any{
		"metadata": "crashtest", "workflows_list": workflows, "site": Site, "emails": emails,
	})
}

// UserLogin calls /user/login.
func (c *Client) UserLogin(ctx context.Context, email, password string) (Response, error) {
	return c.PostJSON(ctx, c.RealmURL(PathUserLogin), "", map[string]string{"emailId": email, "password": password})
}

// Userinfo calls userinfo with an access token.
func (c *Client) Userinfo(ctx context.Context, token string) (Response, error) {
	return c.Do(ctx, nil, http.MethodGet, c.RealmURL(PathUserinfo), "", nil, bearer(token))
}

// Refresh rotates a refresh token of the public client. A 200 carries the
// next refresh token.
func (c *Client) Refresh(ctx context.Context, refreshToken string) (Response, TokenResponse, error) {
	r, err := c.PostForm(ctx, nil, c.RealmURL(PathToken), url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}, "client_id": {PublicClientID}})
	if err != nil {
		return r, TokenResponse{}, err
	}
	var tr TokenResponse
	_ = json.Unmarshal(r.Body, &tr)
	if r.Status == http.StatusOK && tr.RefreshToken == "" {
		return r, tr, answerErr("refresh answered 200 without a refresh token: %s", r.Body)
	}
	return r, tr, nil
}

var (
	formActionRE = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	hiddenRE     = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
)

// Form is an HTML page's POST form: its action and hidden fields (the CSRF
// token among them).
type Form struct {
	Action string
	Fields url.Values
}

// ParseForm extracts the first POST form of an HTML page.
func ParseForm(page []byte) (Form, error) {
	a := formActionRE.FindSubmatch(page)
	if a == nil {
		return Form{}, answerErr("page has no POST form: %.300s", page)
	}
	f := Form{Action: html.UnescapeString(string(a[1])), Fields: url.Values{}}
	for _, m := range hiddenRE.FindAllSubmatch(page, -1) {
		f.Fields.Add(html.UnescapeString(string(m[1])), html.UnescapeString(string(m[2])))
	}
	return f, nil
}

// browser returns a client with a cookie jar on the shared connection pool.
func (c *Client) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	b := *c.HTTP
	b.Jar = jar
	return &b
}

// BrowserLogin logs email in through the login form, as a browser would:
// authorization URL → login page → form POST → callback → code → token
// exchange (PKCE S256). It returns the token response.
func (c *Client) BrowserLogin(ctx context.Context, email, password string) (TokenResponse, error) {
	hc := c.browser()
	verifier := randomString()
	sum := sha256.Sum256([]byte(verifier))
	state := randomString()[:12]
	q := url.Values{
		"client_id": {PublicClientID}, "redirect_uri": {RedirectURI}, "response_type": {"code"},
		"scope": {"openid"}, "state": {state},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	r, err := c.Do(ctx, hc, http.MethodGet, c.RealmURL(PathAuth)+"?"+q.Encode(), "", nil, nil)
	if err != nil {
		return TokenResponse{}, err
	}
	if r.Status != http.StatusFound || r.Location() == nil {
		return TokenResponse{}, answerErr("authorization endpoint = %d %.300s, want 302 to the login page", r.Status, r.Body)
	}
	if r, err = c.Do(ctx, hc, http.MethodGet, r.Location().String(), "", nil, nil); err != nil {
		return TokenResponse{}, err
	}
	if r.Status != http.StatusOK {
		return TokenResponse{}, answerErr("login page = %d %.300s, want 200", r.Status, r.Body)
	}
	form, err := ParseForm(r.Body)
	if err != nil {
		return TokenResponse{}, fmt.Errorf("login page: %w", err)
	}
	form.Fields.Set("username", email)
	form.Fields.Set("password", password)
	form.Fields.Set("action", "password")
	if r, err = c.PostForm(ctx, hc, form.Action, form.Fields); err != nil {
		return TokenResponse{}, err
	}
	if r.Status != http.StatusFound || r.Location() == nil {
		return TokenResponse{}, answerErr("login POST = %d %.300s, want 302 to the callback", r.Status, r.Body)
	}
	if r, err = c.Do(ctx, hc, http.MethodGet, r.Location().String(), "", nil, nil); err != nil {
		return TokenResponse{}, err
	}
	code, err := codeFrom(r, state)
	if err != nil {
		return TokenResponse{}, fmt.Errorf("callback: %w", err)
	}
	if r, err = c.PostForm(ctx, nil, c.RealmURL(PathToken), url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {RedirectURI},
		"client_id": {PublicClientID}, "code_verifier": {verifier},
	}); err != nil {
		return TokenResponse{}, err
	}
	var tr TokenResponse
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &tr) != nil || tr.RefreshToken == "" {
		return TokenResponse{}, answerErr("code exchange = %d %.300s, want 200 with a refresh token", r.Status, r.Body)
	}
	return tr, nil
}

// codeFrom reads the code of a query-mode authorization response: a 302 to
// RedirectURI (state checked when not empty).
func codeFrom(r Response, state string) (string, error) {
	loc := r.Location()
	if r.Status != http.StatusFound || loc == nil {
		return "", answerErr("answer = %d %.300s, want 302 to %s", r.Status, r.Body, RedirectURI)
	}
	target := *loc
	target.RawQuery = ""
	if target.String() != RedirectURI {
		return "", answerErr("redirected to %s, want %s", target.String(), RedirectURI)
	}
	q := loc.Query()
	if q.Get("error") != "" {
		return "", answerErr("authorization error %q: %q", q.Get("error"), q.Get("error_description"))
	}
	if state != "" && q.Get("state") != state {
		return "", answerErr("state = %q, want %q", q.Get("state"), state)
	}
	if q.Get("code") == "" {
		return "", answerErr("redirect to %s carries no code", RedirectURI)
	}
	return q.Get("code"), nil
}

// UseMagicLink opens an emailed link like a browser: GET shows the confirm
// page, whose form is then POSTed twice. The first POST must answer a 302 to
// RedirectURI with a code (the link works), the second 410 (used exactly
// once). Any other outcome is an error naming what happened.
func (c *Client) UseMagicLink(ctx context.Context, link string) error {
	hc := c.browser()
	r, err := c.Do(ctx, hc, http.MethodGet, link, "", nil, nil)
	if err != nil {
		return err
	}
	if r.Status != http.StatusOK {
		return answerErr("GET landing = %d %.300s, want 200 (the confirm page)", r.Status, r.Body)
	}
	form, err := ParseForm(r.Body)
	if err != nil {
		return fmt.Errorf("confirm page: %w", err)
	}
	action, err := r.URL.Parse(form.Action)
	if err != nil {
		return answerErr("confirm form action %q: %v", form.Action, err)
	}
	if r, err = c.PostForm(ctx, hc, action.String(), form.Fields); err != nil {
		return err
	}
	if _, err := codeFrom(r, ""); err != nil {
		return fmt.Errorf("first POST of the confirm form: %w", err)
	}
	if r, err = c.PostForm(ctx, hc, action.String(), form.Fields); err != nil {
		return err
	}
	if r.Status != http.StatusGone {
		return answerErr("second POST of the confirm form = %d %.200s, want 410 (link already used)", r.Status, r.Body)
	}
	return nil
}

// randomString returns 32 random bytes, base64url-encoded.
func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
