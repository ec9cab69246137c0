package credentials_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/latchkey/latchkey/internal/testkit"
)

// fuzzSeeds are request bodies for both decoders: valid, wrong, malformed.
var fuzzSeeds = []string{
	`{"emailId":"alice@example.com","password":"` + alicePassword + `"}`,
	`{"email":"alice@example.com","password":"` + alicePassword + `"}`,
	`{"emailId":"alice@example.com","password":"wrong"}`,
	`{"email":"nobody@example.com","password":"x"}`,
	`{"emailId":null,"password":1}`,
	`{"email":["a"],"password":{}}`,
	`{"emailId":"\u0000@x.y","password":"\ud800"}`,
	`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
	`{"emailId":"a@b.c"`,
	"\xff\xfe{}",
	``,
	`null`,
	`{"emailId":"alice@example.com","password":"x"} trailing`,
}

// fuzzHandler boots a real server (brute force on, no rate limits, so that
// inputs reach the password check) and serves requests in-process.
func fuzzHandler(f *testing.F) http.Handler {
	env := testkit.New(f, testConfig, testkit.Options{NoMail: true})
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	return env.Server.Handler
}

// fuzzPost drives one body through the real handler and fails on a 5xx, a
// body that is not JSON, or (check) a body in the wrong shape.
func fuzzPost(t *testing.T, h http.Handler, path string, body []byte, check func(status int, body map[string]any) bool) {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code >= 500 {
		t.Fatalf("POST %s %q = %d %s, want < 500", path, body, rec.Code, rec.Body.String())
	}
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("POST %s %q answered %d with a non-JSON body %q", path, body, rec.Code, rec.Body.String())
	}
	if !check(rec.Code, m) {
		t.Fatalf("POST %s %q = %d %s: not the API's shape", path, body, rec.Code, rec.Body.String())
	}
}

func FuzzUserLoginDecode(f *testing.F) {
	h := fuzzHandler(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzPost(t, h, "/user/login", body, func(status int, m map[string]any) bool {
			code, _ := m["responseCode"].(float64)
			msg, _ := m["responseMessage"].(string)
			return int(code) == status && msg != "" && (status == 200) == (m["responseData"] != nil)
		})
	})
}

func FuzzGenerateUserTokenDecode(f *testing.F) {
	h := fuzzHandler(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzPost(t, h, "/wf/generate-user-token", body, func(status int, m map[string]any) bool {
			switch status {
			case 200:
				return m["status"] == "success" && m["response"] != nil
			case 400:
				return m["status"] == "MISSING_DATA" && m["message"] != nil && len(m) == 2
			default:
				_, ok := m["message"].(string)
				return ok && len(m) == 1
			}
		})
	})
}
