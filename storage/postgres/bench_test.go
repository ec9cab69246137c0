package postgres_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/postgres/pgtest"
)

// The hot paths of a login: issue and consume a code, rotate a refresh
// token, count a login failure. Parallel, on a cluster without fsync: these
// measure round trips and locking, not the disk.
func BenchmarkHotPaths(b *testing.B) {
	s := openStore(b, pgtest.Shared(b).NewDatabase(b))
	b.Cleanup(func() { s.Close() })
	ctx := context.Background()
	now := time.Now().UTC()
	var seq atomic.Int64

	b.Run("IssueConsume", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				h := fmt.Sprint("h", seq.Add(1))
				tok := storage.OneTimeToken{Realm: "a", Kind: "code", Hash: h, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
				if err := s.IssueOneTimeToken(ctx, tok); err != nil {
					b.Fatal(err)
				}
				if _, err := s.ConsumeOneTimeToken(ctx, "a", "code", h, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("RotateRefreshToken", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			n := seq.Add(1)
			cur := storage.RefreshToken{Realm: "a", ID: fmt.Sprint("r", n), Hash: fmt.Sprint("rh", n), UserID: "u",
				CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
			if err := s.CreateRefreshToken(ctx, cur); err != nil {
				b.Fatal(err)
			}
			for pb.Next() {
				n := seq.Add(1)
				next := cur
				next.ID, next.Hash = fmt.Sprint("r", n), fmt.Sprint("rh", n)
				if err := s.RotateRefreshToken(ctx, "a", cur.Hash, next, now); err != nil {
					b.Fatal(err)
				}
				cur = next
			}
		})
	})
	b.Run("UpdateLoginFailuresOneAccount", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_, err := s.UpdateLoginFailures(ctx, "a", "u1", func(f storage.LoginFailures) (storage.LoginFailures, error) {
					f.NumFailures++
					f.LastFailure = now
					return f, nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
