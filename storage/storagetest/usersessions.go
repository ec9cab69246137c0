package storagetest

import (
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

// listUserSessions lists the sessions of realm/userID, failing t on error
// or on a nil slice (none is an empty slice).
func listUserSessions(t *testing.T, s storage.Store, realm, userID string) []storage.Session {
	t.Helper()
	got, err := s.ListUserSessions(ctx, realm, userID)
	wantErr(t, "ListUserSessions("+realm+", "+userID+")", err, nil)
	if err == nil && got == nil {
		t.Errorf("ListUserSessions(%q, %q) = nil, want a non-nil slice", realm, userID)
	}
	return got
}

// wantUserSessions fails t unless realm/userID has exactly want, in order.
func wantUserSessions(t *testing.T, s storage.Store, realm, userID string, want ...storage.Session) {
	t.Helper()
	if want == nil {
		want = []storage.Session{}
	}
	equal(t, "ListUserSessions("+realm+", "+userID+")", listUserSessions(t, s, realm, userID), want)
}

// createdAt returns sess with its CreatedAt set to at, its lifetimes left as
// they are.
func createdAt(sess storage.Session, at time.Time) storage.Session {
	sess.CreatedAt = at
	return sess
}

// testListUserSessions pins down ListUserSessions: exactly the user's
// sessions of the realm, ordered by CreatedAt then ID, expired ones until
// swept, following updates and deletions; an empty slice for none.
func testListUserSessions(t *testing.T, h harness) {
	t.Run("None", func(t *testing.T) {
		s := h.store(t)
		wantUserSessions(t, s, "a", "u1")
		wantUserSessions(t, s, "a", "")
		mustOK(t, "CreateSession", s.CreateSession(ctx, newSession("a", "s1", "u2", clock())))
		mustOK(t, "CreateSession without user", s.CreateSession(ctx, newSession("a", "s2", "", clock())))
		wantUserSessions(t, s, "a", "u1")
		wantUserSessions(t, s, "b", "u2")
		// Sessions without a user are nobody's.
		wantUserSessions(t, s, "a", "")
	})

	t.Run("ExactlyTheUsersInOrder", func(t *testing.T) {
		s := h.store(t)
		now := clock()
		// u1's sessions, created out of order: by CreatedAt, then ID
		// (byte order) for equal times, a zero CreatedAt first; an expired
		// one is listed until swept.
		zero := createdAt(newSession("a", "s-zero", "u1", now), time.Time{})
		early := createdAt(newSession("a", "s9", "u1", now), now.Add(-2*time.Hour))
		sameB := createdAt(newSession("a", "sB", "u1", now), now.Add(-time.Hour))
		sameA := createdAt(newSession("a", "sA", "u1", now), now.Add(-time.Hour))
		sameLower := createdAt(newSession("a", "sa", "u1", now), now.Add(-time.Hour))
		late := newSession("a", "s0", "u1", now)
		expired := newSession("a", "s-expired", "u1", now.Add(-48*time.Hour))
		for _, sess := range []storage.Session{late, sameB, zero, expired, sameLower, early, sameA} {
			mustOK(t, "CreateSession "+sess.ID, s.CreateSession(ctx, sess))
		}
		// Others' sessions: another user, users whose IDs extend or are
		// extended by u1's, the same user in other realms (one of whose
		// names extends "a"), no user.
		others := []storage.Session{
			newSession("a", "o1", "u2", now),
			newSession("a", "o2", "u10", now),
			newSession("a", "o3", "u", now),
			newSession("b", "o4", "u1", now),
			newSession("aa", "o5", "u1", now),
			newSession("a", "o6", "", now),
		}
		for _, sess := range others {
			mustOK(t, "CreateSession "+sess.ID, s.CreateSession(ctx, sess))
		}

		wantUserSessions(t, s, "a", "u1", zero, expired, early, sameA, sameB, sameLower, late)
		wantUserSessions(t, s, "a", "u2", others[0])
		wantUserSessions(t, s, "a", "u10", others[1])
		wantUserSessions(t, s, "a", "u", others[2])
		wantUserSessions(t, s, "b", "u1", others[3])
		wantUserSessions(t, s, "aa", "u1", others[4])
		wantUserSessions(t, s, "c", "u1")

		// The returned records are the caller's: changing them changes
		// nothing stored.
		got := listUserSessions(t, s, "a", "u1")
		if len(got) > 0 {
			got[0].AMR[0] = "hacked"
			got[0].UserID = "u2"
		}
		wantUserSessions(t, s, "a", "u1", zero, expired, early, sameA, sameB, sameLower, late)

		// Sweep takes the expired session, and only it, off the list.
		_, err := s.Sweep(ctx, now)
		mustOK(t, "Sweep", err)
		wantUserSessions(t, s, "a", "u1", zero, early, sameA, sameB, sameLower, late)
	})

	t.Run("FollowsWrites", func(t *testing.T) {
		s := h.store(t)
		now := clock()
		s1 := newSession("a", "s1", "u1", now.Add(-3*time.Minute))
		s2 := newSession("a", "s2", "u1", now.Add(-2*time.Minute))
		s3 := newSession("a", "s3", "u1", now.Add(-time.Minute))
		s4 := newSession("a", "s4", "u2", now)
		b1 := newSession("b", "s1", "u1", now)
		for _, sess := range []storage.Session{s1, s2, s3, s4, b1} {
			mustOK(t, "CreateSession "+sess.ID, s.CreateSession(ctx, sess))
		}
		wantUserSessions(t, s, "a", "u1", s1, s2, s3)

		// An update is visible, including one that reorders the list.
		later := now.Add(time.Minute)
		s1, err := s.UpdateSession(ctx, "a", "s1", func(x storage.Session) (storage.Session, error) {
			x.TokenHash, x.LastSeen, x.IdleUntil = "hash-s1-new", later, later.Add(30*time.Minute)
			x.AMR = []string{"pwd", "otp"}
			x.CreatedAt = later
			return x, nil
		})
		mustOK(t, "UpdateSession", err)
		wantUserSessions(t, s, "a", "u1", s2, s3, s1)

		// A session handed to another user moves to that user's list.
		s2, err = s.UpdateSession(ctx, "a", "s2", func(x storage.Session) (storage.Session, error) {
			x.UserID = "u2"
			return x, nil
		})
		mustOK(t, "UpdateSession user", err)
		wantUserSessions(t, s, "a", "u1", s3, s1)
		wantUserSessions(t, s, "a", "u2", s2, s4)

		// Deleted sessions are gone.
		mustOK(t, "DeleteSession", s.DeleteSession(ctx, "a", "s3"))
		wantUserSessions(t, s, "a", "u1", s1)
		mustOK(t, "DeleteUserSessions", s.DeleteUserSessions(ctx, "a", "u2"))
		wantUserSessions(t, s, "a", "u2")
		wantUserSessions(t, s, "a", "u1", s1)
		wantUserSessions(t, s, "b", "u1", b1)

		// Deleting the user takes its sessions, in that realm only.
		mustOK(t, "CreateUser", s.CreateUser(ctx, newUser("a", "u1", "u1@example.com", "u1")))
		mustOK(t, "DeleteUser", s.DeleteUser(ctx, "a", "u1"))
		wantUserSessions(t, s, "a", "u1")
		wantUserSessions(t, s, "b", "u1", b1)
	})

	t.Run("Durable", func(t *testing.T) {
		if h.reopen == nil {
			t.Skip("backend without durability (reopen is nil)")
		}
		s := h.store(t)
		now := clock()
		s1 := newSession("a", "s1", "u1", now)
		s2 := newSession("a", "s2", "u1", now.Add(-time.Minute))
		mustOK(t, "CreateSession s1", s.CreateSession(ctx, s1))
		mustOK(t, "CreateSession s2", s.CreateSession(ctx, s2))
		s = h.reopened(t, s)
		wantUserSessions(t, s, "a", "u1", s2, s1)
	})
}
