package storagetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

func testInTx(t *testing.T, h harness) {
	s := h.store(t)
	now := clock()
	mustOK(t, "CreateUser", s.CreateUser(ctx, newUser("a", "u0", "taken@example.com", "taken")))

	t.Run("Commit", func(t *testing.T) {
		err := s.InTx(ctx, func(tx storage.Tx) error {
			if err := tx.CreateUser(newUser("a", "u1", "alice@example.com", "alice")); err != nil {
				return err
			}
			// The transaction sees its own writes.
			u, err := tx.GetUserByEmail("a", "ALICE@example.com")
			if err != nil {
				return fmt.Errorf("GetUserByEmail inside tx: %w", err)
			}
			if err := tx.IssueOneTimeToken(newOneTimeToken("a", "magiclink", "h1", "", u.ID, now)); err != nil {
				return err
			}
			return tx.EnqueueOutbox(newOutboxEntry("0001", "a", now))
		})
		wantErr(t, "InTx", err, nil)
		_, err = s.GetUserByEmail(ctx, "a", "alice@example.com")
		wantErr(t, "user created in tx", err, nil)
		_, err = s.PeekOneTimeToken(ctx, "a", "magiclink", "h1")
		wantErr(t, "token issued in tx", err, nil)
		n, _ := s.CountOutbox(ctx)
		if n != 1 {
			t.Errorf("CountOutbox after tx = %d, want 1", n)
		}
	})

	rollbacks := []struct {
		name string
		fn   func(tx storage.Tx) error
		want error
	}{
		{
			name: "fn error after writes",
			fn: func(tx storage.Tx) error {
				if err := tx.CreateUser(newUser("a", "u2", "bob@example.com", "bob")); err != nil {
					return err
				}
				if err := tx.IssueOneTimeToken(newOneTimeToken("a", "magiclink", "h2", "", "u2", now)); err != nil {
					return err
				}
				if err := tx.EnqueueOutbox(newOutboxEntry("0002", "a", now)); err != nil {
					return err
				}
				return errRollback
			},
			want: errRollback,
		},
		{
			name: "ErrAlreadyExists inside tx",
			fn: func(tx storage.Tx) error {
				if err := tx.CreateUser(newUser("a", "u2", "bob@example.com", "bob")); err != nil {
					return err
				}
				if err := tx.EnqueueOutbox(newOutboxEntry("0002", "a", now)); err != nil {
					return err
				}
				return tx.CreateUser(newUser("a", "u3", "Taken@example.com", "carol"))
			},
			want: storage.ErrAlreadyExists,
		},
	}
	for _, tt := range rollbacks {
		t.Run(tt.name, func(t *testing.T) {
			err := s.InTx(ctx, tt.fn)
			wantErr(t, "InTx", err, tt.want)
			if tt.want == errRollback && err != errRollback {
				t.Errorf("InTx returned %v, want fn's error unchanged", err)
			}
			_, err = s.GetUser(ctx, "a", "u2")
			wantErr(t, "user of rolled back tx", err, storage.ErrNotFound)
			_, err = s.GetUserByEmail(ctx, "a", "bob@example.com")
			wantErr(t, "email of rolled back tx", err, storage.ErrNotFound)
			_, err = s.PeekOneTimeToken(ctx, "a", "magiclink", "h2")
			wantErr(t, "token of rolled back tx", err, storage.ErrNotFound)
			n, _ := s.CountOutbox(ctx)
			if n != 1 {
				t.Errorf("CountOutbox after rolled back tx = %d, want 1", n)
			}
		})
	}
}

var errRollback = errors.New("roll back")

