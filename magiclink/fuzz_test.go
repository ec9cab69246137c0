package magiclink_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/latchkey/latchkey/internal/testkit"
)

// FuzzAccessLinkDecode sends arbitrary bodies to the access-link API through
// the whole server (authenticated, over the middleware's body cap) and
// requires an answer in the seed's shape with a status below 500.
func FuzzAccessLinkDecode(f *testing.F) {
	// Mail goes to the log: the target is about decoding, and a real SMTP
	// round trip per input only slows the fuzzer (and stalls its shutdown).
	env := testkit.New(f, testConfig, testkit.Options{NoMail: true})
	tok := env.ServiceToken(f, "acme", "svc", "svc-secret")
	for _, seed := range []string{
		`{"email":"abc@gmail.com","clientId":"conf","redirectUri":"https://app.example.com/cb","scope":"open_id","responseMode":"form_post","responseType":"code token","forceCreate":true,"resetPassword":true}`,
		`{"email":"alice@example.com","clientId":"conf","redirectUri":"https://app.example.com/cb","scope":"openid","responseMode":"query","responseType":"code","lifespanSeconds":9223372036854775807}`,
		`{"email":"x@example.com","clientId":"web","redirectUri":"https://app.example.com/cb","scope":"openid","responseMode":"fragment","responseType":"code id_token","nonce":"n","codeChallenge":"abc","codeChallengeMethod":"S256"}`,
		`{"email":null,"scope":["openid"]}`, `[]`, `"x"`, `{}`, `{"a":{"b":{"c":[[[[1]]]]}}}`, "\xff\xfe", ``, `{"email":"a@b.c"} {}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, env.URL+"/auth/realms/acme/kobil-magic-link/access-link", bytes.NewReader(body))
		req.RemoteAddr = "127.0.0.1:40000" // loopback: sslRequired=external lets it through
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		env.Server.Handler.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("body %q: status %d %s", body, rec.Code, rec.Body)
		}
		var resp struct {
			Message   string `json:"message"`
			Status    string `json:"status"`
			SubSystem int    `json:"subSystem"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || resp.SubSystem != 5 || resp.Message == "" || resp.Status == "" {
			t.Fatalf("body %q: answer %d %s is not the seed's shape", body, rec.Code, rec.Body)
		}
	})
}
