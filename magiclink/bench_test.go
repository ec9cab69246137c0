package magiclink_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/latchkey/latchkey/internal/testkit"
	"github.com/latchkey/latchkey/magiclink"
)

// BenchmarkIssueLink measures link issuance end to end below HTTP: request
// validation, user creation and the link token in one bbolt transaction, and
// the mail handed to the loopback SMTP server (pooled connections).
func BenchmarkIssueLink(b *testing.B) {
	env := testkit.New(b, testConfig)
	svc := env.Server.MagicLinks
	rl, _ := env.Server.Realms.Get("acme")
	var n atomic.Int64
	ctx := context.Background()
	// Many requests in flight, as on a server: bbolt batches their commits
	// (and the mail pool's connections get reused).
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := magiclink.Request{
				Email: fmt.Sprintf("bench%d@example.com", n.Add(1)), ClientID: "conf", RedirectURI: redirectURI,
				Scope: "openid email", ResponseMode: "query", ResponseType: "code", ForceCreate: true,
			}
			if err := svc.Issue(ctx, rl, req, ""); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "links/s")
}
