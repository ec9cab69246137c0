package storagetest

import (
	"errors"
	"testing"

	"github.com/latchkey/latchkey/storage"
)

// profileUser returns a user whose profile fields (FirstName, LastName,
// Attributes) hold what a Keycloak admin may send: non-ASCII names, several
// values in an order that matters, an attribute with no values.
func profileUser(realm, id, email, username string) storage.User {
	u := newUser(realm, id, email, username)
	u.FirstName, u.LastName = "Zoë", "Ångström-O'Brien"
	u.Attributes = map[string][]string{
		"department": {"eng"},
		"phone":      {"+49 30 1234", "+1 555 0100", "+49 30 1234"}, // order and repeats kept
		"locale":     {"de"},
		"nickname":   {"Zo\u00eb \"Z\" <z@example.com>"},
		"emptyList":  {},
		"noValues":   nil,
	}
	return u
}

// cloneAttributes returns a deep copy of attrs (nil stays nil, as do nil
// value lists).
func cloneAttributes(attrs map[string][]string) map[string][]string {
	if attrs == nil {
		return nil
	}
	out := make(map[string][]string, len(attrs))
	for k, v := range attrs {
		if v == nil {
			out[k] = nil
			continue
		}
		out[k] = append([]string{}, v...)
	}
	return out
}

// readUserEveryWay reads the user by ID, email, username and through
// ListUsers, and fails t unless each returns want.
func readUserEveryWay(t *testing.T, s storage.Store, want storage.User) {
	t.Helper()
	got, err := s.GetUser(ctx, want.Realm, want.ID)
	wantErr(t, "GetUser", err, nil)
	equal(t, "GetUser", got, want)
	if want.Email != "" {
		got, err = s.GetUserByEmail(ctx, want.Realm, want.Email)
		wantErr(t, "GetUserByEmail", err, nil)
		equal(t, "GetUserByEmail", got, want)
	}
	if want.Username != "" {
		got, err = s.GetUserByUsername(ctx, want.Realm, want.Username)
		wantErr(t, "GetUserByUsername", err, nil)
		equal(t, "GetUserByUsername", got, want)
	}
	users, err := s.ListUsers(ctx, want.Realm, "", 0)
	wantErr(t, "ListUsers", err, nil)
	found := false
	for _, u := range users {
		if u.ID == want.ID {
			found = true
			equal(t, "ListUsers entry", u, want)
		}
	}
	if !found {
		t.Errorf("ListUsers(%q) lacks user %q", want.Realm, want.ID)
	}
}

