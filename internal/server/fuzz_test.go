package server_test

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/testkit"
)

// The fuzz targets below drive the whole server handler (middleware, router,
// every API) in-process: one testkit env per target, built in the target's setup,
// and each input served through env.Server.Handler with a recorder. The
// property is the same everywhere: no panic (the middleware would turn one
// into a 500) and no 5xx, whatever the input.

// fuzzServe serves req through the whole handler as if it came over TLS
// from loopback, and fails on a 5xx.
func fuzzServe(t *testing.T, env *testkit.Env, req *http.Request, what string) *httptest.ResponseRecorder {
	t.Helper()
	req.TLS = &tls.ConnectionState{}
	req.RemoteAddr = "127.0.0.1:40000"
	rec := httptest.NewRecorder()
	env.Server.Handler.ServeHTTP(rec, req)
	if rec.Code >= 500 {
		t.Fatalf("%s: status %d, want < 500; body %.500s", what, rec.Code, rec.Body)
	}
	return rec
}

// fuzzRequest builds a request to path with a raw (unvalidated) query: the
// fuzzer's strings are not always valid URLs, and the server must cope with
// whatever a client sends.
func fuzzRequest(method, path, rawQuery string, body []byte) *http.Request {
	req := httptest.NewRequest(method, "https://localhost"+path, bytes.NewReader(body))
	req.URL.RawQuery = rawQuery
	return req
}

// fuzzEnv boots the hostile-input realm and returns a service token.
func fuzzEnv(f *testing.F) (*testkit.Env, string) {
	env := testkit.New(f, hostileConfig)
	req := fuzzRequest(http.MethodPost, hToken, "", []byte("grant_type=client_credentials&client_id=svc&client_secret=svc-secret"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.TLS = &tls.ConnectionState{}
	rec := httptest.NewRecorder()
	env.Server.Handler.ServeHTTP(rec, req)
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &tr) != nil {
		f.Fatalf("client_credentials = %d %s", rec.Code, rec.Body)
	}
	return env, tr.AccessToken
}

// FuzzTokenEndpointForm posts random forms with a grant type to the token
// endpoint, optionally with HTTP Basic client authentication.
func FuzzTokenEndpointForm(f *testing.F) {
	env, _ := fuzzEnv(f)
	f.Add("client_credentials", "client_id=svc&client_secret=svc-secret", "")
	f.Add("client_credentials", "scope=openid+profile", "svc:svc-secret")
	f.Add("refresh_token", "refresh_token=abc&client_id=web", "")
	f.Add("authorization_code", "code=abc&redirect_uri=https%3A%2F%2Frp.example.com%2Fcb&client_id=web&code_verifier=x", "")
	f.Add("password", "username=alice%40example.com&password=alice-password-1&client_id=web", "")
	f.Add("urn:ietf:params:oauth:grant-type:token-exchange", "subject_token=a.b.c&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt", "svc:svc-secret")
	f.Add("urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion=a.b.c", "")
	f.Add("", "%zz&&==&grant_type", ":")
	f.Fuzz(func(t *testing.T, grant, form, basic string) {
		body := []byte("grant_type=" + url.QueryEscape(grant) + "&" + form)
		req := fuzzRequest(http.MethodPost, hToken, "", body)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if basic != "" {
			req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(basic)))
		}
		fuzzServe(t, env, req, "token endpoint form "+string(body))
	})
}

