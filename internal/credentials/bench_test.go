package credentials_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/testkit"
)

// benchLogin posts body to path through the real handler (middleware,
// routing, bbolt on disk, argon2id, signing) in-process, so that the numbers
// are the server's cost without TLS and socket overhead.
func benchLogin(b *testing.B, path, body string, want int) {
	env := testkit.New(b, testConfig, testkit.Options{NoMail: true})
	h := env.Server.Handler
	post := func() {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			b.Fatalf("POST %s = %d %s, want %d", path, rec.Code, rec.Body.String(), want)
		}
	}
	post() // warm up: key ring, first bbolt pages
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			post()
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				post()
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
	})
}

// BenchmarkUserLoginSuccess is a successful /user/login; compare with
// internal/password's BenchmarkVerify, the argon2id cost that dominates it.
func BenchmarkUserLoginSuccess(b *testing.B) {
	benchLogin(b, "/user/login", loginBody("alice@example.com", alicePassword), http.StatusOK)
}

// BenchmarkUserLoginUnknownEmail is a rejected unknown email: it costs one
// dummy argon2id verification, like a known user's wrong password.
func BenchmarkUserLoginUnknownEmail(b *testing.B) {
	benchLogin(b, "/user/login", loginBody("nobody@example.com", alicePassword), http.StatusNotFound)
}

// BenchmarkGenerateUserTokenSuccess is a successful /wf/generate-user-token.
func BenchmarkGenerateUserTokenSuccess(b *testing.B) {
	benchLogin(b, "/wf/generate-user-token", wfBody("alice@example.com", alicePassword), http.StatusOK)
}
