package bboltstore

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/latchkey/latchkey/storage"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/layout.golden from this version's writes")

// t0 is the fixed instant the layout scenario writes at, so that the stored
// values are the same on every run.
var t0 = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

// openTestStore opens a store in t.TempDir() whose clock stands at t0 and
// checks it at cleanup.
func openTestStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "latchkey.db"), Options{NoSync: true, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// writeLayoutScenario makes every kind of write the store has, including
// those that move, keep or drop index entries.
func writeLayoutScenario(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	hour := time.Hour
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	must("create ann", s.CreateUser(ctx, storage.User{Realm: "r1", ID: "u1", Email: "Ann@Example.com", Username: "ann", Enabled: true, CreatedAt: t0}))
	must("create bob", s.CreateUser(ctx, storage.User{Realm: "r1", ID: "u2", Email: "bob@example.com", CreatedAt: t0}))
	must("create cid", s.CreateUser(ctx, storage.User{Realm: "r2", ID: "u1", Username: "Cid", CreatedAt: t0}))
	_, err := s.UpdateUser(ctx, "r1", "u2", func(u storage.User) (storage.User, error) {
		u.Email, u.Username = "robert@example.com", "Robert"
		return u, nil
	})
	must("rename bob", err)
	_, err = s.UpdateUser(ctx, "r1", "u1", func(u storage.User) (storage.User, error) {
		u.Email, u.Username = "ann@example.com", ""
		return u, nil
	})
	must("update ann", err)

	for i, sess := range []storage.Session{
		{Realm: "r1", ID: "s1", TokenHash: "th1", UserID: "u1", ExpiresAt: t0.Add(8 * hour)},
		{Realm: "r1", ID: "s2", TokenHash: "th2", UserID: "u2", ExpiresAt: t0.Add(8 * hour)},
		{Realm: "r1", ID: "s3", TokenHash: "th3", UserID: "u2", ExpiresAt: t0.Add(hour)},
		{Realm: "r1", ID: "s4", ExpiresAt: t0.Add(8 * hour)},
	} {
		must(fmt.Sprint("create session ", i), s.CreateSession(ctx, sess))
	}
	_, err = s.UpdateSession(ctx, "r1", "s1", func(sess storage.Session) (storage.Session, error) {
		sess.TokenHash, sess.LastSeen = "th1b", t0
		return sess, nil
	})
	must("update session", err)
	_, err = s.UpdateSession(ctx, "r1", "s4", func(sess storage.Session) (storage.Session, error) {
		sess.UserID = "u1"
		return sess, nil
	})
	must("bind session", err)

	for i, rt := range []storage.RefreshToken{
		{Realm: "r1", ID: "rt1", Hash: "rh1", UserID: "u1", SessionID: "s1", ClientID: "c", ExpiresAt: t0.Add(8 * hour)},
		{Realm: "r1", ID: "rt2", Hash: "rh2", UserID: "u2", SessionID: "s2", ClientID: "c", ExpiresAt: t0.Add(8 * hour)},
		{Realm: "r1", ID: "rt3", Hash: "rh3", UserID: "u2", ClientID: "d", ExpiresAt: t0.Add(8 * hour)},
		{Realm: "r1", ID: "rt4", Hash: "rh4", ClientID: "svc", ExpiresAt: t0.Add(hour)},
		{Realm: "r1", ID: "rt5", Hash: "rh5", UserID: "u1", SessionID: "s3", ClientID: "c", ExpiresAt: t0.Add(8 * hour)},
	} {
		must(fmt.Sprint("create refresh token ", i), s.CreateRefreshToken(ctx, rt))
	}
	must("rotate", s.RotateRefreshToken(ctx, "r1", "rh1", storage.RefreshToken{Realm: "r1", ID: "rt6", Hash: "rh6", UserID: "u1", SessionID: "s1", ClientID: "c", ExpiresAt: t0.Add(8 * hour)}, t0))
	must("delete refresh token", s.DeleteRefreshToken(ctx, "r1", "rt2"))
	must("delete refresh tokens of", s.DeleteRefreshTokensOf(ctx, "r1", "u2", "d"))
	must("delete session", s.DeleteSession(ctx, "r1", "s2"))

	for i, tok := range []storage.OneTimeToken{
		{Realm: "r1", Kind: "link", Hash: "oh1", Group: "g1", Subject: "u1", ExpiresAt: t0.Add(hour)},
		{Realm: "r1", Kind: "link", Hash: "oh2", Group: "g1", Subject: "u1", ExpiresAt: t0.Add(2 * hour)},
		{Realm: "r1", Kind: "link", Hash: "oh3", Group: "g2", Subject: "u2", ExpiresAt: t0.Add(2 * hour)},
		{Realm: "r1", Kind: "link", Hash: "oh4", Group: "g2", ExpiresAt: t0.Add(2 * hour)},
		{Realm: "r1", Kind: "code", Hash: "oh5", Subject: "u2", ExpiresAt: t0.Add(2 * hour)},
		{Realm: "r1", Kind: "code", Hash: "oh6", ExpiresAt: t0.Add(2 * hour)},
		{Realm: "r1", Kind: "link", Hash: "oh7", Group: "g3", Subject: "u1", ExpiresAt: t0.Add(2 * hour)},
		{Realm: "r1", Kind: "link", Hash: "oh8", Group: "g3", Subject: "u1", ExpiresAt: t0.Add(2 * hour)},
	} {
		must(fmt.Sprint("issue one-time token ", i), s.IssueOneTimeToken(ctx, tok))
	}
	_, err = s.ConsumeOneTimeToken(ctx, "r1", "link", "oh4", t0)
	must("consume", err)
	must("revoke subject", s.RevokeSubjectTokens(ctx, "r1", "u2", t0))
	must("delete one-time token", s.DeleteOneTimeToken(ctx, "r1", "link", "oh8"))
	must("delete one-time token of no group", s.DeleteOneTimeToken(ctx, "r1", "code", "oh6"))

	must("in tx", s.InTx(ctx, func(tx storage.Tx) error {
		if err := tx.CreateUser(storage.User{Realm: "r1", ID: "u3", Email: "dee@example.com", CreatedAt: t0}); err != nil {
			return err
		}
		if err := tx.IssueOneTimeToken(storage.OneTimeToken{Realm: "r1", Kind: "link", Hash: "oh9", Group: "g1", Subject: "u3", ExpiresAt: t0.Add(hour)}); err != nil {
			return err
		}
		return tx.EnqueueOutbox(storage.OutboxEntry{ID: "o1", Realm: "r1", Kind: "email", CreatedAt: t0})
	}))

	must("auth request", s.CreateAuthRequest(ctx, storage.AuthRequest{Realm: "r1", ID: "a1", ClientID: "c", ExpiresAt: t0.Add(hour)}))
	must("auth request 2", s.CreateAuthRequest(ctx, storage.AuthRequest{Realm: "r1", ID: "a2", ClientID: "c", ExpiresAt: t0.Add(3 * hour)}))
	must("revoke jti", s.RevokeTokenID(ctx, "r1", "j1", t0.Add(hour)))
	must("revoke jti 2", s.RevokeTokenID(ctx, "r1", "j2", t0.Add(3*hour)))
	_, err = s.UpdateLoginFailures(ctx, "r1", "u1", func(f storage.LoginFailures) (storage.LoginFailures, error) {
		f.NumFailures, f.LastFailure = 2, t0
		return f, nil
	})
	must("login failures", err)
	must("signing key", s.RotateSigningKey(ctx, storage.SigningKey{Realm: "r1", ID: "k1", Algorithm: "ES256", PrivateDER: []byte{1, 2}, CreatedAt: t0}, t0))
	must("signing key 2", s.RotateSigningKey(ctx, storage.SigningKey{Realm: "r1", ID: "k2", Algorithm: "ES256", PrivateDER: []byte{3}, CreatedAt: t0.Add(hour)}, t0.Add(2*hour)))
	_, err = s.RealmSecret(ctx, "r1", "cookie", func() ([]byte, error) { return []byte("secret"), nil })
	must("realm secret", err)
	must("outbox", s.EnqueueOutbox(ctx, storage.OutboxEntry{ID: "o2", Realm: "r1", Kind: "webhook", CreatedAt: t0}))

	n, err := s.Sweep(ctx, t0.Add(90*time.Minute))
	must("sweep", err)
	if n == 0 {
		t.Error("the sweep removed nothing; the scenario should leave it expired records")
	}
}

// dumpLayout lists every bucket's keys and values, one per line, NUL shown
// as "|".
func dumpLayout(t *testing.T, s *Store) string {
	t.Helper()
	var b strings.Builder
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, bucket *bolt.Bucket) error {
			fmt.Fprintf(&b, "[%s]\n", name)
			return bucket.ForEach(func(k, v []byte) error {
				fmt.Fprintf(&b, "%s = %q\n", strings.ReplaceAll(string(k), "\x00", "|"), v)
				return nil
			})
		})
	})
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	return b.String()
}

// TestLayout pins the file format: the buckets, keys and values that a fixed
// sequence of writes leaves are those in testdata/layout.golden, which an
// earlier version wrote. A change here makes existing files unreadable or
// their indexes wrong.
func TestLayout(t *testing.T) {
	s := openTestStore(t)
	writeLayoutScenario(t, s)
	if err := s.Check(); err != nil {
		t.Errorf("Check after the scenario: %v", err)
	}
	got := dumpLayout(t, s)
	golden := filepath.Join("testdata", "layout.golden")
	if *updateGolden {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden file (go test -run TestLayout -update writes it): %v", err)
	}
	if got != string(want) {
		t.Errorf("layout differs from %s:\n--- got\n%s\n--- want\n%s", golden, got, want)
	}
}