// FuzzAuthorizeQuery sends random query strings to the authorization
// endpoint, by GET and as a POSTed form.
func FuzzAuthorizeQuery(f *testing.F) {
	env, _ := fuzzEnv(f)
	for _, q := range []string{
		"client_id=web&redirect_uri=https%3A%2F%2Frp.example.com%2Fcb&response_type=code&scope=openid&state=s",
		"client_id=web&redirect_uri=https%3A%2F%2Frp.example.com%2Fcb&response_type=code+id_token&response_mode=form_post&scope=openid&nonce=n",
		"client_id=web&redirect_uri=https%3A%2F%2Frp.example.com%2Fcb&response_type=code&scope=openid&code_challenge=abc&code_challenge_method=plain",
		"client_id=web&redirect_uri=https%3A%2F%2Fevil.example.com%2F&response_type=token&scope=openid",
		"client_id=web&redirect_uri=https%3A%2F%2Frp.example.com%2Fcb&response_type=code&scope=openid&prompt=none&max_age=-1&id_token_hint=a.b.c",
		"client_id=web&request=eyJhbGciOiJub25lIn0.e30.&response_type=code&scope=openid",
		"client_id=%00&redirect_uri=%ff&response_type=&scope=",
		"",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, query string) {
		fuzzServe(t, env, fuzzRequest(http.MethodGet, hAuth, query, nil), "GET auth ?"+query)
		req := fuzzRequest(http.MethodPost, hAuth, "", []byte(query))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		fuzzServe(t, env, req, "POST auth "+query)
	})
}

