package bboltstore_test

import (
	"path/filepath"
	"testing"

	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/bboltstore"
	"github.com/latchkey/latchkey/storage/storagetest"
)

func TestConformance(t *testing.T) {
	open := func(t *testing.T) storage.Store {
		s, err := bboltstore.Open(filepath.Join(t.TempDir(), "data", "latchkey.db"), bboltstore.Options{})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	}
	reopen := func(t *testing.T, s storage.Store) storage.Store {
		path := s.(*bboltstore.Store).Path()
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		s2, err := bboltstore.Open(path, bboltstore.Options{})
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		return s2
	}
	storagetest.RunTests(t, open, reopen)
}
