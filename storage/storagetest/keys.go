package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

func newSigningKey(realm, id string, created time.Time) storage.SigningKey {
	return storage.SigningKey{
		Realm:      realm,
		ID:         id,
		Algorithm:  "ES256",
		PrivateDER: []byte("der-" + id),
		CreatedAt:  created,
	}
}

func testKeys(t *testing.T, h harness) {
	t.Run("Rotate", func(t *testing.T) {
		s := h.store(t)
		t0 := clock()
		day := 24 * time.Hour

		keys, err := s.ListSigningKeys(ctx, "a")
		wantErr(t, "ListSigningKeys empty", err, nil)
		if len(keys) != 0 {
			t.Fatalf("ListSigningKeys of a new realm: got %d keys, want 0", len(keys))
		}

		// k1 at t0; k2 at t0+1d retires k1 until t0+3d; k3 at t0+2d retires
		// k2 until t0+4d; k4 at t0+3d5m drops k1 (VerifyUntil before k4).
		steps := []struct {
			id       string
			created  time.Time
			retireAt time.Time
			want     []string // ids, active first then newest first
		}{
			{"k1", t0, time.Time{}, []string{"k1"}},
			{"k2", t0.Add(day), t0.Add(3 * day), []string{"k2", "k1"}},
			{"k3", t0.Add(2 * day), t0.Add(4 * day), []string{"k3", "k2", "k1"}},
			{"k4", t0.Add(3*day + 5*time.Minute), t0.Add(5 * day), []string{"k4", "k3", "k2"}},
		}
		for _, st := range steps {
			mustOK(t, "RotateSigningKey "+st.id, s.RotateSigningKey(ctx, newSigningKey("a", st.id, st.created), st.retireAt))
			keys, err := s.ListSigningKeys(ctx, "a")
			wantErr(t, "ListSigningKeys", err, nil)
			var ids []string
			for _, k := range keys {
				ids = append(ids, k.ID)
			}
			equal(t, "key ids after rotating to "+st.id, ids, st.want)
			for i, k := range keys {
				wantState := storage.KeyRetired
				if i == 0 {
					wantState = storage.KeyActive
				}
				if k.State != wantState {
					t.Errorf("after rotating to %s: key %s state %q, want %q", st.id, k.ID, k.State, wantState)
				}
				if i == 0 && !k.VerifyUntil.IsZero() {
					t.Errorf("active key %s has VerifyUntil %v, want zero", k.ID, k.VerifyUntil)
				}
			}
		}
		keys, _ = s.ListSigningKeys(ctx, "a")
		want := newSigningKey("a", "k3", t0.Add(2*day))
		want.State, want.VerifyUntil = storage.KeyRetired, t0.Add(5*day)
		equal(t, "retired key k3", keys[1], want)

		other, err := s.ListSigningKeys(ctx, "b")
		wantErr(t, "ListSigningKeys other realm", err, nil)
		if len(other) != 0 {
			t.Errorf("ListSigningKeys(b) = %d keys, want 0", len(other))
		}
		err = s.RotateSigningKey(ctx, newSigningKey("a", "k4", t0.Add(4*day)), t0.Add(6*day))
		wantErr(t, "RotateSigningKey to an existing kid", err, storage.ErrAlreadyExists)
	})

	t.Run("RealmSecret", func(t *testing.T) {
		s := h.store(t)
		var calls atomic.Int32
		secrets := make([][]byte, 20)
		errs := parallel(20, func(i int) error {
			var err error
			secrets[i], err = s.RealmSecret(ctx, "a", "cookie", func() ([]byte, error) {
				calls.Add(1)
				return []byte(fmt.Sprintf("secret-%d", i)), nil
			})
			return err
		})
		for i, err := range errs {
			wantErr(t, fmt.Sprintf("RealmSecret #%d", i), err, nil)
			if !bytes.Equal(secrets[i], secrets[0]) {
				t.Errorf("RealmSecret #%d = %q, want %q like #0", i, secrets[i], secrets[0])
			}
		}
		if calls.Load() < 1 {
			t.Errorf("generate called %d times, want at least 1", calls.Load())
		}

		again, err := s.RealmSecret(ctx, "a", "cookie", func() ([]byte, error) {
			t.Error("generate called for an existing secret")
			return []byte("new"), nil
		})
		wantErr(t, "RealmSecret existing", err, nil)
		equal(t, "RealmSecret existing", again, secrets[0])

		otherRealm, err := s.RealmSecret(ctx, "b", "cookie", func() ([]byte, error) { return []byte("b-secret"), nil })
		wantErr(t, "RealmSecret other realm", err, nil)
		equal(t, "RealmSecret other realm", otherRealm, []byte("b-secret"))
		otherName, err := s.RealmSecret(ctx, "a", "csrf", func() ([]byte, error) { return []byte("csrf-secret"), nil })
		wantErr(t, "RealmSecret other name", err, nil)
		equal(t, "RealmSecret other name", otherName, []byte("csrf-secret"))

		errGen := errors.New("no entropy")
		_, err = s.RealmSecret(ctx, "a", "broken", func() ([]byte, error) { return nil, errGen })
		wantErr(t, "RealmSecret failing generate", err, errGen)
		fixed, err := s.RealmSecret(ctx, "a", "broken", func() ([]byte, error) { return []byte("ok"), nil })
		wantErr(t, "RealmSecret after failing generate", err, nil)
		equal(t, "RealmSecret after failing generate", fixed, []byte("ok"))

		// The returned slice belongs to the caller.
		fixed[0] = 'X'
		reread, _ := s.RealmSecret(ctx, "a", "broken", nil)
		equal(t, "RealmSecret after caller modified its copy", reread, []byte("ok"))
	})
}
