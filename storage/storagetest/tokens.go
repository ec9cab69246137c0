package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

func newOneTimeToken(realm, kind, hash, group, subject string, now time.Time) storage.OneTimeToken {
	return storage.OneTimeToken{
		Realm:     realm,
		Kind:      kind,
		Hash:      hash,
		Group:     group,
		Subject:   subject,
		Payload:   []byte(`{"redirect":"https://app.example.com"}`),
		CreatedAt: now,
		ExpiresAt: now.Add(15 * time.Minute),
	}
}

func testOneTimeTokens(t *testing.T, h harness) {
	t.Run("IssuePeekConsume", func(t *testing.T) {
		s := h.store(t)
		now := clock()
		tok := newOneTimeToken("a", "magiclink", "h1", "", "u1", now)
		mustOK(t, "IssueOneTimeToken", s.IssueOneTimeToken(ctx, tok))
		wantErr(t, "IssueOneTimeToken duplicate", s.IssueOneTimeToken(ctx, tok), storage.ErrAlreadyExists)

		peeked, err := s.PeekOneTimeToken(ctx, "a", "magiclink", "h1")
		wantErr(t, "PeekOneTimeToken", err, nil)
		equal(t, "PeekOneTimeToken", peeked, tok)

		at := now.Add(time.Minute)
		got, err := s.ConsumeOneTimeToken(ctx, "a", "magiclink", "h1", at)
		wantErr(t, "ConsumeOneTimeToken", err, nil)
		want := tok
		want.ConsumedAt = at
		equal(t, "ConsumeOneTimeToken", got, want)

		peeked, err = s.PeekOneTimeToken(ctx, "a", "magiclink", "h1")
		wantErr(t, "PeekOneTimeToken consumed", err, nil)
		equal(t, "PeekOneTimeToken consumed", peeked, want)

		expired := newOneTimeToken("a", "magiclink", "h-exp", "", "", now.Add(-time.Hour))
		mustOK(t, "IssueOneTimeToken expired", s.IssueOneTimeToken(ctx, expired))
		edge := newOneTimeToken("a", "code", "h-edge", "", "", now)
		mustOK(t, "IssueOneTimeToken edge", s.IssueOneTimeToken(ctx, edge))
		mustOK(t, "IssueOneTimeToken other realm", s.IssueOneTimeToken(ctx, newOneTimeToken("b", "magiclink", "h-b", "", "", now)))

		tests := []struct {
			name              string
			realm, kind, hash string
			at                time.Time
			want              error
		}{
			{"second use", "a", "magiclink", "h1", at, storage.ErrConsumed},
			{"unknown", "a", "magiclink", "nope", at, storage.ErrNotFound},
			{"wrong kind", "a", "code", "h1", at, storage.ErrNotFound},
			{"other realm's hash", "a", "magiclink", "h-b", at, storage.ErrNotFound},
			{"expired", "a", "magiclink", "h-exp", at, storage.ErrExpired},
			{"at ExpiresAt", "a", "code", "h-edge", edge.ExpiresAt, storage.ErrExpired},
			{"just before ExpiresAt", "a", "code", "h-edge", edge.ExpiresAt.Add(-time.Microsecond), nil},
		}
		for _, tt := range tests {
			_, err := s.ConsumeOneTimeToken(ctx, tt.realm, tt.kind, tt.hash, tt.at)
			wantErr(t, "ConsumeOneTimeToken "+tt.name, err, tt.want)
		}
		_, err = s.PeekOneTimeToken(ctx, "b", "magiclink", "h1")
		wantErr(t, "PeekOneTimeToken from other realm", err, storage.ErrNotFound)
		_, err = s.PeekOneTimeToken(ctx, "b", "magiclink", "h-b")
		wantErr(t, "other realm's token after cross-realm attempt", err, nil)

		mustOK(t, "DeleteOneTimeToken", s.DeleteOneTimeToken(ctx, "a", "magiclink", "h1"))
		_, err = s.PeekOneTimeToken(ctx, "a", "magiclink", "h1")
		wantErr(t, "PeekOneTimeToken after delete", err, storage.ErrNotFound)
		wantErr(t, "DeleteOneTimeToken absent", s.DeleteOneTimeToken(ctx, "a", "magiclink", "h1"), nil)
	})

	t.Run("ExactlyOneWinner", func(t *testing.T) {
		s := h.store(t)
		now := clock()
		mustOK(t, "IssueOneTimeToken", s.IssueOneTimeToken(ctx, newOneTimeToken("a", "code", "h1", "", "", now)))
		errs := parallel(50, func(int) error {
			_, err := s.ConsumeOneTimeToken(ctx, "a", "code", "h1", now.Add(time.Second))
			return err
		})
		counts, others := tally(errs, storage.ErrConsumed)
		if counts[nil] != 1 || counts[storage.ErrConsumed] != 49 || len(others) != 0 {
			t.Errorf("50 concurrent consumers: got %d successes, %d ErrConsumed, other errors %v; want 1, 49, none",
				counts[nil], counts[storage.ErrConsumed], others)
		}
	})

	t.Run("GroupSupersedes", func(t *testing.T) {
		s := h.store(t)
		now := clock()
		for i := 1; i <= 3; i++ {
			tok := newOneTimeToken("a", "magiclink", fmt.Sprintf("h%d", i), "alice@example.com", "u1", now.Add(time.Duration(i)*time.Second))
			mustOK(t, "IssueOneTimeToken", s.IssueOneTimeToken(ctx, tok))
		}
		// Same group name in another kind and another realm: independent.
		mustOK(t, "IssueOneTimeToken other kind", s.IssueOneTimeToken(ctx, newOneTimeToken("a", "reset", "h-r", "alice@example.com", "u1", now)))
		mustOK(t, "IssueOneTimeToken other realm", s.IssueOneTimeToken(ctx, newOneTimeToken("b", "magiclink", "h-b", "alice@example.com", "u1", now)))
		mustOK(t, "IssueOneTimeToken again in other realm", s.IssueOneTimeToken(ctx, newOneTimeToken("b", "magiclink", "h-b2", "alice@example.com", "u1", now)))

		for _, hash := range []string{"h1", "h2"} {
			p, err := s.PeekOneTimeToken(ctx, "a", "magiclink", hash)
			wantErr(t, "PeekOneTimeToken "+hash, err, nil)
			if !p.Superseded {
				t.Errorf("token %s: Superseded = false, want true", hash)
			}
		}
		at := now.Add(time.Minute)
		tests := []struct {
			realm, kind, hash string
			want              error
		}{
			{"a", "magiclink", "h1", storage.ErrConsumed},
			{"a", "magiclink", "h2", storage.ErrConsumed},
			{"a", "magiclink", "h3", nil},
			{"a", "reset", "h-r", nil},
			{"b", "magiclink", "h-b", storage.ErrConsumed},
			{"b", "magiclink", "h-b2", nil},
		}
		for _, tt := range tests {
			_, err := s.ConsumeOneTimeToken(ctx, tt.realm, tt.kind, tt.hash, at)
			wantErr(t, fmt.Sprintf("ConsumeOneTimeToken %s/%s/%s", tt.realm, tt.kind, tt.hash), err, tt.want)
		}

		// A group whose latest token was deleted starts afresh.
		mustOK(t, "IssueOneTimeToken h4", s.IssueOneTimeToken(ctx, newOneTimeToken("a", "magiclink", "h4", "g2", "", now)))
		mustOK(t, "DeleteOneTimeToken h4", s.DeleteOneTimeToken(ctx, "a", "magiclink", "h4"))
		mustOK(t, "IssueOneTimeToken h5", s.IssueOneTimeToken(ctx, newOneTimeToken("a", "magiclink", "h5", "g2", "", now)))
		_, err := s.ConsumeOneTimeToken(ctx, "a", "magiclink", "h5", at)
		wantErr(t, "ConsumeOneTimeToken after group's token was deleted", err, nil)
		mustOK(t, "DeleteOneTimeToken h5", s.DeleteOneTimeToken(ctx, "a", "magiclink", "h5"))
		mustOK(t, "DeleteOneTimeToken h3", s.DeleteOneTimeToken(ctx, "a", "magiclink", "h3"))
	})

	t.Run("RevokeSubjectTokens", func(t *testing.T) {
		s := h.store(t)
		now := clock()
		for _, tok := range []storage.OneTimeToken{
			newOneTimeToken("a", "magiclink", "h1", "", "u1", now),
			newOneTimeToken("a", "code", "h2", "", "u1", now),
			newOneTimeToken("a", "code", "h3", "", "u2", now),
			newOneTimeToken("a", "code", "h4", "", "u1x", now), // subject sharing a prefix
			newOneTimeToken("b", "code", "h1", "", "u1", now),
		} {
			mustOK(t, "IssueOneTimeToken", s.IssueOneTimeToken(ctx, tok))
		}
		consumedAt := now.Add(time.Second)
		_, err := s.ConsumeOneTimeToken(ctx, "a", "code", "h2", consumedAt)
		mustOK(t, "ConsumeOneTimeToken h2", err)

		revokedAt := now.Add(time.Minute)
		mustOK(t, "RevokeSubjectTokens", s.RevokeSubjectTokens(ctx, "a", "u1", revokedAt))
		tests := []struct {
			realm, kind, hash string
			wantConsumedAt    time.Time
		}{
			{"a", "magiclink", "h1", revokedAt},
			{"a", "code", "h2", consumedAt}, // already consumed: untouched
			{"a", "code", "h3", time.Time{}},
			{"a", "code", "h4", time.Time{}},
			{"b", "code", "h1", time.Time{}},
		}
		for _, tt := range tests {
			p, err := s.PeekOneTimeToken(ctx, tt.realm, tt.kind, tt.hash)
			wantErr(t, "PeekOneTimeToken", err, nil)
			if !p.ConsumedAt.Equal(tt.wantConsumedAt) {
				t.Errorf("%s/%s/%s: ConsumedAt %v, want %v", tt.realm, tt.kind, tt.hash, p.ConsumedAt, tt.wantConsumedAt)
			}
		}
		_, err = s.ConsumeOneTimeToken(ctx, "a", "magiclink", "h1", revokedAt)
		wantErr(t, "ConsumeOneTimeToken revoked", err, storage.ErrConsumed)
	})
}

