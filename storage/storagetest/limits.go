package storagetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

// testLimits pins down the shared rate-limit counters: fixed windows, slots
// that only their holder releases, exact counts under concurrency (from one
// store; backends with replicas run the same against two), and sweeping.
func testLimits(t *testing.T, h harness) {
	ctx := context.Background()
	t0 := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)

	t.Run("fixed windows", func(t *testing.T) {
		s := h.store(t)
		for i := 1; i <= 3; i++ {
			n, end, err := s.CountEvent(ctx, "ip:1", time.Minute, t0.Add(time.Duration(i)*time.Second))
			if err != nil || n != i || !end.Equal(t0.Add(time.Minute)) {
				t.Fatalf("event %d = %d, %v, %v; want %d ending %v", i, n, end, err, i, t0.Add(time.Minute))
			}
		}
		if n, _, _ := s.CountEvent(ctx, "ip:2", time.Minute, t0); n != 1 {
			t.Errorf("another key's first event = %d, want 1", n)
		}
		if n, end, _ := s.CountEvent(ctx, "ip:1", time.Minute, t0.Add(time.Minute)); n != 1 || !end.Equal(t0.Add(2*time.Minute)) {
			t.Errorf("first event of the next window = %d ending %v, want 1 ending %v", n, end, t0.Add(2*time.Minute))
		}
		if _, _, err := s.CountEvent(ctx, "ip:1", 0, t0); err == nil {
			t.Error("CountEvent with an empty window succeeded")
		}
		// Windows are counted from the Unix epoch, whatever the period.
		week := 7 * 24 * time.Hour
		_, end, err := s.CountEvent(ctx, "weekly", week, t0)
		if err != nil {
			t.Fatal(err)
		}
		if want := time.Unix(0, (t0.UnixNano()/int64(week)+1)*int64(week)); !end.Equal(want) {
			t.Errorf("a weekly window ends %v, want %v (a multiple of the period since the epoch)", end, want)
		}
		// Keys are bytes: a NUL and invalid UTF-8 (a login name) are fine.
		if n, _, err := s.CountEvent(ctx, "realm\x00acct\x00\xff\xfe", time.Minute, t0); err != nil || n != 1 {
			t.Errorf("a key with NUL and invalid UTF-8 = %d, %v; want 1", n, err)
		}
	})

	t.Run("exact under concurrency", func(t *testing.T) {
		s := h.store(t)
		const n = 50
		var wg sync.WaitGroup
		seen := make([]int, n)
		for i := range n {
			wg.Go(func() {
				c, _, err := s.CountEvent(ctx, "acct", time.Hour, t0)
				if err != nil {
					t.Error(err)
				}
				seen[i] = c
			})
		}
		wg.Wait()
		got := map[int]bool{}
		for _, c := range seen {
			got[c] = true
		}
		for c := 1; c <= n; c++ {
			if !got[c] {
				t.Fatalf("%d concurrent events: counts %v, want each of 1..%d once", n, seen, n)
			}
		}
	})

	t.Run("slots", func(t *testing.T) {
		s := h.store(t)
		until := t0.Add(time.Minute)
		if ok, _, err := s.ReserveSlot(ctx, "resend", until, t0); !ok || err != nil {
			t.Fatalf("first reservation = %v, %v", ok, err)
		}
		if ok, held, _ := s.ReserveSlot(ctx, "resend", t0.Add(2*time.Minute), t0.Add(time.Second)); ok || !held.Equal(until) {
			t.Fatalf("second reservation while held = %v held until %v, want refused until %v", ok, held, until)
		}
		if err := s.ReleaseSlot(ctx, "resend", t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if ok, _, _ := s.ReserveSlot(ctx, "resend", until, t0.Add(time.Second)); ok {
			t.Fatal("a release by another reservation freed the slot")
		}
		if err := s.ReleaseSlot(ctx, "resend", until); err != nil {
			t.Fatal(err)
		}
		if ok, _, _ := s.ReserveSlot(ctx, "resend", until, t0.Add(time.Second)); !ok {
			t.Fatal("the holder's release did not free the slot")
		}
		if ok, _, _ := s.ReserveSlot(ctx, "resend", t0.Add(3*time.Minute), until); !ok {
			t.Fatal("a slot whose time is over was not free")
		}
		if err := s.ReleaseSlot(ctx, "absent", until); err != nil {
			t.Errorf("releasing an absent slot = %v, want nil", err)
		}
		var wins int
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				if ok, _, err := s.ReserveSlot(ctx, "race", until, t0); ok && err == nil {
					mu.Lock()
					wins++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if wins != 1 {
			t.Errorf("20 concurrent reservations: %d won, want 1", wins)
		}
	})

	t.Run("swept when over", func(t *testing.T) {
		s := h.store(t)
		if _, _, err := s.CountEvent(ctx, "w", time.Minute, t0); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.ReserveSlot(ctx, "slot", t0.Add(time.Minute), t0); err != nil {
			t.Fatal(err)
		}
		if n, err := s.Sweep(ctx, t0.Add(30*time.Second)); err != nil || n != 0 {
			t.Fatalf("sweep during the window = %d, %v; want 0", n, err)
		}
		if n, err := s.Sweep(ctx, t0.Add(time.Minute)); err != nil || n != 2 {
			t.Fatalf("sweep once over = %d, %v; want 2", n, err)
		}
		if n, _, _ := s.CountEvent(ctx, "w", time.Minute, t0); n != 1 {
			t.Errorf("count in a swept window = %d, want a fresh 1", n)
		}
	})
}

// testOutboxClaims pins down leased claims: due entries only, oldest first,
// each to one claimer, due again once the lease is over.
func testOutboxClaims(t *testing.T, h harness) {
	ctx := context.Background()
	t0 := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	s := h.store(t)
	var entries []storage.OutboxEntry
	for i := range 5 {
		entries = append(entries, storage.OutboxEntry{Realm: "r1", Kind: "webhook", Payload: []byte{byte(i)},
			NextAttemptAt: t0.Add(time.Duration(i) * time.Second), CreatedAt: t0})
	}
	entries = append(entries, storage.OutboxEntry{Realm: "r1", Kind: "webhook", NextAttemptAt: t0.Add(time.Hour), CreatedAt: t0})
	if err := s.EnqueueOutbox(ctx, entries...); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(10 * time.Second)
	first, err := s.ClaimOutbox(ctx, now, 30*time.Second, 2)
	if err != nil || len(first) != 2 || first[0].Payload[0] != 0 || first[1].Payload[0] != 1 {
		t.Fatalf("claim 2 = %v, %v; want the two oldest", first, err)
	}
	if !first[0].NextAttemptAt.Equal(now.Add(30 * time.Second)) {
		t.Errorf("claimed entry's next attempt = %v, want the lease's end %v", first[0].NextAttemptAt, now.Add(30*time.Second))
	}
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			es, err := s.ClaimOutbox(ctx, now, 30*time.Second, 0)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			for _, e := range es {
				got[e.ID]++
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(got) != 3 {
		t.Errorf("concurrent claimers took %d entries, want the 3 remaining due ones", len(got))
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("entry %s claimed %d times, want once", id, n)
		}
	}
	if again, _ := s.ClaimOutbox(ctx, now.Add(29*time.Second), 30*time.Second, 0); len(again) != 0 {
		t.Errorf("claim within the lease = %d entries, want 0", len(again))
	}
	if again, _ := s.ClaimOutbox(ctx, now.Add(30*time.Second), 30*time.Second, 0); len(again) != 5 {
		t.Errorf("claim after the lease = %d entries, want the 5 leased ones again", len(again))
	}
}
