package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/bboltstore"
)

// runCLI runs the latchkey command line in-process and returns its output.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

// TestUserUnlockAndRotateAPIKeyCommands locks an account through the realm's
// brute-force detector on a real database, then unlocks it and rotates its
// API key with the admin commands, and checks the stored result.
func TestUserUnlockAndRotateAPIKeyCommands(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "latchkey.db")
	cfgPath := filepath.Join(dir, "latchkey.yaml")
	yaml := `
storage: {path: "` + dbPath + `"}
defaultRealm: acme
realms:
  - name: acme
    bruteForce: {failureFactor: 2}
    users:
      - email: carol@example.com
        password: "carol's password"
`
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatalf("load config: %v", err)
	}
	ctx := context.Background()
	withStore := func(fn func(r *realm.Realm)) {
		t.Helper()
		store, err := bboltstore.Open(dbPath, bboltstore.Options{})
		if err != nil {
			t.Fatalf("open store: %v", err)
		}
		defer store.Close()
		reg, err := realm.Build(ctx, cfg, store, nil)
		if err != nil {
			t.Fatalf("build realms: %v", err)
		}
		r, _ := reg.Get("acme")
		fn(r)
	}
	withStore(func(r *realm.Realm) {
		for range 2 {
			_, _ = r.Authenticate(ctx, "carol@example.com", "wrong")
		}
		var locked *realm.LockedError
		if _, err := r.Authenticate(ctx, "carol@example.com", "carol's password"); !errors.As(err, &locked) {
			t.Fatalf("Authenticate after 2 failures = %v, want *LockedError", err)
		}
	})

	tests := []struct {
		args    []string
		wantOut string
		wantErr string
	}{
		{[]string{"user", "unlock", "carol@example.com"}, "user carol@example.com unlocked", ""},
		{[]string{"user", "rotate-api-key", "CAROL@example.com"}, "API key of carol@example.com rotated (version 1)", ""},
		{[]string{"user", "rotate-api-key", "--realm", "acme", "carol@example.com"}, "rotated (version 2)", ""},
		{[]string{"user", "rotate-api-key", "nobody@example.com"}, "", `no user "nobody@example.com" in realm "acme"`},
		{[]string{"user", "rotate-api-key", "-r", "nope", "carol@example.com"}, "", `realm "nope" does not exist`},
		{[]string{"user", "rotate-api-key"}, "", "accepts 1 arg(s)"},
	}
	for _, tt := range tests {
		out, err := runCLI(t, append([]string{"--config", cfgPath}, tt.args...)...)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("latchkey %s = %v, want an error containing %q", strings.Join(tt.args, " "), err, tt.wantErr)
			}
			continue
		}
		if err != nil || !strings.Contains(out, tt.wantOut) {
			t.Errorf("latchkey %s = %q, %v; want output containing %q", strings.Join(tt.args, " "), out, err, tt.wantOut)
		}
	}

	withStore(func(r *realm.Realm) {
		u, err := r.FindUser(ctx, "carol@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if u.APIKeyVersion != 2 {
			t.Errorf("APIKeyVersion = %d, want 2 after two rotations", u.APIKeyVersion)
		}
		if _, err := r.Store.GetLoginFailures(ctx, "acme", u.ID); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("login failures after unlock: %v, want ErrNotFound", err)
		}
		if _, err := r.Authenticate(ctx, "carol@example.com", "carol's password"); err != nil {
			t.Errorf("Authenticate after unlock = %v, want success", err)
		}
	})
}