func testSweep(t *testing.T, h harness) {
	s := h.store(t)
	now := clock()
	hour := time.Hour

	mustOK(t, "auth request", s.CreateAuthRequest(ctx, newAuthRequest("a", "ar-old", now.Add(-hour), 10*time.Minute)))
	mustOK(t, "auth request", s.CreateAuthRequest(ctx, newAuthRequest("a", "ar-live", now, 10*time.Minute)))

	maxed := newSession("a", "s-max", "u1", now.Add(-11*hour)) // ExpiresAt passed
	maxed.IdleUntil = now.Add(hour)
	idle := newSession("a", "s-idle", "u1", now.Add(-hour)) // IdleUntil passed
	live := newSession("a", "s-live", "u1", now)
	for _, sess := range []storage.Session{maxed, idle, live} {
		mustOK(t, "session "+sess.ID, s.CreateSession(ctx, sess))
	}
	// Live refresh tokens: one bound to an expired session goes with it.
	mustOK(t, "refresh token", s.CreateRefreshToken(ctx, newRefreshToken("a", "r-bound", "u1", "c1", "s-idle", now)))
	mustOK(t, "refresh token", s.CreateRefreshToken(ctx, newRefreshToken("a", "r-live", "u1", "c1", "s-live", now)))
	mustOK(t, "refresh token", s.CreateRefreshToken(ctx, newRefreshToken("a", "r-old", "u1", "c1", "", now.Add(-25*hour))))

	mustOK(t, "token", s.IssueOneTimeToken(ctx, newOneTimeToken("a", "magiclink", "h-old", "g", "u1", now.Add(-hour))))
	mustOK(t, "token", s.IssueOneTimeToken(ctx, newOneTimeToken("a", "magiclink", "h-live", "", "u1", now)))

	mustOK(t, "revocation", s.RevokeTokenID(ctx, "a", "jti-old", now.Add(-time.Minute)))
	mustOK(t, "revocation", s.RevokeTokenID(ctx, "a", "jti-live", now.Add(time.Minute)))

	failures := []storage.LoginFailures{
		{Realm: "a", Key: "stale", NumFailures: 3, LastFailure: now.Add(-13 * hour)},
		{Realm: "a", Key: "recent", NumFailures: 3, LastFailure: now.Add(-hour)},
		{Realm: "a", Key: "locked", NumFailures: 9, LastFailure: now.Add(-13 * hour), LockedUntil: now.Add(hour)},
	}
	for _, f := range failures {
		_, err := s.UpdateLoginFailures(ctx, f.Realm, f.Key, func(storage.LoginFailures) (storage.LoginFailures, error) { return f, nil })
		mustOK(t, "login failures "+f.Key, err)
	}

	n, err := s.Sweep(ctx, now)
	wantErr(t, "Sweep", err, nil)
	// ar-old, s-max, s-idle with r-bound, r-old, h-old, jti-old, stale.
	if n != 8 {
		t.Errorf("Sweep removed %d records, want 8", n)
	}

	gone := []struct {
		name string
		err  error
	}{
		{"auth request", second(s.GetAuthRequest(ctx, "a", "ar-old"))},
		{"session past ExpiresAt", second(s.GetSession(ctx, "a", "s-max"))},
		{"session past IdleUntil", second(s.GetSession(ctx, "a", "s-idle"))},
		{"session by token hash", second(s.GetSessionByTokenHash(ctx, "a", "hash-s-idle"))},
		{"refresh token bound to expired session", second(s.GetRefreshTokenByHash(ctx, "a", "hash-r-bound"))},
		{"expired refresh token", second(s.GetRefreshTokenByHash(ctx, "a", "hash-r-old"))},
		{"one-time token", second(s.PeekOneTimeToken(ctx, "a", "magiclink", "h-old"))},
		{"stale login failures", second(s.GetLoginFailures(ctx, "a", "stale"))},
	}
	for _, tt := range gone {
		wantErr(t, "swept "+tt.name, tt.err, storage.ErrNotFound)
	}
	kept := []struct {
		name string
		err  error
	}{
		{"auth request", second(s.GetAuthRequest(ctx, "a", "ar-live"))},
		{"session", second(s.GetSessionByTokenHash(ctx, "a", "hash-s-live"))},
		{"refresh token", second(s.GetRefreshTokenByHash(ctx, "a", "hash-r-live"))},
		{"one-time token", second(s.PeekOneTimeToken(ctx, "a", "magiclink", "h-live"))},
		{"recent login failures", second(s.GetLoginFailures(ctx, "a", "recent"))},
		{"locked login failures", second(s.GetLoginFailures(ctx, "a", "locked"))},
	}
	for _, tt := range kept {
		wantErr(t, "kept "+tt.name, tt.err, nil)
	}
	for jti, want := range map[string]bool{"jti-old": false, "jti-live": true} {
		got, err := s.IsTokenIDRevoked(ctx, "a", jti)
		wantErr(t, "IsTokenIDRevoked", err, nil)
		if got != want {
			t.Errorf("IsTokenIDRevoked(%s) after sweep = %v, want %v", jti, got, want)
		}
	}

	n, err = s.Sweep(ctx, now)
	wantErr(t, "second Sweep", err, nil)
	if n != 0 {
		t.Errorf("second Sweep removed %d records, want 0", n)
	}

	// Index entries went with their records: the hashes and the group are free.
	mustOK(t, "reissue swept hash", s.IssueOneTimeToken(ctx, newOneTimeToken("a", "magiclink", "h-old", "g", "u1", now)))
	mustOK(t, "reuse swept session's hash", s.CreateSession(ctx, newSession("a", "s-idle", "u1", now)))

	t.Run("ManyRecords", func(t *testing.T) {
		s := h.store(t)
		const n = 2500
		err := s.InTx(ctx, func(tx storage.Tx) error {
			for i := range n {
				if err := tx.IssueOneTimeToken(newOneTimeToken("a", "code", fmt.Sprintf("h%05d", i), "", "u1", now.Add(-hour))); err != nil {
					return err
				}
			}
			return tx.IssueOneTimeToken(newOneTimeToken("a", "code", "live", "", "u1", now))
		})
		mustOK(t, "InTx issuing expired tokens", err)
		removed, err := s.Sweep(ctx, now)
		wantErr(t, "Sweep", err, nil)
		if removed != n {
			t.Errorf("Sweep removed %d records, want %d", removed, n)
		}
		_, err = s.PeekOneTimeToken(ctx, "a", "code", "live")
		wantErr(t, "live token after sweep", err, nil)
	})
}

