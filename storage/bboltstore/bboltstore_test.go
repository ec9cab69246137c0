package bboltstore_test

import (
	"path/filepath"
	"testing"

	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/bboltstore"
	"github.com/latchkey/latchkey/storage/storagetest"
)

// TestConformance runs the storage contract against a real file; the suite
// calls Store.Check (bbolt's tx.Check plus index consistency) at cleanup.
func TestConformance(t *testing.T) {
	open := func(t *testing.T, path string) storage.Store {
		s, err := bboltstore.Open(path, bboltstore.Options{})
		if err != nil {
			t.Fatalf("Open(%s): %v", path, err)
		}
		return s
	}
	storagetest.RunTests(t,
		func(t *testing.T) storage.Store { return open(t, filepath.Join(t.TempDir(), "data", "latchkey.db")) },
		func(t *testing.T, s storage.Store) storage.Store {
			path := s.(*bboltstore.Store).Path()
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return open(t, path)
		})
}