// testUserProfile pins down the Keycloak profile fields of storage.User:
// FirstName, LastName and Attributes round-trip through every write and
// read, and a user without attributes reads back with a nil map.
func testUserProfile(t *testing.T, h harness) {
	t.Run("RoundTrip", func(t *testing.T) {
		s := h.store(t)
		u := profileUser("a", "u1", "Zoe@Example.com", "zoe")
		want := u
		want.Attributes = cloneAttributes(u.Attributes)
		mustOK(t, "CreateUser", s.CreateUser(ctx, u))
		// The store keeps its own copy of the caller's map and slices.
		u.Attributes["department"][0] = "hacked"
		u.Attributes["injected"] = []string{"x"}
		readUserEveryWay(t, s, want)

		// Nor do changes to a returned record reach the store.
		got, _ := s.GetUser(ctx, "a", "u1")
		got.Attributes["phone"][0] = "hacked"
		delete(got.Attributes, "locale")
		readUserEveryWay(t, s, want)

		// A user of another realm with the same ID keeps its own profile.
		other := newUser("b", "u1", "zoe@example.com", "zoe")
		mustOK(t, "CreateUser other realm", s.CreateUser(ctx, other))
		readUserEveryWay(t, s, other)
		readUserEveryWay(t, s, want)
	})

	t.Run("InTx", func(t *testing.T) {
		s := h.store(t)
		u := profileUser("a", "u1", "zoe@example.com", "zoe")
		var inTx storage.User
		mustOK(t, "InTx", s.InTx(ctx, func(tx storage.Tx) error {
			if err := tx.CreateUser(u); err != nil {
				return err
			}
			var err error
			inTx, err = tx.GetUserByEmail("a", "ZOE@example.com")
			return err
		}))
		equal(t, "Tx.GetUserByEmail", inTx, u)
		readUserEveryWay(t, s, u)
	})

	t.Run("NoAttributes", func(t *testing.T) {
		s := h.store(t)
		// nil and empty maps are both stored as "no attributes" and read
		// back as nil; so are empty names.
		for _, tt := range []struct {
			id    string
			attrs map[string][]string
		}{
			{"nil", nil},
			{"empty", map[string][]string{}},
		} {
			u := newUser("a", tt.id, tt.id+"@example.com", tt.id)
			u.FirstName, u.LastName, u.Attributes = "", "", tt.attrs
			mustOK(t, "CreateUser "+tt.id, s.CreateUser(ctx, u))
			want := u
			want.Attributes = nil
			readUserEveryWay(t, s, want)
		}
		// Through a transaction too.
		u := newUser("a", "tx", "tx@example.com", "tx")
		u.Attributes = map[string][]string{}
		mustOK(t, "InTx", s.InTx(ctx, func(tx storage.Tx) error { return tx.CreateUser(u) }))
		want := u
		want.Attributes = nil
		readUserEveryWay(t, s, want)
		got, err := s.GetUser(ctx, "a", "tx")
		wantErr(t, "GetUser", err, nil)
		if got.Attributes != nil {
			t.Errorf("Attributes stored as an empty map read back as %#v, want nil", got.Attributes)
		}
	})

	t.Run("Update", func(t *testing.T) {
		s := h.store(t)
		u := profileUser("a", "u1", "zoe@example.com", "zoe")
		mustOK(t, "CreateUser", s.CreateUser(ctx, u))
		mustOK(t, "CreateUser bystander", s.CreateUser(ctx, newUser("a", "u2", "bob@example.com", "bob")))
		bystander, _ := s.GetUser(ctx, "a", "u2")

		// The updater sees the stored profile.
		var seen storage.User
		got, err := s.UpdateUser(ctx, "a", "u1", func(x storage.User) (storage.User, error) {
			seen = x
			x.FirstName, x.LastName = "Zoey", "Smith"
			x.Attributes = map[string][]string{
				"department": {"ops", "eng"},
				"phone":      x.Attributes["phone"],
				"building":   {"B7"},
			}
			return x, nil
		})
		wantErr(t, "UpdateUser", err, nil)
		equal(t, "user seen by the updater", seen, u)
		want := u
		want.FirstName, want.LastName = "Zoey", "Smith"
		want.Attributes = map[string][]string{
			"department": {"ops", "eng"},
			"phone":      u.Attributes["phone"],
			"building":   {"B7"},
		}
		equal(t, "UpdateUser result", got, want)
		readUserEveryWay(t, s, want)
		readUserEveryWay(t, s, bystander)

		// An update of other fields keeps the profile.
		got, err = s.UpdateUser(ctx, "a", "u1", func(x storage.User) (storage.User, error) {
			x.Email, x.Enabled = "zoey@example.com", false
			return x, nil
		})
		wantErr(t, "UpdateUser email", err, nil)
		want.Email, want.Enabled = "zoey@example.com", false
		equal(t, "UpdateUser email result", got, want)
		readUserEveryWay(t, s, want)

		// A failed update changes none of it.
		errBoom := errors.New("boom")
		_, err = s.UpdateUser(ctx, "a", "u1", func(x storage.User) (storage.User, error) {
			x.FirstName, x.Attributes = "Nope", map[string][]string{"nope": {"nope"}}
			return x, errBoom
		})
		if err != errBoom {
			t.Errorf("UpdateUser with failing fn: got error %v, want errBoom unchanged", err)
		}
		readUserEveryWay(t, s, want)

		// Clearing: empty names, and an empty map, which reads back as nil,
		// from UpdateUser as from every later read.
		got, err = s.UpdateUser(ctx, "a", "u1", func(x storage.User) (storage.User, error) {
			x.FirstName, x.LastName, x.Attributes = "", "", map[string][]string{}
			return x, nil
		})
		wantErr(t, "UpdateUser clear", err, nil)
		want.FirstName, want.LastName, want.Attributes = "", "", nil
		equal(t, "UpdateUser clear result", got, want)
		readUserEveryWay(t, s, want)

		// And set again from nothing.
		got, err = s.UpdateUser(ctx, "a", "u1", func(x storage.User) (storage.User, error) {
			x.FirstName, x.Attributes = "Zoë", map[string][]string{"locale": {"fr"}}
			return x, nil
		})
		wantErr(t, "UpdateUser set", err, nil)
		want.FirstName, want.Attributes = "Zoë", map[string][]string{"locale": {"fr"}}
		equal(t, "UpdateUser set result", got, want)
		readUserEveryWay(t, s, want)
	})

	t.Run("Durable", func(t *testing.T) {
		if h.reopen == nil {
			t.Skip("backend without durability (reopen is nil)")
		}
		s := h.store(t)
		u := profileUser("a", "u1", "zoe@example.com", "zoe")
		mustOK(t, "CreateUser", s.CreateUser(ctx, u))
		bare := newUser("a", "u2", "bob@example.com", "bob")
		bare.FirstName, bare.LastName, bare.Attributes = "", "", nil
		mustOK(t, "CreateUser bare", s.CreateUser(ctx, bare))
		s = h.reopened(t, s)
		readUserEveryWay(t, s, u)
		readUserEveryWay(t, s, bare)
	})
}