func testDurability(t *testing.T, h harness) {
	if h.reopen == nil {
		t.Skip("backend without durability (reopen is nil)")
	}
	s := h.store(t)
	now := clock()
	u := newUser("a", "u1", "alice@example.com", "alice")
	mustOK(t, "CreateUser", s.CreateUser(ctx, u))
	mustOK(t, "RotateSigningKey", s.RotateSigningKey(ctx, newSigningKey("a", "k1", now), time.Time{}))
	secret, err := s.RealmSecret(ctx, "a", "cookie", func() ([]byte, error) { return []byte("s3cret"), nil })
	mustOK(t, "RealmSecret", err)
	sess := newSession("a", "s1", "u1", now)
	mustOK(t, "CreateSession", s.CreateSession(ctx, sess))
	ar := newAuthRequest("a", "ar1", now, time.Hour)
	mustOK(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, ar))
	mustOK(t, "IssueOneTimeToken", s.IssueOneTimeToken(ctx, newOneTimeToken("a", "code", "h1", "", "u1", now)))
	consumed, err := s.ConsumeOneTimeToken(ctx, "a", "code", "h1", now)
	mustOK(t, "ConsumeOneTimeToken", err)
	rt := newRefreshToken("a", "r1", "u1", "c1", "s1", now)
	mustOK(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, rt))
	mustOK(t, "RevokeTokenID", s.RevokeTokenID(ctx, "a", "jti", now.Add(time.Hour)))
	lf, err := s.UpdateLoginFailures(ctx, "a", "u1", func(f storage.LoginFailures) (storage.LoginFailures, error) {
		f.NumFailures, f.LastFailure = 2, now
		return f, nil
	})
	mustOK(t, "UpdateLoginFailures", err)
	entry := newOutboxEntry("0001", "a", now)
	mustOK(t, "EnqueueOutbox", s.EnqueueOutbox(ctx, entry))
	mustOK(t, "InTx", s.InTx(ctx, func(tx storage.Tx) error {
		return tx.CreateUser(newUser("a", "u2", "bob@example.com", "bob"))
	}))

	s = h.reopened(t, s)

	gotUser, err := s.GetUserByEmail(ctx, "a", "ALICE@example.com")
	wantErr(t, "user after reopen", err, nil)
	equal(t, "user after reopen", gotUser, u)
	_, err = s.GetUserByUsername(ctx, "a", "bob")
	wantErr(t, "user created in tx after reopen", err, nil)
	keys, err := s.ListSigningKeys(ctx, "a")
	wantErr(t, "keys after reopen", err, nil)
	if len(keys) != 1 || keys[0].ID != "k1" {
		t.Errorf("keys after reopen = %+v, want k1", keys)
	}
	gotSecret, err := s.RealmSecret(ctx, "a", "cookie", func() ([]byte, error) { return []byte("other"), nil })
	wantErr(t, "secret after reopen", err, nil)
	equal(t, "secret after reopen", gotSecret, secret)
	gotSess, err := s.GetSessionByTokenHash(ctx, "a", sess.TokenHash)
	wantErr(t, "session after reopen", err, nil)
	equal(t, "session after reopen", gotSess, sess)
	gotAR, err := s.GetAuthRequest(ctx, "a", "ar1")
	wantErr(t, "auth request after reopen", err, nil)
	equal(t, "auth request after reopen", gotAR, ar)
	gotTok, err := s.PeekOneTimeToken(ctx, "a", "code", "h1")
	wantErr(t, "token after reopen", err, nil)
	equal(t, "token after reopen", gotTok, consumed)
	_, err = s.ConsumeOneTimeToken(ctx, "a", "code", "h1", now)
	wantErr(t, "consume after reopen", err, storage.ErrConsumed)
	gotRT, err := s.GetRefreshTokenByHash(ctx, "a", rt.Hash)
	wantErr(t, "refresh token after reopen", err, nil)
	equal(t, "refresh token after reopen", gotRT, rt)
	revoked, err := s.IsTokenIDRevoked(ctx, "a", "jti")
	wantErr(t, "revocation after reopen", err, nil)
	if !revoked {
		t.Error("revocation lost on reopen")
	}
	gotLF, err := s.GetLoginFailures(ctx, "a", "u1")
	wantErr(t, "login failures after reopen", err, nil)
	equal(t, "login failures after reopen", gotLF, lf)
	due, err := s.DueOutbox(ctx, now, 0)
	wantErr(t, "outbox after reopen", err, nil)
	equal(t, "outbox after reopen", due, []storage.OutboxEntry{entry})

	// Bound refresh tokens are still found through the session after reopen.
	mustOK(t, "DeleteSession after reopen", s.DeleteSession(ctx, "a", "s1"))
	_, err = s.GetRefreshTokenByHash(ctx, "a", rt.Hash)
	wantErr(t, "bound refresh token after DeleteSession", err, storage.ErrNotFound)
}

