package storagetest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

func newSession(realm, id, userID string, now time.Time) storage.Session {
	return storage.Session{
		Realm:     realm,
		ID:        id,
		TokenHash: "hash-" + id,
		UserID:    userID,
		AuthTime:  now,
		AMR:       []string{"pwd"},
		LastSeen:  now,
		IdleUntil: now.Add(30 * time.Minute),
		ExpiresAt: now.Add(10 * time.Hour),
		CreatedAt: now,
	}
}

func newRefreshToken(realm, id, userID, clientID, sessionID string, now time.Time) storage.RefreshToken {
	return storage.RefreshToken{
		Realm:     realm,
		ID:        id,
		Hash:      "hash-" + id,
		ClientID:  clientID,
		UserID:    userID,
		SessionID: sessionID,
		Scopes:    []string{"openid", "offline_access"},
		Audience:  []string{clientID},
		AuthTime:  now,
		AMR:       []string{"pwd"},
		CreatedAt: now,
		ExpiresAt: now.Add(24 * time.Hour),
	}
}

func testSessions(t *testing.T, h harness) {
	t.Run("CreateGetUpdate", func(t *testing.T) {
		s := h.store(t)
		now := clock()
		sess := newSession("a", "s1", "u1", now)
		mustOK(t, "CreateSession", s.CreateSession(ctx, sess))

		got, err := s.GetSession(ctx, "a", "s1")
		wantErr(t, "GetSession", err, nil)
		equal(t, "GetSession", got, sess)
		got, err = s.GetSessionByTokenHash(ctx, "a", "hash-s1")
		wantErr(t, "GetSessionByTokenHash", err, nil)
		equal(t, "GetSessionByTokenHash", got, sess)

		tests := []struct {
			name string
			err  error
			want error
		}{
			{"duplicate id", s.CreateSession(ctx, storage.Session{Realm: "a", ID: "s1", TokenHash: "other"}), storage.ErrAlreadyExists},
			{"duplicate token hash", s.CreateSession(ctx, storage.Session{Realm: "a", ID: "s2", TokenHash: "hash-s1"}), storage.ErrAlreadyExists},
			{"same id in other realm", s.CreateSession(ctx, newSession("b", "s1", "u1", now)), nil},
		}
		for _, tt := range tests {
			wantErr(t, "CreateSession "+tt.name, tt.err, tt.want)
		}
		lookups := []struct {
			name string
			err  error
		}{
			{"unknown id", second(s.GetSession(ctx, "a", "nope"))},
			{"unknown hash", second(s.GetSessionByTokenHash(ctx, "a", "nope"))},
			{"id from other realm", second(s.GetSession(ctx, "c", "s1"))},
			{"hash from other realm", second(s.GetSessionByTokenHash(ctx, "c", "hash-s1"))},
		}
		for _, tt := range lookups {
			wantErr(t, "lookup "+tt.name, tt.err, storage.ErrNotFound)
		}

		// Expired sessions are still returned: callers decide.
		old := newSession("a", "s-old", "u1", now.Add(-48*time.Hour))
		mustOK(t, "CreateSession expired", s.CreateSession(ctx, old))
		got, err = s.GetSession(ctx, "a", "s-old")
		wantErr(t, "GetSession expired", err, nil)
		equal(t, "GetSession expired", got, old)

		// Rotating the cookie secret moves the hash index.
		later := now.Add(time.Minute)
		updated, err := s.UpdateSession(ctx, "a", "s1", func(x storage.Session) (storage.Session, error) {
			x.TokenHash, x.LastSeen, x.IdleUntil = "hash-s1-new", later, later.Add(30*time.Minute)
			return x, nil
		})
		wantErr(t, "UpdateSession", err, nil)
		_, err = s.GetSessionByTokenHash(ctx, "a", "hash-s1")
		wantErr(t, "lookup by old hash", err, storage.ErrNotFound)
		got, err = s.GetSessionByTokenHash(ctx, "a", "hash-s1-new")
		wantErr(t, "lookup by new hash", err, nil)
		equal(t, "lookup by new hash", got, updated)

		errBoom := errors.New("boom")
		_, err = s.UpdateSession(ctx, "a", "s1", func(x storage.Session) (storage.Session, error) {
			x.UserID = "u2"
			return x, errBoom
		})
		if err != errBoom {
			t.Errorf("UpdateSession with failing fn: got error %v, want errBoom unchanged", err)
		}
		got, _ = s.GetSession(ctx, "a", "s1")
		equal(t, "session after failed update", got, updated)
		_, err = s.UpdateSession(ctx, "a", "s1", func(x storage.Session) (storage.Session, error) {
			x.TokenHash = "hash-s-old"
			return x, nil
		})
		wantErr(t, "UpdateSession to another session's hash", err, storage.ErrAlreadyExists)
		_, err = s.UpdateSession(ctx, "a", "nope", func(x storage.Session) (storage.Session, error) { return x, nil })
		wantErr(t, "UpdateSession absent", err, storage.ErrNotFound)
	})

	t.Run("DeleteRemovesBoundRefreshTokens", func(t *testing.T) {
		s := h.store(t)
		now := clock()
		for _, sess := range []storage.Session{
			newSession("a", "s1", "u1", now),
			newSession("a", "s2", "u1", now),
			newSession("a", "s3", "u2", now),
			newSession("b", "s1", "u1", now),
		} {
			mustOK(t, "CreateSession", s.CreateSession(ctx, sess))
		}
		for _, rt := range []storage.RefreshToken{
			newRefreshToken("a", "r1", "u1", "c1", "s1", now),
			newRefreshToken("a", "r2", "u1", "c1", "s2", now),
			newRefreshToken("a", "r3", "u2", "c1", "s3", now),
			newRefreshToken("a", "r4", "u1", "c1", "", now), // not bound to a session
			newRefreshToken("b", "r1", "u1", "c1", "s1", now),
		} {
			mustOK(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, rt))
		}

		mustOK(t, "DeleteSession", s.DeleteSession(ctx, "a", "s1"))
		wantErr(t, "DeleteSession absent", s.DeleteSession(ctx, "a", "s1"), nil)
		present(t, s, map[string]bool{"a/s1": false, "a/s2": true, "a/s3": true, "b/s1": true},
			map[string]bool{"a/r1": false, "a/r2": true, "a/r3": true, "a/r4": true, "b/r1": true})
		_, err := s.GetSessionByTokenHash(ctx, "a", "hash-s1")
		wantErr(t, "lookup deleted session by hash", err, storage.ErrNotFound)

		mustOK(t, "DeleteUserSessions", s.DeleteUserSessions(ctx, "a", "u1"))
		present(t, s, map[string]bool{"a/s2": false, "a/s3": true, "b/s1": true},
			map[string]bool{"a/r2": false, "a/r3": true, "a/r4": true, "b/r1": true})
		wantErr(t, "DeleteUserSessions without sessions", s.DeleteUserSessions(ctx, "a", "u1"), nil)
	})
}

// present checks which sessions and refresh tokens ("realm/id") exist.
func present(t *testing.T, s storage.Store, sessions, refresh map[string]bool) {
	t.Helper()
	for rid, want := range sessions {
		realm, id := splitRID(rid)
		_, err := s.GetSession(ctx, realm, id)
		if got := err == nil; got != want {
			t.Errorf("session %s present = %v (err %v), want %v", rid, got, err, want)
		}
	}
	for rid, want := range refresh {
		realm, id := splitRID(rid)
		_, err := s.GetRefreshTokenByHash(ctx, realm, "hash-"+id)
		if got := err == nil; got != want {
			t.Errorf("refresh token %s present = %v (err %v), want %v", rid, got, err, want)
		}
	}
}

func splitRID(rid string) (realm, id string) {
	realm, id, _ = strings.Cut(rid, "/")
	return realm, id
}

// second returns the error of a two-result call.
func second[T any](_ T, err error) error { return err }
