package storagetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

func testRevocations(t *testing.T, h harness) {
	s := h.store(t)
	now := clock()
	mustOK(t, "RevokeTokenID", s.RevokeTokenID(ctx, "a", "jti-1", now.Add(time.Hour)))
	mustOK(t, "RevokeTokenID again", s.RevokeTokenID(ctx, "a", "jti-1", now.Add(2*time.Hour)))
	tests := []struct {
		realm, jti string
		want       bool
	}{
		{"a", "jti-1", true},
		{"a", "jti-2", false},
		{"b", "jti-1", false},
	}
	for _, tt := range tests {
		got, err := s.IsTokenIDRevoked(ctx, tt.realm, tt.jti)
		wantErr(t, "IsTokenIDRevoked", err, nil)
		if got != tt.want {
			t.Errorf("IsTokenIDRevoked(%q, %q) = %v, want %v", tt.realm, tt.jti, got, tt.want)
		}
	}
}

func testLoginFailures(t *testing.T, h harness) {
	s := h.store(t)
	now := clock()
	_, err := s.GetLoginFailures(ctx, "a", "u1")
	wantErr(t, "GetLoginFailures absent", err, storage.ErrNotFound)

	increment := func(f storage.LoginFailures) (storage.LoginFailures, error) {
		f.NumFailures++
		f.LastFailure = now
		f.LastIPFailed = "192.0.2.1"
		return f, nil
	}
	errs := parallel(50, func(int) error {
		_, err := s.UpdateLoginFailures(ctx, "a", "u1", increment)
		return err
	})
	for i, err := range errs {
		wantErr(t, fmt.Sprintf("UpdateLoginFailures #%d", i), err, nil)
	}
	got, err := s.GetLoginFailures(ctx, "a", "u1")
	wantErr(t, "GetLoginFailures", err, nil)
	want := storage.LoginFailures{Realm: "a", Key: "u1", NumFailures: 50, LastFailure: now, LastIPFailed: "192.0.2.1"}
	equal(t, "after 50 concurrent increments", got, want)
	_, err = s.GetLoginFailures(ctx, "b", "u1")
	wantErr(t, "GetLoginFailures other realm", err, storage.ErrNotFound)

	errBoom := errors.New("boom")
	_, err = s.UpdateLoginFailures(ctx, "a", "u1", func(f storage.LoginFailures) (storage.LoginFailures, error) {
		f.NumFailures = 1000
		return f, errBoom
	})
	if err != errBoom {
		t.Errorf("UpdateLoginFailures with failing fn: got error %v, want errBoom unchanged", err)
	}
	got, _ = s.GetLoginFailures(ctx, "a", "u1")
	equal(t, "after failed update", got, want)

	reset, err := s.UpdateLoginFailures(ctx, "a", "u1", func(f storage.LoginFailures) (storage.LoginFailures, error) {
		return storage.LoginFailures{Realm: f.Realm, Key: f.Key}, nil
	})
	wantErr(t, "UpdateLoginFailures reset", err, nil)
	equal(t, "reset record", reset, storage.LoginFailures{Realm: "a", Key: "u1"})
	_, err = s.GetLoginFailures(ctx, "a", "u1")
	wantErr(t, "GetLoginFailures after reset", err, storage.ErrNotFound)

	locked, err := s.UpdateLoginFailures(ctx, "a", "u2", func(f storage.LoginFailures) (storage.LoginFailures, error) {
		if f.Realm != "a" || f.Key != "u2" || f.NumFailures != 0 {
			t.Errorf("fn got %+v for an absent record, want the zero record with Realm a and Key u2", f)
		}
		f.LockedUntil = now.Add(time.Hour)
		return f, nil
	})
	wantErr(t, "UpdateLoginFailures lock", err, nil)
	got, err = s.GetLoginFailures(ctx, "a", "u2")
	wantErr(t, "GetLoginFailures locked with zero failures", err, nil)
	equal(t, "locked record", got, locked)
}

func newOutboxEntry(id, realm string, next time.Time) storage.OutboxEntry {
	return storage.OutboxEntry{
		ID:            id,
		Realm:         realm,
		Kind:          "email",
		Payload:       []byte(`{"to":"alice@example.com"}`),
		NextAttemptAt: next,
		CreatedAt:     next,
	}
}

