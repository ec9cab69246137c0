package applink_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/testkit"
	"github.com/latchkey/latchkey/realm"
)

// BenchmarkGenerateLink100 measures a 100-email request through the server's
// handler (no TLS): 100 new users created in one transaction, 100 tokens
// signed. It reports links per second.
func BenchmarkGenerateLink100(b *testing.B) {
	env := newBenchEnv(b)
	tok := mintToken(b, env, 24*time.Hour, realm.RoleLinkGenerator)
	bodies := make([]string, b.N)
	for i := range bodies {
		emails := make([]string, 100)
		for j := range emails {
			emails[j] = fmt.Sprintf("bench-%d-%d@example.com", i, j)
		}
		raw, _ := json.Marshal(map[string]any{"site": "testing", "metadata": "bench", "emails": emails})
		bodies[i] = string(raw)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		req := httptest.NewRequest(http.MethodPost, apiPath, strings.NewReader(bodies[i]))
		req.RemoteAddr = "127.0.0.1:40000"
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		env.Server.Handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d %s", rec.Code, rec.Body)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(100*b.N)/b.Elapsed().Seconds(), "links/s")
}

// newBenchEnv is newEnv with the realm's email cap raised to the default 1000.
func newBenchEnv(b *testing.B) *testkit.Env {
	return testkit.New(b, fmt.Sprintf(testConfig, "http://127.0.0.1:1"), testkit.Options{Mutate: func(c *config.Config) {
		c.Realms[0].LinkAPI.MaxEmails = 1000
	}})
}
