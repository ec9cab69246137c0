package bboltstore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/bboltstore"
)

func TestOpenCreatesPrivateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	path := filepath.Join(dir, "latchkey.db")
	s, err := bboltstore.Open(path, bboltstore.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	for _, tt := range []struct {
		path string
		want os.FileMode
	}{
		{dir, 0o700 | os.ModeDir},
		{path, 0o600},
	} {
		fi, err := os.Stat(tt.path)
		if err != nil {
			t.Fatalf("Stat(%s): %v", tt.path, err)
		}
		if got := fi.Mode(); got != tt.want {
			t.Errorf("mode of %s = %v, want %v", tt.path, got, tt.want)
		}
	}
}

func TestOpenLockedFileTimesOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latchkey.db")
	s, err := bboltstore.Open(path, bboltstore.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	start := time.Now()
	_, err = bboltstore.Open(path, bboltstore.Options{Timeout: 50 * time.Millisecond})
	if !errors.Is(err, bolt.ErrTimeout) {
		t.Errorf("second Open: got error %v, want bolt.ErrTimeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("second Open took %v, want about the 50ms timeout", d)
	}
}

func TestOpenRefusesOtherSchemaVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latchkey.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatalf("bolt.Open: %v", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("meta"))
		if err != nil {
			return err
		}
		return b.Put([]byte("schema"), []byte{99})
	})
	if err != nil {
		t.Fatalf("write schema: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if s, err := bboltstore.Open(path, bboltstore.Options{}); err == nil {
		s.Close()
		t.Fatal("Open of a schema-99 file succeeded, want an error")
	}
}

// NUL separates key parts, so identifiers containing it must neither be
// stored nor reach another owner's records through a prefix scan.
func TestNULInIdentifiers(t *testing.T) {
	ctx := context.Background()
	s, err := bboltstore.Open(filepath.Join(t.TempDir(), "latchkey.db"), bboltstore.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	now := time.Now()
	tok := storage.OneTimeToken{Realm: "a", Kind: "code", Hash: "h1", Subject: "u1", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.IssueOneTimeToken(ctx, tok); err != nil {
		t.Fatalf("IssueOneTimeToken: %v", err)
	}

	writes := []struct {
		name string
		err  error
	}{
		{"CreateUser realm", s.CreateUser(ctx, storage.User{Realm: "a\x00b", ID: "u"})},
		{"CreateUser email", s.CreateUser(ctx, storage.User{Realm: "a", ID: "u", Email: "x\x00@example.com"})},
		{"CreateUser empty id", s.CreateUser(ctx, storage.User{Realm: "a"})},
		{"IssueOneTimeToken kind", s.IssueOneTimeToken(ctx, storage.OneTimeToken{Realm: "a", Kind: "code\x00x", Hash: "h"})},
		{"CreateSession id", s.CreateSession(ctx, storage.Session{Realm: "a", ID: "s\x00"})},
	}
	for _, tt := range writes {
		if tt.err == nil || errors.Is(tt.err, storage.ErrAlreadyExists) {
			t.Errorf("%s with NUL or empty identifier: got error %v, want an invalid identifier error", tt.name, tt.err)
		}
	}
	if n, _ := s.CountUsers(ctx, "a"); n != 0 {
		t.Errorf("CountUsers after refused creates = %d, want 0", n)
	}

	// "u1\x00code" would be a prefix of u1's code tokens in the subject index.
	if err := s.RevokeSubjectTokens(ctx, "a", "u1\x00code", now); err != nil {
		t.Fatalf("RevokeSubjectTokens: %v", err)
	}
	got, err := s.PeekOneTimeToken(ctx, "a", "code", "h1")
	if err != nil {
		t.Fatalf("PeekOneTimeToken: %v", err)
	}
	if !got.ConsumedAt.IsZero() {
		t.Errorf("token of subject u1 revoked through subject %q", "u1\x00code")
	}
	if err := s.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
}
