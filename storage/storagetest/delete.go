package storagetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

func testDeleteUser(t *testing.T, h harness) {
	t.Run("RemovesUserAndDependents", func(t *testing.T) {
		s := h.store(t)
		now := clock()
		for _, u := range []storage.User{
			newUser("a", "u1", "Alice@Example.com", "Alice"),
			newUser("a", "u2", "bob@example.com", "bob"),
			newUser("a", "u1x", "carol@example.com", "carol"), // ID sharing a prefix
			newUser("a", "u3", "", ""),                        // neither email nor username
			newUser("b", "u1", "alice@example.com", "alice"),  // same ID, email, username
		} {
			mustOK(t, "CreateUser "+u.Realm+"/"+u.ID, s.CreateUser(ctx, u))
		}
		for _, sess := range []storage.Session{
			newSession("a", "s1", "u1", now),
			newSession("a", "s2", "u1", now),
			newSession("a", "s3", "u2", now),
			newSession("a", "s4", "u1x", now),
			newSession("b", "s1", "u1", now),
		} {
			mustOK(t, "CreateSession "+sess.Realm+"/"+sess.ID, s.CreateSession(ctx, sess))
		}
		for _, rt := range []storage.RefreshToken{
			newRefreshToken("a", "r1", "u1", "c1", "s1", now),
			newRefreshToken("a", "r2", "u1", "c1", "s2", now),
			newRefreshToken("a", "r3", "u1", "c2", "", now), // session-less (offline)
			newRefreshToken("a", "r4", "u1", "c1", "", now), // rotated below: a tombstone and its successor
			newRefreshToken("a", "r5", "u2", "c1", "s3", now),
			newRefreshToken("a", "r6", "u2", "c1", "", now),
			newRefreshToken("a", "r7", "u1x", "c1", "", now),
			newRefreshToken("b", "r1", "u1", "c1", "s1", now),
			newRefreshToken("b", "r2", "u1", "c1", "", now),
		} {
			mustOK(t, "CreateRefreshToken "+rt.Realm+"/"+rt.ID, s.CreateRefreshToken(ctx, rt))
		}
		mustOK(t, "RotateRefreshToken r4", s.RotateRefreshToken(ctx, "a", "hash-r4",
			newRefreshToken("a", "r4b", "u1", "c1", "", now), now.Add(time.Second)))

		type ott struct{ realm, kind, hash, group, subject string }
		tokens := []ott{
			{"a", "code", "h1", "", "u1"},
			{"a", "reset", "h2", "", "u1"}, // consumed below
			// Group g: another user's token superseded by u1's, the live one.
			{"a", "magiclink", "hg1", "g", "u2"},
			{"a", "magiclink", "hg2", "g", "u1"},
			// Group g2: u1's token superseded by another user's, the live one.
			{"a", "magiclink", "hg3", "g2", "u1"},
			{"a", "magiclink", "hg4", "g2", "u2"},
			{"a", "code", "h5", "", "u2"},
			{"a", "code", "h6", "", "u1x"},
			{"b", "code", "h1", "", "u1"},
		}
		for _, tok := range tokens {
			mustOK(t, "IssueOneTimeToken "+tok.realm+"/"+tok.hash,
				s.IssueOneTimeToken(ctx, newOneTimeToken(tok.realm, tok.kind, tok.hash, tok.group, tok.subject, now)))
		}
		_, err := s.ConsumeOneTimeToken(ctx, "a", "reset", "h2", now.Add(time.Second))
		mustOK(t, "ConsumeOneTimeToken h2", err)

		failures := []struct{ realm, key string }{{"a", "u1"}, {"a", "u2"}, {"a", "u1x"}, {"b", "u1"}}
		for _, f := range failures {
			_, err := s.UpdateLoginFailures(ctx, f.realm, f.key, func(lf storage.LoginFailures) (storage.LoginFailures, error) {
				lf.NumFailures, lf.LastFailure, lf.LastIPFailed = 2, now, "192.0.2.1"
				return lf, nil
			})
			mustOK(t, "UpdateLoginFailures "+f.realm+"/"+f.key, err)
		}

		before, err := s.CountUsers(ctx, "a")
		mustOK(t, "CountUsers", err)
		mustOK(t, "DeleteUser a/u1", s.DeleteUser(ctx, "a", "u1"))

		// The user and its index entries.
		_, err = s.GetUser(ctx, "a", "u1")
		wantErr(t, "GetUser deleted", err, storage.ErrNotFound)
		_, err = s.GetUserByEmail(ctx, "a", "alice@example.com")
		wantErr(t, "GetUserByEmail deleted", err, storage.ErrNotFound)
		_, err = s.GetUserByUsername(ctx, "a", "alice")
		wantErr(t, "GetUserByUsername deleted", err, storage.ErrNotFound)
		if n, err := s.CountUsers(ctx, "a"); err != nil || n != before-1 {
			t.Errorf("CountUsers(a) after DeleteUser = %d, %v; want %d", n, err, before-1)
		}
		users, err := s.ListUsers(ctx, "a", "", 0)
		wantErr(t, "ListUsers", err, nil)
		for _, u := range users {
			if u.ID == "u1" {
				t.Errorf("ListUsers(a) still returns the deleted user")
			}
		}

		// Sessions and refresh tokens.
		present(t, s,
			map[string]bool{"a/s1": false, "a/s2": false, "a/s3": true, "a/s4": true, "b/s1": true},
			map[string]bool{
				"a/r1": false, "a/r2": false, "a/r3": false, "a/r4": false, "a/r4b": false,
				"a/r5": true, "a/r6": true, "a/r7": true, "b/r1": true, "b/r2": true,
			})
		for _, hash := range []string{"hash-s1", "hash-s2"} {
			_, err := s.GetSessionByTokenHash(ctx, "a", hash)
			wantErr(t, "GetSessionByTokenHash "+hash, err, storage.ErrNotFound)
		}

		// One-time tokens, whatever their state.
		for _, tok := range tokens {
			_, err := s.PeekOneTimeToken(ctx, tok.realm, tok.kind, tok.hash)
			want := error(nil)
			if tok.realm == "a" && tok.subject == "u1" {
				want = storage.ErrNotFound
			}
			wantErr(t, "PeekOneTimeToken "+tok.realm+"/"+tok.hash, err, want)
		}
		// The other user's live group token is still the group's latest:
		// the next issue supersedes it. A group whose latest token was the
		// deleted user's takes new tokens as before.
		mustOK(t, "IssueOneTimeToken g2", s.IssueOneTimeToken(ctx, newOneTimeToken("a", "magiclink", "hg5", "g2", "u2", now)))
		if p, err := s.PeekOneTimeToken(ctx, "a", "magiclink", "hg4"); err != nil || !p.Superseded {
			t.Errorf("hg4 after the next issue in its group: superseded %v, err %v; want superseded", p.Superseded, err)
		}
		mustOK(t, "IssueOneTimeToken g", s.IssueOneTimeToken(ctx, newOneTimeToken("a", "magiclink", "hg6", "g", "u2", now)))
		_, err = s.ConsumeOneTimeToken(ctx, "a", "magiclink", "hg6", now.Add(time.Second))
		wantErr(t, "ConsumeOneTimeToken hg6", err, nil)

		// Login failures.
		for _, f := range failures {
			_, err := s.GetLoginFailures(ctx, f.realm, f.key)
			want := error(nil)
			if f.realm == "a" && f.key == "u1" {
				want = storage.ErrNotFound
			}
			wantErr(t, "GetLoginFailures "+f.realm+"/"+f.key, err, want)
		}

		// The other realm's user of the same ID is untouched.
		if u, err := s.GetUserByEmail(ctx, "b", "ALICE@example.com"); err != nil || u.ID != "u1" {
			t.Errorf("GetUserByEmail(b) = %+v, %v; want the user b/u1", u, err)
		}
		if n, err := s.CountUsers(ctx, "b"); err != nil || n != 1 {
			t.Errorf("CountUsers(b) = %d, %v; want 1", n, err)
		}

		// The email, username and ID are free again.
		mustOK(t, "CreateUser with the deleted user's email and username",
			s.CreateUser(ctx, newUser("a", "u9", "alice@EXAMPLE.com", "ALICE")))
		mustOK(t, "CreateUser with the deleted user's ID",
			s.CreateUser(ctx, newUser("a", "u1", "alice.new@example.com", "alice.new")))
		if u, err := s.GetUserByUsername(ctx, "a", "alice"); err != nil || u.ID != "u9" {
			t.Errorf("GetUserByUsername(alice) = %+v, %v; want u9", u, err)
		}

		// A user without email or username.
		mustOK(t, "DeleteUser a/u3", s.DeleteUser(ctx, "a", "u3"))
		_, err = s.GetUser(ctx, "a", "u3")
		wantErr(t, "GetUser u3 deleted", err, storage.ErrNotFound)
		// The other users of realm a, and that the recreated ones count.
		if n, err := s.CountUsers(ctx, "a"); err != nil || n != before {
			t.Errorf("CountUsers(a) at the end = %d, %v; want %d", n, err, before)
		}
	})

	t.Run("Absent", func(t *testing.T) {
		s := h.store(t)
		mustOK(t, "CreateUser", s.CreateUser(ctx, newUser("a", "u1", "alice@example.com", "alice")))
		mustOK(t, "DeleteUser", s.DeleteUser(ctx, "a", "u1"))
		tests := []struct{ name, realm, id string }{
			{"deleted twice", "a", "u1"},
			{"never created", "a", "nobody"},
			{"other realm", "b", "u1"},
			{"empty id", "a", ""},
			{"NUL in id", "a", "u1\x00"},
		}
		mustOK(t, "CreateUser b/u2", s.CreateUser(ctx, newUser("b", "u2", "bob@example.com", "bob")))
		for _, tt := range tests {
			wantErr(t, "DeleteUser "+tt.name, s.DeleteUser(ctx, tt.realm, tt.id), storage.ErrNotFound)
		}
		if _, err := s.GetUser(ctx, "b", "u2"); err != nil {
			t.Errorf("GetUser(b/u2) after refused deletes: %v", err)
		}
	})

	// Rotations of the user's refresh tokens (one bound to a session, one
	// without) run while the user is deleted: whatever they rotated in
	// before the delete goes with it, and none succeeds after it.
	t.Run("RacesRotations", func(t *testing.T) {
		s := h.store(t)
		now := clock()
		const rounds = 10
		for round := range rounds {
			uid, sid := fmt.Sprintf("u%d", round), fmt.Sprintf("s%d", round)
			mustOK(t, "CreateUser", s.CreateUser(ctx, newUser("a", uid, uid+"@example.com", uid)))
			mustOK(t, "CreateSession", s.CreateSession(ctx, newSession("a", sid, uid, now)))
			chains := map[string]string{uid + "-bound": sid, uid + "-offline": ""}
			for chain, session := range chains {
				mustOK(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, newRefreshToken("a", chain+"-0", uid, "c1", session, now)))
			}

			var (
				deleted  atomic.Bool
				started  sync.WaitGroup
				finished sync.WaitGroup
				mu       sync.Mutex
				hashes   []string
				errs     []error
			)
			for chain, session := range chains {
				started.Add(1)
				finished.Add(1)
				go func() {
					defer finished.Done()
					cur := "hash-" + chain + "-0"
					created := []string{cur}
					var err error
				rotations:
					for i := 1; ; i++ {
						if i == 3 {
							started.Done() // a few rotations in: let the delete start
						}
						late := deleted.Load()
						next := newRefreshToken("a", fmt.Sprintf("%s-%d", chain, i), uid, "c1", session, now)
						err = s.RotateRefreshToken(ctx, "a", cur, next, now.Add(time.Second))
						switch {
						case errors.Is(err, storage.ErrNotFound):
							err = nil // the delete took the token
							break rotations
						case err != nil:
							err = fmt.Errorf("%s: rotation %d: %w, want ErrNotFound once the user is deleted", chain, i, err)
							break rotations
						}
						created = append(created, next.Hash)
						if late {
							err = fmt.Errorf("%s: rotation %d succeeded after DeleteUser returned", chain, i)
							break rotations
						}
						cur = next.Hash
					}
					mu.Lock()
					defer mu.Unlock()
					hashes = append(hashes, created...)
					if err != nil {
						errs = append(errs, err)
					}
					if len(created) < 3 {
						started.Done() // ended before reaching the third rotation
					}
				}()
			}
			started.Wait()
			err := s.DeleteUser(ctx, "a", uid)
			deleted.Store(true)
			finished.Wait()
			mustOK(t, "DeleteUser", err)
			for _, err := range errs {
				t.Error(err)
			}
			for _, hash := range hashes {
				if _, err := s.GetRefreshTokenByHash(ctx, "a", hash); !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("round %d: refresh token %s after DeleteUser: %v, want ErrNotFound", round, hash, err)
				}
			}
			_, err = s.GetSession(ctx, "a", sid)
			wantErr(t, "GetSession after DeleteUser", err, storage.ErrNotFound)
		}
	})

	t.Run("Closed", func(t *testing.T) {
		s := h.store(t)
		mustOK(t, "CreateUser", s.CreateUser(ctx, newUser("a", "u1", "alice@example.com", "alice")))
		mustOK(t, "Close", s.Close())
		wantErr(t, "DeleteUser after Close", s.DeleteUser(ctx, "a", "u1"), storage.ErrUnavailable)
	})
}
