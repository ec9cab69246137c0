package main

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/crypto/password"
	"github.com/latchkey/latchkey/storage/bboltstore"
)

func TestSeed(t *testing.T) {
	db := filepath.Join(t.TempDir(), "seed.db")
	o := options{DB: db, Realms: []string{"r1", "r2", "r3"}, Users: 50, Password: "bench-password",
		EmailFormat: "u%d@%s.test", Batch: 7}
	ctx := context.Background()

	got, err := seed(ctx, o)
	if err != nil {
		t.Fatalf("seed() error = %v", err)
	}
	if got.Created != 50 || got.Existing != 0 || got.Realms != 3 {
		t.Errorf("seed() = %+v, want 50 created, 0 existing, 3 realms", got)
	}
	again, err := seed(ctx, o)
	if err != nil {
		t.Fatalf("second seed() error = %v", err)
	}
	if again.Created != 0 || again.Existing != 50 {
		t.Errorf("second seed() = %+v, want 0 created, 50 existing", again)
	}

	store, err := bboltstore.Open(db, bboltstore.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.Check(); err != nil {
		t.Errorf("Check() = %v, want nil", err)
	}
	for realm, want := range map[string]int{"r1": 17, "r2": 17, "r3": 16} {
		if n, err := store.CountUsers(ctx, realm); err != nil || n != want {
			t.Errorf("CountUsers(%q) = %d, %v; want %d", realm, n, err, want)
		}
	}
	u, err := store.GetUserByEmail(ctx, "r3", fmt.Sprintf(o.EmailFormat, 15, "r3"))
	if err != nil {
		t.Fatalf("GetUserByEmail(last user of r3) error = %v", err)
	}
	if !u.Enabled || !u.EmailVerified {
		t.Errorf("seeded user enabled=%v emailVerified=%v, want both true", u.Enabled, u.EmailVerified)
	}
	if err := password.Verify(o.Password, u.PasswordHash); err != nil {
		t.Errorf("password.Verify(seeded user) = %v, want nil", err)
	}
}

func TestSeedRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		o    options
	}{
		{"no db", options{Realms: []string{"r"}, Users: 1}},
		{"no realm", options{DB: filepath.Join(t.TempDir(), "x.db"), Users: 1}},
		{"negative users", options{DB: filepath.Join(t.TempDir(), "x.db"), Realms: []string{"r"}, Users: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := seed(context.Background(), tt.o); err == nil {
				t.Errorf("seed(%+v) error = nil, want an error", tt.o)
			}
		})
	}
}
