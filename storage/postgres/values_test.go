package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/postgres/pgtest"
)

// What the conformance suite does not pin down but a SQL backend could get
// wrong: nil versus empty slices, sub-microsecond and non-UTC times, text
// PostgreSQL cannot hold, byte order of IDs, Unicode case folding.
func TestValues(t *testing.T) {
	s := openStore(t, pgtest.Shared(t).NewDatabase(t))
	defer s.Close()
	ctx := context.Background()

	t.Run("nil and empty slices", func(t *testing.T) {
		for i, roles := range [][]string{nil, {}, {""}} {
			u := testUser(fmt.Sprintf("slice%d", i))
			u.Roles = roles
			if err := s.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			got, err := s.GetUser(ctx, "a", u.ID)
			if err != nil || !reflect.DeepEqual(got.Roles, roles) {
				t.Errorf("Roles %#v read back as %#v (%v)", roles, got.Roles, err)
			}
		}
		for i, payload := range [][]byte{nil, {}, {0, 1, 0xff}} {
			tok := storage.OneTimeToken{Realm: "a", Kind: "k", Hash: fmt.Sprint("p", i), Payload: payload}
			if err := s.IssueOneTimeToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
			got, err := s.PeekOneTimeToken(ctx, "a", "k", tok.Hash)
			if err != nil || !reflect.DeepEqual(got.Payload, payload) {
				t.Errorf("Payload %#v read back as %#v (%v)", payload, got.Payload, err)
			}
		}
	})

	t.Run("times", func(t *testing.T) {
		berlin := time.FixedZone("CET", 3600)
		in := time.Date(2030, 5, 6, 7, 8, 9, 123456789, berlin)
		sess := storage.Session{Realm: "a", ID: "times", AuthTime: in, ExpiresAt: in.Add(time.Hour)}
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetSession(ctx, "a", "times")
		if err != nil {
			t.Fatal(err)
		}
		// Truncated, never rounded up: a lifetime cannot end later than asked.
		want := in.UTC().Truncate(time.Microsecond)
		if got.AuthTime != want || got.AuthTime.Location() != time.UTC {
			t.Errorf("AuthTime %v read back as %v, want %v in UTC", in, got.AuthTime, want)
		}
		if !got.LastSeen.IsZero() || !got.CreatedAt.IsZero() {
			t.Errorf("zero times read back as %v, %v", got.LastSeen, got.CreatedAt)
		}
		if got.LastSeen != (time.Time{}) {
			t.Errorf("zero time read back as %#v, want time.Time{}", got.LastSeen)
		}
	})

	t.Run("text PostgreSQL cannot hold", func(t *testing.T) {
		for _, id := range []string{"nul\x00", "bad\xffutf8", ""} {
			err := s.CreateUser(ctx, testUser(id))
			if err == nil || errors.Is(err, storage.ErrAlreadyExists) || errors.Is(err, storage.ErrUnavailable) {
				t.Errorf("CreateUser with ID %q: got %v, want an invalid identifier error", id, err)
			}
			if _, err := s.GetUser(ctx, "a", id); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("GetUser(%q): got %v, want ErrNotFound", id, err)
			}
			if _, err := s.GetUserByEmail(ctx, "a", id+"@x"); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("GetUserByEmail(%q): got %v, want ErrNotFound", id+"@x", err)
			}
			if _, err := s.ConsumeOneTimeToken(ctx, "a", "code", id, time.Time{}); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("ConsumeOneTimeToken(%q): got %v, want ErrNotFound", id, err)
			}
		}
		u := testUser("nulhash")
		u.PasswordHash = "x\x00y"
		if err := s.CreateUser(ctx, u); err == nil || errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("CreateUser with a NUL in a value: got %v, want a refusal that is not ErrUnavailable", err)
		}
		if err := s.Ping(ctx); err != nil {
			t.Errorf("Ping after the refusals: %v", err)
		}
	})

	t.Run("IDs in byte order", func(t *testing.T) {
		for _, id := range []string{"é", "b", "B", "a", "Z"} {
			u := storage.User{Realm: "order", ID: id}
			if err := s.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		users, err := s.ListUsers(ctx, "order", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, u := range users {
			ids = append(ids, u.ID)
		}
		if want := []string{"B", "Z", "a", "b", "é"}; !reflect.DeepEqual(ids, want) {
			t.Errorf("ListUsers order %q, want byte order %q", ids, want)
		}
	})

	t.Run("Unicode case folding", func(t *testing.T) {
		u := storage.User{Realm: "fold", ID: "u1", Email: "ÄNNE@Example.COM", Username: "Ærøskøbing"}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetUserByEmail(ctx, "fold", "änne@example.com"); err != nil {
			t.Errorf("GetUserByEmail in other case: %v", err)
		}
		if _, err := s.GetUserByUsername(ctx, "fold", "ÆRØSKØBING"); err != nil {
			t.Errorf("GetUserByUsername in other case: %v", err)
		}
		dup := storage.User{Realm: "fold", ID: "u2", Email: "änne@example.com"}
		if err := s.CreateUser(ctx, dup); !errors.Is(err, storage.ErrAlreadyExists) {
			t.Errorf("CreateUser with the email in other case: got %v, want ErrAlreadyExists", err)
		}
	})

	t.Run("updater error unchanged", func(t *testing.T) {
		// Even an error that looks like a lost connection is the caller's.
		errCaller := fmt.Errorf("caller: %w", io.ErrUnexpectedEOF)
		if err := s.CreateUser(ctx, testUser("upd")); err != nil {
			t.Fatal(err)
		}
		_, err := s.UpdateUser(ctx, "a", "upd", func(storage.User) (storage.User, error) { return storage.User{}, errCaller })
		if err != errCaller {
			t.Errorf("UpdateUser: got %v, want the updater's error unchanged", err)
		}
		err = s.InTx(ctx, func(storage.Tx) error { return errCaller })
		if err != errCaller {
			t.Errorf("InTx: got %v, want fn's error unchanged", err)
		}
	})

	t.Run("rate-limit keys are any bytes", func(t *testing.T) {
		// As realm.Limiter builds them: name NUL request input.
		now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		for _, key := range []string{"demo\x00login\x00bob", "demo\x00login\x00\xff\xfe", ""} {
			for want := 1; want <= 2; want++ {
				n, _, err := s.CountEvent(ctx, key, time.Minute, now)
				if err != nil || n != want {
					t.Errorf("CountEvent(%q) = %d, %v; want %d", key, n, err, want)
				}
			}
			until := now.Add(time.Minute)
			if ok, _, err := s.ReserveSlot(ctx, key, until, now); !ok || err != nil {
				t.Errorf("ReserveSlot(%q) = %v, %v", key, ok, err)
			}
			if ok, _, _ := s.ReserveSlot(ctx, key, until, now); ok {
				t.Errorf("ReserveSlot(%q) again while held succeeded", key)
			}
			if err := s.ReleaseSlot(ctx, key, until); err != nil {
				t.Errorf("ReleaseSlot(%q): %v", key, err)
			}
			if ok, _, err := s.ReserveSlot(ctx, key, until, now); !ok || err != nil {
				t.Errorf("ReserveSlot(%q) after release = %v, %v", key, ok, err)
			}
		}
		if n, _, _ := s.CountEvent(ctx, "demo\x00login\x00bo", time.Minute, now); n != 1 {
			t.Errorf("a key that is a prefix of another counted %d, want its own 1", n)
		}
	})

	t.Run("rate-limit windows start at multiples since the epoch", func(t *testing.T) {
		now := time.Date(2030, 1, 1, 0, 0, 5, 0, time.UTC)
		_, end, err := s.CountEvent(ctx, "odd", 7*time.Second, now)
		if err != nil {
			t.Fatal(err)
		}
		if end.UnixNano()%int64(7*time.Second) != 0 || !end.After(now) || end.Sub(now) > 7*time.Second {
			t.Errorf("window of 7s containing %v ends %v, want the next multiple of 7s since the epoch", now, end)
		}
	})
}