func testOutbox(t *testing.T, h harness) {
	s := h.store(t)
	now := clock()
	// IDs are time-ordered; enqueue them out of order.
	mustOK(t, "EnqueueOutbox", s.EnqueueOutbox(ctx,
		newOutboxEntry("0003", "a", now.Add(-time.Minute)),
		newOutboxEntry("0001", "b", now.Add(-time.Hour)),
		newOutboxEntry("0004", "a", now.Add(time.Hour)), // not due yet
	))
	mustOK(t, "EnqueueOutbox single", s.EnqueueOutbox(ctx, newOutboxEntry("0002", "a", now)))
	wantErr(t, "EnqueueOutbox duplicate", s.EnqueueOutbox(ctx, newOutboxEntry("0005", "a", now), newOutboxEntry("0002", "a", now)), storage.ErrAlreadyExists)
	wantErr(t, "EnqueueOutbox nothing", s.EnqueueOutbox(ctx), nil)

	count := func(want int) {
		t.Helper()
		n, err := s.CountOutbox(ctx)
		wantErr(t, "CountOutbox", err, nil)
		if n != want {
			t.Errorf("CountOutbox = %d, want %d", n, want)
		}
	}
	count(4) // the refused batch left nothing behind

	dueIDs := func(at time.Time, limit int) []string {
		t.Helper()
		due, err := s.DueOutbox(ctx, at, limit)
		wantErr(t, "DueOutbox", err, nil)
		var ids []string
		for _, e := range due {
			ids = append(ids, e.ID)
		}
		return ids
	}
	tests := []struct {
		name  string
		at    time.Time
		limit int
		want  []string
	}{
		{"all due", now, 0, []string{"0001", "0002", "0003"}},
		{"limited", now, 2, []string{"0001", "0002"}},
		{"later", now.Add(2 * time.Hour), 0, []string{"0001", "0002", "0003", "0004"}},
		{"earlier", now.Add(-2 * time.Hour), 0, nil},
	}
	for _, tt := range tests {
		equal(t, "DueOutbox "+tt.name, dueIDs(tt.at, tt.limit), tt.want)
	}
	due, _ := s.DueOutbox(ctx, now, 1)
	equal(t, "DueOutbox entry", due, []storage.OutboxEntry{newOutboxEntry("0001", "b", now.Add(-time.Hour))})

	retry := now.Add(10 * time.Minute)
	updated, err := s.UpdateOutbox(ctx, "0001", func(e storage.OutboxEntry) (storage.OutboxEntry, error) {
		e.Attempts++
		e.NextAttemptAt = retry
		e.LastError = "451 try later"
		return e, nil
	})
	wantErr(t, "UpdateOutbox", err, nil)
	if updated.Attempts != 1 || !updated.NextAttemptAt.Equal(retry) || updated.LastError != "451 try later" {
		t.Errorf("UpdateOutbox returned %+v, want Attempts 1, NextAttemptAt %v, LastError set", updated, retry)
	}
	equal(t, "DueOutbox after reschedule", dueIDs(now, 0), []string{"0002", "0003"})

	errBoom := errors.New("boom")
	_, err = s.UpdateOutbox(ctx, "0002", func(e storage.OutboxEntry) (storage.OutboxEntry, error) { return e, errBoom })
	if err != errBoom {
		t.Errorf("UpdateOutbox with failing fn: got error %v, want errBoom unchanged", err)
	}
	_, err = s.UpdateOutbox(ctx, "nope", func(e storage.OutboxEntry) (storage.OutboxEntry, error) { return e, nil })
	wantErr(t, "UpdateOutbox absent", err, storage.ErrNotFound)

	mustOK(t, "DeleteOutbox", s.DeleteOutbox(ctx, "0002"))
	wantErr(t, "DeleteOutbox absent", s.DeleteOutbox(ctx, "0002"), nil)
	count(3)

	// Entries without an ID get one, ordered after those enqueued before.
	mustOK(t, "EnqueueOutbox without ids", s.EnqueueOutbox(ctx,
		newOutboxEntry("", "a", now.Add(-time.Second)),
		newOutboxEntry("", "a", now.Add(-time.Second))))
	count(5)
	ids := dueIDs(now, 0)
	generated := map[string]bool{}
	for _, id := range ids {
		if id != "0003" {
			generated[id] = true
		}
	}
	if len(ids) != 3 || len(generated) != 2 || generated[""] {
		t.Errorf("DueOutbox after enqueueing two entries without ids = %q, want 0003 and two distinct generated ids", ids)
	}
}