func testClosed(t *testing.T, h harness) {
	s := h.store(t)
	wantErr(t, "Ping while open", s.Ping(ctx), nil)
	mustOK(t, "Close", s.Close())

	now := clock()
	calls := []struct {
		name string
		err  error
	}{
		{"Ping", s.Ping(ctx)},
		{"CreateUser", s.CreateUser(ctx, newUser("a", "u1", "a@example.com", "a"))},
		{"GetUser", second(s.GetUser(ctx, "a", "u1"))},
		{"UpdateUser", second(s.UpdateUser(ctx, "a", "u1", func(u storage.User) (storage.User, error) { return u, nil }))},
		{"ListUsers", second(s.ListUsers(ctx, "a", "", 0))},
		{"RealmSecret", second(s.RealmSecret(ctx, "a", "x", func() ([]byte, error) { return []byte("x"), nil }))},
		{"CreateSession", s.CreateSession(ctx, newSession("a", "s1", "u1", now))},
		{"GetAuthRequest", second(s.GetAuthRequest(ctx, "a", "ar1"))},
		{"IssueOneTimeToken", s.IssueOneTimeToken(ctx, newOneTimeToken("a", "code", "h", "", "", now))},
		{"ConsumeOneTimeToken", second(s.ConsumeOneTimeToken(ctx, "a", "code", "h", now))},
		{"RotateRefreshToken", s.RotateRefreshToken(ctx, "a", "h", newRefreshToken("a", "r", "u", "c", "", now), now)},
		{"IsTokenIDRevoked", second(s.IsTokenIDRevoked(ctx, "a", "j"))},
		{"UpdateLoginFailures", second(s.UpdateLoginFailures(ctx, "a", "u1", func(f storage.LoginFailures) (storage.LoginFailures, error) { return f, nil }))},
		{"EnqueueOutbox", s.EnqueueOutbox(ctx, newOutboxEntry("1", "a", now))},
		{"CountOutbox", second(s.CountOutbox(ctx))},
		{"InTx", s.InTx(ctx, func(storage.Tx) error { return nil })},
		{"Sweep", second(s.Sweep(ctx, now))},
	}
	for _, tt := range calls {
		wantErr(t, tt.name+" after Close", tt.err, storage.ErrUnavailable)
	}
}
