package storagetest

import (
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

// testUserRefreshTokens pins down ListUserRefreshTokens and the fields that
// offline tokens and back-channel logout rely on: Offline and
// Session.Clients survive a round trip and updates; an offline token (bound
// to no session) outlives the deletion of the session it was issued in.
func testUserRefreshTokens(t *testing.T, h harness) {
	t.Run("ListedInOrderWithoutRotated", func(t *testing.T) {
		s := h.store(t)
		now := clock()
		list := func(realm, user string) []storage.RefreshToken {
			got, err := s.ListUserRefreshTokens(ctx, realm, user)
			mustOK(t, "ListUserRefreshTokens", err)
			if got == nil {
				t.Fatalf("ListUserRefreshTokens(%q, %q) = nil, want a non-nil slice", realm, user)
			}
			return got
		}
		equal(t, "none", list("a", "u1"), []storage.RefreshToken{})
		equal(t, "empty user", list("a", ""), []storage.RefreshToken{})

		late := newRefreshToken("a", "rt-late", "u1", "c1", "", now)
		early := newRefreshToken("a", "rt-early", "u1", "c2", "", now)
		early.CreatedAt = now.Add(-time.Hour)
		early.Offline = true
		rotated := newRefreshToken("a", "rt-rotated", "u1", "c1", "", now)
		for _, rt := range []storage.RefreshToken{late, early, rotated,
			newRefreshToken("a", "rt-other", "u2", "c1", "", now),
			newRefreshToken("b", "rt-realm", "u1", "c1", "", now)} {
			mustOK(t, "CreateRefreshToken "+rt.ID, s.CreateRefreshToken(ctx, rt))
		}
		next := newRefreshToken("a", "rt-next", "u1", "c1", "", now.Add(time.Minute))
		mustOK(t, "RotateRefreshToken", s.RotateRefreshToken(ctx, "a", rotated.Hash, next, now))
		equal(t, "u1's live tokens", list("a", "u1"), []storage.RefreshToken{early, late, next})

		got, err := s.GetRefreshTokenByHash(ctx, "a", early.Hash)
		mustOK(t, "GetRefreshTokenByHash", err)
		equal(t, "Offline round trip", got.Offline, true)
	})

	t.Run("OfflineOutlivesSession", func(t *testing.T) {
		s := h.store(t)
		now := clock()
		sess := newSession("a", "s1", "u1", now)
		mustOK(t, "CreateSession", s.CreateSession(ctx, sess))
		online := newRefreshToken("a", "rt-online", "u1", "c1", "s1", now)
		offline := newRefreshToken("a", "rt-offline", "u1", "c1", "", now)
		offline.Offline = true
		mustOK(t, "CreateRefreshToken online", s.CreateRefreshToken(ctx, online))
		mustOK(t, "CreateRefreshToken offline", s.CreateRefreshToken(ctx, offline))
		mustOK(t, "DeleteSession", s.DeleteSession(ctx, "a", "s1"))
		if _, err := s.GetRefreshTokenByHash(ctx, "a", online.Hash); err == nil {
			t.Error("the session's refresh token outlived DeleteSession")
		}
		_, err := s.GetRefreshTokenByHash(ctx, "a", offline.Hash)
		mustOK(t, "offline token after DeleteSession", err)
	})

	t.Run("SessionClients", func(t *testing.T) {
		s := h.store(t)
		sess := newSession("a", "s1", "u1", clock())
		sess.Clients = []string{"web"}
		mustOK(t, "CreateSession", s.CreateSession(ctx, sess))
		got, err := s.UpdateSession(ctx, "a", "s1", func(x storage.Session) (storage.Session, error) {
			x.Clients = append(x.Clients, "spa")
			x.AltIssuerClients = []string{"spa"}
			return x, nil
		})
		mustOK(t, "UpdateSession", err)
		equal(t, "updated Clients", got.Clients, []string{"web", "spa"})
		got, err = s.GetSession(ctx, "a", "s1")
		mustOK(t, "GetSession", err)
		equal(t, "stored Clients", got.Clients, []string{"web", "spa"})
		equal(t, "stored AltIssuerClients", got.AltIssuerClients, []string{"spa"})
	})
}