// FuzzLoginForm posts random forms to the login page of a live
// authorization request, with the browser's CSRF cookie and, when asked,
// its valid token. An authRequestID of "{live}" is replaced by the live one.
func FuzzLoginForm(f *testing.F) {
	// A per-IP limit keeps most inputs from reaching argon2id (a wrong or
	// unknown login costs one hash, some 50 ms): slow inputs made the fuzz
	// engine overrun -fuzztime ("context deadline exceeded"). Parsing, CSRF
	// and the limiter itself still see every input.
	env := testkit.New(f, hostileConfig, testkit.Options{Mutate: func(cfg *config.Config) {
		cfg.Realms[0].RateLimits.PerIP = "20/m"
	}})
	c := env.Client()
	q := url.Values{"client_id": {"web"}, "redirect_uri": {"https://rp.example.com/cb"}, "response_type": {"code"}, "scope": {"openid"}}
	resp, err := c.Get(env.URL + hAuth + "?" + q.Encode())
	if err != nil {
		f.Fatal(err)
	}
	resp.Body.Close()
	loginURL, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound {
		f.Fatalf("authorization endpoint = %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	page := hostileDo(f, c, http.MethodGet, loginURL.String(), "", nil, nil)
	m := hostileCSRFRE.FindSubmatch(page.body)
	if m == nil {
		f.Fatalf("login page has no CSRF token: %.300s", page.body)
	}
	csrf := html.UnescapeString(string(m[1]))
	cookies := c.Jar.Cookies(loginURL)
	live := loginURL.Query().Get("authRequestID")

	f.Add("{live}", "username=alice%40example.com&password=wrong&action=password", true)
	f.Add("{live}", "username=a%40b.com&action=email-link", true)
	f.Add("{live}", "username=%ff&password=%00", false)
	f.Add("nope", "username=alice%40example.com&password=alice-password-1", true)
	f.Add("", "", false)
	f.Fuzz(func(t *testing.T, authRequestID, form string, withCSRF bool) {
		id := strings.ReplaceAll(authRequestID, "{live}", live)
		body := form
		if withCSRF {
			body = "csrf_token=" + url.QueryEscape(csrf) + "&" + form
		}
		req := fuzzRequest(http.MethodPost, loginURL.Path, "authRequestID="+url.QueryEscape(id), []byte(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, ck := range cookies {
			req.AddCookie(ck)
		}
		fuzzServe(t, env, req, "login form "+body)
	})
}

// FuzzMagicLinkLanding GETs and POSTs the magic-link landing with random
// keys and forms. "{key}" in the key is replaced by a live link's key, so
// that the fuzzer also reaches the consume path.
func FuzzMagicLinkLanding(f *testing.F) {
	env, tok := fuzzEnv(f)
	req := fuzzRequest(http.MethodPost, hMagicLink, "", []byte(`{"email":"landing-fuzz@example.com","clientId":"web",
		"redirectUri":"https://rp.example.com/cb","scope":"openid","responseMode":"query","responseType":"code","forceCreate":true}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.TLS = &tls.ConnectionState{}
	rec := httptest.NewRecorder()
	env.Server.Handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		f.Fatalf("magic link for the fuzz seed = %d %s", rec.Code, rec.Body)
	}
	link, err := url.Parse(env.Mail.WaitFor(f, "landing-fuzz@example.com", 10*time.Second).FindLink("/kobil-magic-link/login"))
	if err != nil {
		f.Fatal(err)
	}
	key := link.Query().Get("key")

	f.Add(false, "{key}", "")
	f.Add(true, "", "key={key}&csrf_token=x")
	f.Add(true, "", "reset=abc&password=new-password-1&password2=new-password-1")
	f.Add(false, "%ff%00", "")
	f.Add(true, "", "key=%zz")
	f.Fuzz(func(t *testing.T, post bool, k, form string) {
		k = strings.ReplaceAll(k, "{key}", key)
		form = strings.ReplaceAll(form, "{key}", key)
		if !post {
			fuzzServe(t, env, fuzzRequest(http.MethodGet, hLanding, "key="+k, nil), "GET landing key="+k)
			return
		}
		req := fuzzRequest(http.MethodPost, hLanding, "", []byte(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		fuzzServe(t, env, req, "POST landing "+form)
	})
}

// FuzzBearerHeader sends random Authorization headers to userinfo, the
// magic-link API and the generate-link API. "{token}" is replaced by a valid
// service token, so that the fuzzer mutates around a real one too.
func FuzzBearerHeader(f *testing.F) {
	env, tok := fuzzEnv(f)
	magic := []byte(`{"email":"bearer-fuzz@example.com","clientId":"web","redirectUri":"https://rp.example.com/cb","scope":"openid","responseMode":"query","responseType":"code","forceCreate":true}`)
	gen := []byte(`{"metadata":"m","workflows_list":"","site":"testing","emails":["bearer-fuzz@example.com"]}`)
	for _, h := range []string{"Bearer {token}", "bearer {token}", "Bearer {token}x", "Bearer  {token} ", "Bearer", "Basic c3ZjOnN2Yy1zZWNyZXQ=",
		"Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "Bearer a.b.c", "Bearer ....", "Bearer \x00", ""} {
		for target := range byte(3) {
			f.Add(target, h)
		}
	}
	f.Fuzz(func(t *testing.T, target byte, header string) {
		header = strings.ReplaceAll(header, "{token}", tok)
		var req *http.Request
		switch target % 3 {
		case 0:
			req = fuzzRequest(http.MethodGet, hUserinfo, "", nil)
		case 1:
			req = fuzzRequest(http.MethodPost, hMagicLink, "", magic)
			req.Header.Set("Content-Type", "application/json")
		default:
			req = fuzzRequest(http.MethodPost, hGenLink, "", gen)
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header["Authorization"] = []string{header}
		fuzzServe(t, env, req, "Authorization "+header)
	})
}

// FuzzCredentialJSON posts random bodies to the four JSON APIs, the API
// chosen by the first argument (the two that need one get a valid bearer).
func FuzzCredentialJSON(f *testing.F) {
	env, tok := fuzzEnv(f)
	apis := jsonAPIs()
	for i, a := range apis {
		f.Add(byte(i), mustJSON(a.valid))
		f.Add(byte(i), []byte(`{"`+a.emailField+`":"a@b.com\r\nBcc: x@y.com"}`))
	}
	for _, b := range []string{`[]`, `null`, `{"emails":[null,1,{}]}`, "\xff", `{"a":` + strings.Repeat("[", 40)} {
		f.Add(byte(0), []byte(b))
	}
	f.Fuzz(func(t *testing.T, which byte, body []byte) {
		a := apis[int(which)%len(apis)]
		req := fuzzRequest(http.MethodPost, a.path, "", body)
		req.Header.Set("Content-Type", "application/json")
		if a.bearer {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		rec := fuzzServe(t, env, req, a.name+" body "+string(body))
		if rec.Code >= 400 {
			if err := a.shape(rec.Code, rec.Body.Bytes()); err != nil {
				t.Fatalf("%s body %q: answer %d not in the API's error shape: %v", a.name, body, rec.Code, err)
			}
		}
	})
}
