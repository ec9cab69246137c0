package bboltstore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/bboltstore"
)

func openBench(b *testing.B, opts bboltstore.Options) *bboltstore.Store {
	b.Helper()
	s, err := bboltstore.Open(filepath.Join(b.TempDir(), "bench.db"), opts)
	if err != nil {
		b.Fatalf("Open: %v", err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

func benchToken(hash string, now time.Time) storage.OneTimeToken {
	return storage.OneTimeToken{
		Realm: "bench", Kind: "magiclink", Hash: hash, Subject: "u1",
		Payload:   []byte(`{"redirect":"https://app.example.com/"}`),
		CreatedAt: now, ExpiresAt: now.Add(time.Hour),
	}
}

// BenchmarkIssueOneTimeToken compares one writer with many. A lone writer
// commits at once (one fsync per op); concurrent writers share transactions
// through db.Batch, so the per-op cost falls well below one fsync. The
// 10ms variant is bbolt's default batch delay, for comparison.
func BenchmarkIssueOneTimeToken(b *testing.B) {
	ctx := context.Background()
	modes := []struct {
		name     string
		opts     bboltstore.Options
		parallel bool
	}{
		{"serial", bboltstore.Options{}, false},
		{"parallel", bboltstore.Options{}, true},
		{"parallel-delay10ms", bboltstore.Options{MaxBatchDelay: 10 * time.Millisecond}, true},
		{"serial-nosync", bboltstore.Options{NoSync: true}, false},
	}
	for _, mode := range modes {
		b.Run(mode.name, func(b *testing.B) {
			s := openBench(b, mode.opts)
			now := time.Now()
			var n atomic.Int64
			issue := func() {
				if err := s.IssueOneTimeToken(ctx, benchToken(fmt.Sprint(n.Add(1)), now)); err != nil {
					b.Fatal(err)
				}
			}
			runOps(b, mode.parallel, issue)
		})
	}
}

// BenchmarkConsumeOneTimeToken measures the consume-once transaction, serial
// (one fsync per op) and parallel (coalesced). The nosync variant shows the
// transaction's own cost.
func BenchmarkConsumeOneTimeToken(b *testing.B) {
	ctx := context.Background()
	modes := []struct {
		name     string
		opts     bboltstore.Options
		parallel bool
	}{
		{"serial", bboltstore.Options{}, false},
		{"parallel", bboltstore.Options{}, true},
		{"serial-nosync", bboltstore.Options{NoSync: true}, false},
	}
	for _, mode := range modes {
		b.Run(mode.name, func(b *testing.B) {
			s := openBench(b, mode.opts)
			now := time.Now()
			const batch = 10000
			var hashes []string
			for i := range batch {
				hashes = append(hashes, fmt.Sprint(i))
			}
			err := s.InTx(ctx, func(tx storage.Tx) error {
				for _, h := range hashes {
					if err := tx.IssueOneTimeToken(benchToken(h, now)); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			var n atomic.Int64
			consume := func() {
				// Past the pre-issued tokens, consumes hit tombstones
				// (ErrConsumed), which costs the same transaction.
				h := hashes[int(n.Add(1))%batch]
				if _, err := s.ConsumeOneTimeToken(ctx, "bench", "magiclink", h, now); err != nil && n.Load() <= batch {
					b.Fatal(err)
				}
			}
			runOps(b, mode.parallel, consume)
		})
	}
}

// BenchmarkGetUserByEmail is a read through the email index among 10k users.
func BenchmarkGetUserByEmail(b *testing.B) {
	ctx := context.Background()
	s := openBench(b, bboltstore.Options{NoSync: true})
	const users = 10000
	err := s.InTx(ctx, func(tx storage.Tx) error {
		for i := range users {
			u := storage.User{
				Realm: "bench", ID: fmt.Sprintf("u%05d", i), Username: fmt.Sprintf("user%05d", i),
				Email: fmt.Sprintf("User%05d@Example.com", i), Enabled: true, Roles: []string{"user"},
				PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", CreatedAt: time.Now(),
			}
			if err := tx.CreateUser(u); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		i++
		if _, err := s.GetUserByEmail(ctx, "bench", fmt.Sprintf("user%05d@example.com", i%users)); err != nil {
			b.Fatal(err)
		}
	}
}

// runOps times op, serially or from many goroutines at once.
func runOps(b *testing.B, parallel bool, op func()) {
	b.ReportAllocs()
	b.ResetTimer()
	if !parallel {
		for b.Loop() {
			op()
		}
		return
	}
	b.SetParallelism(16) // request handlers block on I/O: many per CPU
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			op()
		}
	})
}
