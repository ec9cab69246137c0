package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage/bboltstore"
)

// writeConfig writes a one-realm config on a fresh database and returns its path.
func writeConfig(t *testing.T) (cfgPath, dbPath string) {
	t.Helper()
	dir := t.TempDir()
	dbPath = filepath.Join(dir, "latchkey.db")
	cfgPath = filepath.Join(dir, "latchkey.yaml")
	yaml := `
storage: {path: "` + dbPath + `"}
defaultRealm: acme
realms:
  - name: acme
    passwordPolicy: {minLength: 8}
`
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgPath, dbPath
}

// inRealm opens the database of cfgPath (the CLI must have closed it) and
// runs fn on realm acme.
func inRealm(t *testing.T, cfgPath string, fn func(ctx context.Context, r *realm.Realm)) {
	t.Helper()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatalf("load config: %v", err)
	}
	store, err := bboltstore.Open(cfg.Storage.Path, bboltstore.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	defer store.Close()
	ctx := context.Background()
	reg, err := realm.Build(ctx, cfg, store, nil)
	if err != nil {
		t.Fatalf("build realms: %v", err)
	}
	r, _ := reg.Get("acme")
	fn(ctx, r)
	if err := store.Check(); err != nil {
		t.Errorf("store check: %v", err)
	}
}

// TestUserCommands runs the user administration commands in sequence on one
// database and checks each one's output or error, then the stored users.
func TestUserCommands(t *testing.T) {
	t.Setenv("LATCHKEY_PASSWORD", "")
	cfgPath, _ := writeConfig(t)
	uuid := `[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}`
	steps := []struct {
		args    []string
		wantOut string // a regular expression the whole output must match
		wantErr string // a substring of the error
	}{
		{args: []string{"user", "add", "dave@example.com", "--role", "b", "--role", "a"},
			wantOut: `^created user dave@example\.com \(id ` + uuid + `\) in realm acme\n$`},
		// With a password the command has always been silent.
		{args: []string{"user", "add", " erin@example.com ", "--password", "erin's password"}, wantOut: `^$`},
		{args: []string{"user", "add", "dave@example.com"}, wantErr: `add user "dave@example.com": create user`},
		{args: []string{"user", "add", "not an email"}, wantErr: `add user "not an email": invalid email address`},
		{args: []string{"user", "add", "frank@example.com", "--password", "short"},
			wantErr: "password does not meet the realm's policy: at least 8 characters"},
		{args: []string{"user", "set-password", "dave@example.com", "--password", "dave's password"},
			wantOut: `^password of dave@example\.com set\n$`},
		{args: []string{"user", "set-password", "DAVE@example.com", "--password", "short"},
			wantErr: "set-password dave@example.com: password does not meet the realm's policy"},
		{args: []string{"user", "set-password", "nobody@example.com", "--password", "whatever1"},
			wantErr: `no user "nobody@example.com" in realm "acme"`},
		{args: []string{"user", "disable", "erin@example.com"}, wantOut: `^user erin@example\.com disabled\n$`},
		{args: []string{"user", "enable", "-r", "acme", "erin@example.com"}, wantOut: `^user erin@example\.com enabled\n$`},
		{args: []string{"user", "disable", "erin@example.com"}, wantOut: `^user erin@example\.com disabled\n$`},
		{args: []string{"user", "unlock", "erin@example.com"}, wantOut: `^user erin@example\.com unlocked\n$`},
		{args: []string{"user", "list"},
			wantOut: `^ID {4,}EMAIL {12,}ENABLED  VERIFIED  ROLES\n` +
				`(` + uuid + `  (dave@example\.com  true     true      a,b|erin@example\.com  false    true      )\n){2}$`},
		{args: []string{"user", "list", "--realm", "nope"}, wantErr: `realm "nope" does not exist or is disabled`},
	}
	for _, st := range steps {
		out, err := runCLI(t, append([]string{"--config", cfgPath}, st.args...)...)
		name := strings.Join(st.args, " ")
		if st.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), st.wantErr) {
				t.Errorf("latchkey %s = %v, want an error containing %q", name, err, st.wantErr)
			}
			continue
		}
		if err != nil || !regexp.MustCompile(st.wantOut).MatchString(out) {
			t.Errorf("latchkey %s = %q, %v; want output matching %q", name, out, err, st.wantOut)
		}
	}

	inRealm(t, cfgPath, func(ctx context.Context, r *realm.Realm) {
		for _, tt := range []struct {
			email, password string
			enabled         bool
		}{
			{"dave@example.com", "dave's password", true},
			{"erin@example.com", "erin's password", false},
		} {
			u, err := r.FindUser(ctx, tt.email)
			if err != nil {
				t.Fatalf("FindUser(%s): %v", tt.email, err)
			}
			if !u.EmailVerified || u.Enabled != tt.enabled || u.PasswordHash == "" {
				t.Errorf("%s: verified %t, enabled %t, has password %t; want true, %t, true",
					tt.email, u.EmailVerified, u.Enabled, u.PasswordHash != "", tt.enabled)
			}
		}
		if _, err := r.FindUser(ctx, "frank@example.com"); err == nil {
			t.Error("frank@example.com exists although his password was refused")
		}
	})
}

// TestUserAddPasswordFromEnv: LATCHKEY_PASSWORD stands in for --password, and
// set-password reads stdin when neither is given (one word: fmt.Fscanln stops
// at a space).
func TestUserAddPasswordFromEnv(t *testing.T) {
	cfgPath, _ := writeConfig(t)
	t.Setenv("LATCHKEY_PASSWORD", "grace's password")
	if out, err := runCLI(t, "--config", cfgPath, "user", "add", "grace@example.com"); err != nil || out != "" {
		t.Fatalf("user add with LATCHKEY_PASSWORD = %q, %v; want no output", out, err)
	}
	t.Setenv("LATCHKEY_PASSWORD", "")
	root := newRootCmd()
	var out strings.Builder
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader("grace-new-password\n"))
	root.SetArgs([]string{"--config", cfgPath, "user", "set-password", "grace@example.com"})
	if err := root.Execute(); err != nil {
		t.Fatalf("set-password from stdin: %v", err)
	}
	if want := "Password (input is read from stdin): password of grace@example.com set\n"; out.String() != want {
		t.Errorf("set-password from stdin printed %q, want %q", out.String(), want)
	}
	root = newRootCmd()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader(""))
	root.SetArgs([]string{"--config", cfgPath, "user", "set-password", "grace@example.com"})
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "read password: ") {
		t.Errorf("set-password with empty stdin = %v, want a read password error", err)
	}

	inRealm(t, cfgPath, func(ctx context.Context, r *realm.Realm) {
		if _, err := r.Authenticate(ctx, "grace@example.com", "grace-new-password"); err != nil {
			t.Errorf("Authenticate with the password read from stdin: %v", err)
		}
	})
}
