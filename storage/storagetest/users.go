package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/latchkey/latchkey/storage"
)

// newUser returns a user with every field set.
func newUser(realm, id, email, username string) storage.User {
	now := clock()
	return storage.User{
		Realm:         realm,
		ID:            id,
		Username:      username,
		Email:         email,
		FirstName:     "Ann-" + id,
		LastName:      "Example",
		EmailVerified: true,
		Enabled:       true,
		PasswordHash:  "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		Roles:         []string{"admin", "user"},
		Attributes:    map[string][]string{"department": {"eng"}, "phone": {"+1 555 0100", "+1 555 0199"}},
		APIKeyVersion: 3,
		CreatedAt:     now,
		UpdatedAt:     now,
	}
}

func testUsers(t *testing.T, h harness) {
	t.Run("CreateAndGet", func(t *testing.T) {
		s := h.store(t)
		u := newUser("a", "u1", "Alice@Example.com", "Alice")
		mustOK(t, "CreateUser", s.CreateUser(ctx, u))
		want := u
		want.Roles = slices.Clone(u.Roles)
		// The store keeps its own copy: later writes to the caller's slices,
		// or to the slices of a returned record, change nothing.
		u.Roles[1] = "hacked"

		got, err := s.GetUser(ctx, "a", "u1")
		wantErr(t, "GetUser", err, nil)
		equal(t, "GetUser", got, want)
		got.Roles[0] = "hacked"
		got, _ = s.GetUser(ctx, "a", "u1")
		equal(t, "GetUser after the caller modified slices", got, want)
		u = want

		lookups := []struct {
			name   string
			get    func() (storage.User, error)
			wantOK bool
		}{
			{"email as entered", func() (storage.User, error) { return s.GetUserByEmail(ctx, "a", "Alice@Example.com") }, true},
			{"email other case", func() (storage.User, error) { return s.GetUserByEmail(ctx, "a", "aLICE@example.COM") }, true},
			{"username other case", func() (storage.User, error) { return s.GetUserByUsername(ctx, "a", "ALICE") }, true},
			{"unknown email", func() (storage.User, error) { return s.GetUserByEmail(ctx, "a", "bob@example.com") }, false},
			{"empty email", func() (storage.User, error) { return s.GetUserByEmail(ctx, "a", "") }, false},
			{"unknown username", func() (storage.User, error) { return s.GetUserByUsername(ctx, "a", "bob") }, false},
			{"unknown id", func() (storage.User, error) { return s.GetUser(ctx, "a", "u2") }, false},
			{"other realm by id", func() (storage.User, error) { return s.GetUser(ctx, "b", "u1") }, false},
			{"other realm by email", func() (storage.User, error) { return s.GetUserByEmail(ctx, "b", "alice@example.com") }, false},
			{"other realm by username", func() (storage.User, error) { return s.GetUserByUsername(ctx, "b", "alice") }, false},
		}
		for _, tt := range lookups {
			t.Run(tt.name, func(t *testing.T) {
				got, err := tt.get()
				if !tt.wantOK {
					wantErr(t, "lookup", err, storage.ErrNotFound)
					return
				}
				wantErr(t, "lookup", err, nil)
				equal(t, "lookup", got, u)
			})
		}
	})

	t.Run("Uniqueness", func(t *testing.T) {
		s := h.store(t)
		mustOK(t, "CreateUser", s.CreateUser(ctx, newUser("a", "u1", "alice@example.com", "alice")))
		tests := []struct {
			name string
			user storage.User
			want error
		}{
			{"same id", newUser("a", "u1", "other@example.com", "other"), storage.ErrAlreadyExists},
			{"same email other case", newUser("a", "u2", "ALICE@example.com", "other"), storage.ErrAlreadyExists},
			{"same username other case", newUser("a", "u2", "other@example.com", "Alice"), storage.ErrAlreadyExists},
			{"same email in other realm", newUser("b", "u2", "alice@example.com", "alice"), nil},
			{"same id in other realm", newUser("b", "u1", "x@example.com", "x"), nil},
			{"no email", newUser("a", "u3", "", "carol"), nil},
			{"no email again", newUser("a", "u4", "", "dave"), nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				wantErr(t, "CreateUser", s.CreateUser(ctx, tt.user), tt.want)
			})
		}
		n, err := s.CountUsers(ctx, "a")
		wantErr(t, "CountUsers", err, nil)
		if n != 3 {
			t.Errorf("CountUsers(a) = %d, want 3", n)
		}
	})

	t.Run("UpdateMovesIndexes", func(t *testing.T) {
		s := h.store(t)
		mustOK(t, "CreateUser u1", s.CreateUser(ctx, newUser("a", "u1", "alice@example.com", "alice")))
		mustOK(t, "CreateUser u2", s.CreateUser(ctx, newUser("a", "u2", "bob@example.com", "bob")))

		got, err := s.UpdateUser(ctx, "a", "u1", func(u storage.User) (storage.User, error) {
			u.Email, u.Username, u.Roles = "Alice2@Example.com", "alice2", []string{"user"}
			return u, nil
		})
		wantErr(t, "UpdateUser", err, nil)
		if got.Email != "Alice2@Example.com" || got.Username != "alice2" {
			t.Errorf("UpdateUser returned email %q username %q, want Alice2@Example.com alice2", got.Email, got.Username)
		}
		_, err = s.GetUserByEmail(ctx, "a", "alice@example.com")
		wantErr(t, "old email lookup", err, storage.ErrNotFound)
		_, err = s.GetUserByUsername(ctx, "a", "alice")
		wantErr(t, "old username lookup", err, storage.ErrNotFound)
		byEmail, err := s.GetUserByEmail(ctx, "a", "alice2@example.com")
		wantErr(t, "new email lookup", err, nil)
		equal(t, "new email lookup", byEmail, got)

		// The freed email can be taken by someone else.
		mustOK(t, "CreateUser u3", s.CreateUser(ctx, newUser("a", "u3", "alice@example.com", "alice")))

		// Changing only the case of one's own email is not a conflict.
		_, err = s.UpdateUser(ctx, "a", "u1", func(u storage.User) (storage.User, error) {
			u.Email = "ALICE2@example.com"
			return u, nil
		})
		wantErr(t, "UpdateUser case change", err, nil)

		// Taking another user's email fails and changes nothing.
		before, _ := s.GetUser(ctx, "a", "u2")
		_, err = s.UpdateUser(ctx, "a", "u2", func(u storage.User) (storage.User, error) {
			u.Email, u.Username = "alice2@EXAMPLE.com", "bobby"
			return u, nil
		})
		wantErr(t, "UpdateUser to taken email", err, storage.ErrAlreadyExists)
		after, _ := s.GetUser(ctx, "a", "u2")
		equal(t, "user after refused update", after, before)
		_, err = s.GetUserByUsername(ctx, "a", "bobby")
		wantErr(t, "username of refused update", err, storage.ErrNotFound)
	})

	t.Run("UpdateAtomicity", func(t *testing.T) {
		s := h.store(t)
		u := newUser("a", "u1", "alice@example.com", "alice")
		mustOK(t, "CreateUser", s.CreateUser(ctx, u))

		errBoom := errors.New("boom")
		_, err := s.UpdateUser(ctx, "a", "u1", func(u storage.User) (storage.User, error) {
			u.Email = "changed@example.com"
			return u, errBoom
		})
		if err != errBoom {
			t.Errorf("UpdateUser with failing fn: got error %v, want errBoom unchanged", err)
		}
		got, _ := s.GetUser(ctx, "a", "u1")
		equal(t, "user after failed update", got, u)
		_, err = s.GetUserByEmail(ctx, "a", "changed@example.com")
		wantErr(t, "email of failed update", err, storage.ErrNotFound)

		_, err = s.UpdateUser(ctx, "a", "nobody", func(u storage.User) (storage.User, error) { return u, nil })
		wantErr(t, "UpdateUser absent", err, storage.ErrNotFound)
		_, err = s.UpdateUser(ctx, "b", "u1", func(u storage.User) (storage.User, error) { return u, nil })
		wantErr(t, "UpdateUser from other realm", err, storage.ErrNotFound)
	})

	t.Run("ListAndCount", func(t *testing.T) {
		s := h.store(t)
		var ids []string
		for i := range 7 {
			id := fmt.Sprintf("u%02d", i)
			ids = append(ids, id)
			mustOK(t, "CreateUser", s.CreateUser(ctx, newUser("a", id, id+"@example.com", id)))
		}
		mustOK(t, "CreateUser other realm", s.CreateUser(ctx, newUser("b", "u99", "x@example.com", "x")))
		mustOK(t, "CreateUser realm with a shared prefix", s.CreateUser(ctx, newUser("aa", "u00", "y@example.com", "y")))

		tests := []struct {
			after string
			limit int
			want  []string
		}{
			{"", 0, ids},
			{"", 3, ids[:3]},
			{"u02", 3, ids[3:6]},
			{"u05", 3, ids[6:]},
			{"u06", 3, nil},
			{"u035", 0, ids[4:]}, // after need not exist
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("after=%q,limit=%d", tt.after, tt.limit), func(t *testing.T) {
				users, err := s.ListUsers(ctx, "a", tt.after, tt.limit)
				wantErr(t, "ListUsers", err, nil)
				var got []string
				for _, u := range users {
					got = append(got, u.ID)
					if u.Realm != "a" {
						t.Errorf("ListUsers(a) returned a user of realm %q", u.Realm)
					}
				}
				equal(t, "ListUsers ids", got, tt.want)
			})
		}

		counts := map[string]int{"a": 7, "b": 1, "aa": 1, "none": 0}
		for realm, want := range counts {
			n, err := s.CountUsers(ctx, realm)
			wantErr(t, "CountUsers", err, nil)
			if n != want {
				t.Errorf("CountUsers(%q) = %d, want %d", realm, n, want)
			}
		}
	})
}
