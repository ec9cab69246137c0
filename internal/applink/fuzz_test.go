package applink_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/realm"
)

// FuzzGenerateLinkDecode sends arbitrary bodies through the real server's
// handler with a valid token: whatever the body, the answer is the API's
// JSON with a status below 500.
func FuzzGenerateLinkDecode(f *testing.F) {
	env, _ := newEnv(f)
	tok := mintToken(f, env, time.Hour, realm.RoleLinkGenerator)
	for _, seed := range []string{
		`{"metadata":"testing","workflows_list":"","site":"testing","emails":["pritam@focalx.ai"]}`,
		`{"metadata":"a&b=c ü","workflows_list":"email, hook","site":"plain","emails":["A+b@x.io","a+B@X.io"]}`,
		`{"site":"testing","emails":[]}`,
		`{"site":"testing","emails":"x@y.z"}`,
		`{"site":"testing","emails":[null, 1]}`,
		`[]`, `null`, ``, `{"emails":["\u0000@x.io"]}`, `{"site":` + strings.Repeat("[", 40),
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, apiPath, strings.NewReader(string(body)))
		req.RemoteAddr = "127.0.0.1:40000" // sslRequired "external" allows loopback over http
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		env.Server.Handler.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("body %q: status %d %s", body, rec.Code, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("body %q: answer is not JSON: %s", body, rec.Body)
		}
	})
}