func testRefreshTokens(t *testing.T, h harness) {
	t.Run("CreateRotateReplay", func(t *testing.T) {
		s := h.store(t)
		now := clock()
		r1 := newRefreshToken("a", "r1", "u1", "c1", "s1", now)
		mustOK(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, r1))
		dupID := newRefreshToken("a", "r1", "u1", "c1", "s1", now)
		dupID.Hash = "other"
		dupHash := newRefreshToken("a", "rX", "u1", "c1", "s1", now)
		dupHash.Hash = r1.Hash
		wantErr(t, "CreateRefreshToken duplicate id", s.CreateRefreshToken(ctx, dupID), storage.ErrAlreadyExists)
		wantErr(t, "CreateRefreshToken duplicate hash", s.CreateRefreshToken(ctx, dupHash), storage.ErrAlreadyExists)
		wantErr(t, "CreateRefreshToken same in other realm", s.CreateRefreshToken(ctx, newRefreshToken("b", "r1", "u1", "c1", "s1", now)), nil)

		got, err := s.GetRefreshTokenByHash(ctx, "a", r1.Hash)
		wantErr(t, "GetRefreshTokenByHash", err, nil)
		equal(t, "GetRefreshTokenByHash", got, r1)

		at := now.Add(time.Minute)
		r2 := newRefreshToken("a", "r2", "u1", "c1", "s1", at)
		mustOK(t, "RotateRefreshToken", s.RotateRefreshToken(ctx, "a", r1.Hash, r2, at))
		old, _ := s.GetRefreshTokenByHash(ctx, "a", r1.Hash)
		if !old.RotatedAt.Equal(at) {
			t.Errorf("rotated token RotatedAt = %v, want %v", old.RotatedAt, at)
		}
		got, _ = s.GetRefreshTokenByHash(ctx, "a", r2.Hash)
		equal(t, "next token", got, r2)

		expired := newRefreshToken("a", "r-exp", "u1", "c1", "", now.Add(-48*time.Hour))
		mustOK(t, "CreateRefreshToken expired", s.CreateRefreshToken(ctx, expired))
		tests := []struct {
			name    string
			realm   string
			oldHash string
			next    storage.RefreshToken
			want    error
		}{
			{"replay", "a", r1.Hash, newRefreshToken("a", "r3", "u1", "c1", "s1", at), storage.ErrConsumed},
			{"unknown", "a", "nope", newRefreshToken("a", "r3", "u1", "c1", "s1", at), storage.ErrNotFound},
			{"other realm", "c", r2.Hash, newRefreshToken("c", "r3", "u1", "c1", "s1", at), storage.ErrNotFound},
			{"expired", "a", expired.Hash, newRefreshToken("a", "r3", "u1", "c1", "", at), storage.ErrExpired},
			{"next hash taken", "a", r2.Hash, newRefreshToken("a", "r1", "u1", "c1", "s1", at), storage.ErrAlreadyExists},
		}
		for _, tt := range tests {
			wantErr(t, "RotateRefreshToken "+tt.name, s.RotateRefreshToken(ctx, tt.realm, tt.oldHash, tt.next, at), tt.want)
		}
		_, err = s.GetRefreshTokenByHash(ctx, "a", "hash-r3")
		wantErr(t, "next token of failed rotations", err, storage.ErrNotFound)
		got, _ = s.GetRefreshTokenByHash(ctx, "a", r2.Hash)
		if !got.RotatedAt.IsZero() {
			t.Errorf("token of a refused rotation has RotatedAt %v, want zero", got.RotatedAt)
		}
	})

	t.Run("ExactlyOneWinner", func(t *testing.T) {
		s := h.store(t)
		now := clock()
		mustOK(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, newRefreshToken("a", "r0", "u1", "c1", "", now)))
		errs := parallel(20, func(i int) error {
			next := newRefreshToken("a", fmt.Sprintf("next-%d", i), "u1", "c1", "", now)
			return s.RotateRefreshToken(ctx, "a", "hash-r0", next, now.Add(time.Second))
		})
		counts, others := tally(errs, storage.ErrConsumed)
		if counts[nil] != 1 || counts[storage.ErrConsumed] != 19 || len(others) != 0 {
			t.Errorf("20 concurrent rotations: got %d successes, %d ErrConsumed, other errors %v; want 1, 19, none",
				counts[nil], counts[storage.ErrConsumed], others)
		}
		live := 0
		for i := range 20 {
			if _, err := s.GetRefreshTokenByHash(ctx, "a", fmt.Sprintf("hash-next-%d", i)); err == nil {
				live++
			}
		}
		if live != 1 {
			t.Errorf("successor tokens stored: %d, want 1", live)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		s := h.store(t)
		now := clock()
		for _, rt := range []storage.RefreshToken{
			newRefreshToken("a", "r1", "u1", "c1", "", now),
			newRefreshToken("a", "r2", "u1", "c2", "", now),
			newRefreshToken("a", "r3", "u1", "c2", "s1", now),
			newRefreshToken("a", "r4", "u2", "c1", "", now),
			newRefreshToken("a", "r5", "u1x", "c1", "", now), // user sharing a prefix
			newRefreshToken("b", "r1", "u1", "c1", "", now),
		} {
			mustOK(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, rt))
		}
		mustOK(t, "DeleteRefreshToken", s.DeleteRefreshToken(ctx, "a", "r4"))
		wantErr(t, "DeleteRefreshToken absent", s.DeleteRefreshToken(ctx, "a", "r4"), nil)
		present(t, s, nil, map[string]bool{"a/r4": false, "a/r1": true})

		mustOK(t, "DeleteRefreshTokensOf c2", s.DeleteRefreshTokensOf(ctx, "a", "u1", "c2"))
		present(t, s, nil, map[string]bool{"a/r1": true, "a/r2": false, "a/r3": false, "a/r5": true, "b/r1": true})
		mustOK(t, "DeleteRefreshTokensOf all clients", s.DeleteRefreshTokensOf(ctx, "a", "u1", ""))
		present(t, s, nil, map[string]bool{"a/r1": false, "a/r5": true, "b/r1": true})
	})
}
