package realm_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
)

func TestNormalizeEmail(t *testing.T) {
	long := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 57) + ".com"
	if len(long) != 254 {
		t.Fatalf("test setup: long address has %d bytes, want 254", len(long))
	}
	tests := []struct {
		name, in, want string // want "" = ErrInvalidEmail
	}{
		{"plain", "user@example.com", "user@example.com"},
		{"trimmed", "  user@example.com\t", "user@example.com"},
		{"case kept", "User@Example.COM", "User@Example.COM"},
		{"plus tag", "user+tag@example.com", "user+tag@example.com"},
		{"apostrophe", "o'neil@example.com", "o'neil@example.com"},
		{"subdomain", "a.b@mail.example.co.uk", "a.b@mail.example.co.uk"},
		{"localhost", "dev@localhost", "dev@localhost"},
		{"unicode local part", "üser@example.com", "üser@example.com"},
		{"unicode domain", "user@exämple.com", "user@exämple.com"},
		{"254 bytes", long, long},

		{"empty", "", ""},
		{"spaces only", "   ", ""},
		{"display name", "User <user@example.com>", ""},
		{"angle brackets", "<user@example.com>", ""},
		{"quoted display name", `"User" <user@example.com>`, ""},
		{"quoted local part", `"a b"@example.com`, ""},
		{"CRLF header injection", "user@example.com\r\nBcc: victim@example.com", ""},
		{"LF injection", "user@example.com\nBcc: victim@example.com", ""},
		{"CR alone", "user@exa\rmple.com", ""},
		{"inner space", "us er@example.com", ""},
		{"inner tab", "user@exa\tmple.com", ""},
		{"two addresses", "a@example.com, b@example.com", ""},
		{"semicolon list", "a@example.com;b@example.com", ""},
		{"comment", "user(comment)@example.com", ""},
		{"255 bytes", "a" + long, ""},
		{"no TLD", "user@example", ""},
		{"no domain", "user@", ""},
		{"no local part", "@example.com", ""},
		{"no at", "user.example.com", ""},
		{"double at", "user@@example.com", ""},
		{"leading dot domain", "user@.example.com", ""},
		{"double dot domain", "user@example..com", ""},
		{"trailing dot domain", "user@example.com.", ""},
		{"trailing dot local", "user.@example.com", ""},
		{"invalid UTF-8", "us\xffer@example.com", ""},
		{"NUL", "user\x00@example.com", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := realm.NormalizeEmail(tt.in)
			if tt.want == "" {
				if !errors.Is(err, realm.ErrInvalidEmail) {
					t.Fatalf("NormalizeEmail(%q) = %q, %v; want ErrInvalidEmail", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NormalizeEmail(%q) = %q, %v; want %q, nil", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestNewUserID(t *testing.T) {
	uuidV4 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 100 {
		id := realm.NewUserID()
		if !uuidV4.MatchString(id) {
			t.Fatalf("NewUserID() = %q, want an RFC 4122 version-4 UUID", id)
		}
		if seen[id] {
			t.Fatalf("NewUserID() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestEnsureUser(t *testing.T) {
	r, store, _ := newDemo(t)
	ctx := context.Background()
	tests := []struct {
		name, email string
		wantErr     error
		wantCreated bool
		wantID      func() string // nil: any new id
	}{
		{"invalid email", "not an email", realm.ErrInvalidEmail, false, nil},
		{"existing seed user, other case", "ALICE@example.com", nil, false, func() string {
			u, _ := store.GetUserByEmail(ctx, "demo", "alice@example.com")
			return u.ID
		}},
		{"new user", "  new@example.com ", nil, true, nil},
		{"same new user again", "New@Example.com", nil, false, func() string {
			u, _ := store.GetUserByEmail(ctx, "demo", "new@example.com")
			return u.ID
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, created, err := r.EnsureUser(ctx, tt.email)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("EnsureUser(%q) error = %v, want %v", tt.email, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if created != tt.wantCreated {
				t.Errorf("EnsureUser(%q) created = %v, want %v", tt.email, created, tt.wantCreated)
			}
			if tt.wantID != nil && u.ID != tt.wantID() {
				t.Errorf("EnsureUser(%q) id = %q, want %q", tt.email, u.ID, tt.wantID())
			}
			if created && (!u.Enabled || u.EmailVerified || u.PasswordHash != "" || u.Username != "new@example.com" || u.Email != "new@example.com") {
				t.Errorf("new user = %+v, want enabled, unverified, no password, username and email new@example.com", u)
			}
		})
	}
}

// Fifty parallel EnsureUser calls for one address end with one user, and
// every caller gets that user.
func TestEnsureUserRace(t *testing.T) {
	r, store, _ := newDemo(t)
	ctx := context.Background()
	before, err := store.CountUsers(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	type result struct {
		id      string
		created bool
		err     error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			email := "race@example.com"
			if i%2 == 1 {
				email = "Race@Example.com"
			}
			u, created, err := r.EnsureUser(ctx, email)
			results[i] = result{u.ID, created, err}
		}()
	}
	close(start)
	wg.Wait()
	created := 0
	for i, res := range results {
		if res.err != nil {
			t.Fatalf("call %d: EnsureUser: %v", i, res.err)
		}
		if res.id != results[0].id {
			t.Errorf("call %d got user %q, call 0 got %q: want one user", i, res.id, results[0].id)
		}
		if res.created {
			created++
		}
	}
	if created != 1 {
		t.Errorf("%d calls reported created, want exactly 1", created)
	}
	after, err := store.CountUsers(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if after != before+1 {
		t.Errorf("CountUsers = %d after the race, want %d", after, before+1)
	}
}

// Disabling a user ends their sessions (with their refresh tokens), their
// other refresh tokens, and their live one-time tokens; enabling does not
// bring anything back.
func TestSetEnabledFalseEndsEverything(t *testing.T) {
	r, store, clk := newDemo(t)
	ctx := context.Background()
	alice, err := store.GetUserByEmail(ctx, "demo", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	bob, _, err := r.EnsureUser(ctx, "bob@example.com")
	if err != nil {
		t.Fatal(err)
	}
	now := clk.Now()
	for _, u := range []storage.User{alice, bob} {
		sess := storage.Session{Realm: "demo", ID: "sess-" + u.ID, TokenHash: "th-" + u.ID, UserID: u.ID,
			AuthTime: now, LastSeen: now, IdleUntil: now.Add(time.Hour), ExpiresAt: now.Add(time.Hour), CreatedAt: now}
		if err := store.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
		for _, rt := range []storage.RefreshToken{
			{Realm: "demo", ID: "rt-sess-" + u.ID, Hash: "h-sess-" + u.ID, ClientID: "code", UserID: u.ID, SessionID: sess.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
			{Realm: "demo", ID: "rt-free-" + u.ID, Hash: "h-free-" + u.ID, ClientID: "svc", UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
		} {
			if err := store.CreateRefreshToken(ctx, rt); err != nil {
				t.Fatal(err)
			}
		}
		ott := storage.OneTimeToken{Realm: "demo", Kind: "magiclink", Hash: "ott-" + u.ID, Subject: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := store.IssueOneTimeToken(ctx, ott); err != nil {
			t.Fatal(err)
		}
	}

	clk.Advance(time.Minute)
	if err := r.SetEnabled(ctx, alice.ID, false); err != nil {
		t.Fatalf("SetEnabled(false): %v", err)
	}
	if err := r.SetEnabled(ctx, alice.ID, true); err != nil {
		t.Fatalf("SetEnabled(true): %v", err)
	}

	checks := []struct {
		name    string
		user    storage.User
		wantErr error // of the record's lookup; nil = still there
		lookup  func(u storage.User) error
	}{
		{"session", alice, storage.ErrNotFound, func(u storage.User) error {
			_, err := store.GetSession(ctx, "demo", "sess-"+u.ID)
			return err
		}},
		{"session refresh token", alice, storage.ErrNotFound, func(u storage.User) error {
			_, err := store.GetRefreshTokenByHash(ctx, "demo", "h-sess-"+u.ID)
			return err
		}},
		{"sessionless refresh token", alice, storage.ErrNotFound, func(u storage.User) error {
			_, err := store.GetRefreshTokenByHash(ctx, "demo", "h-free-"+u.ID)
			return err
		}},
		{"one-time token", alice, storage.ErrConsumed, func(u storage.User) error {
			_, err := store.ConsumeOneTimeToken(ctx, "demo", "magiclink", "ott-"+u.ID, clk.Now())
			return err
		}},
		// Another user's records are untouched.
		{"other user's session", bob, nil, func(u storage.User) error {
			_, err := store.GetSession(ctx, "demo", "sess-"+u.ID)
			return err
		}},
		{"other user's refresh token", bob, nil, func(u storage.User) error {
			_, err := store.GetRefreshTokenByHash(ctx, "demo", "h-free-"+u.ID)
			return err
		}},
		{"other user's one-time token", bob, nil, func(u storage.User) error {
			_, err := store.ConsumeOneTimeToken(ctx, "demo", "magiclink", "ott-"+u.ID, clk.Now())
			return err
		}},
	}
	for _, c := range checks {
		if err := c.lookup(c.user); !errors.Is(err, c.wantErr) || (c.wantErr == nil && err != nil) {
			t.Errorf("%s of %s after disable: error %v, want %v", c.name, c.user.Email, err, c.wantErr)
		}
	}
	u, err := store.GetUser(ctx, "demo", alice.ID)
	if err != nil || !u.Enabled || !u.UpdatedAt.Equal(clk.Now()) {
		t.Errorf("user after re-enable = enabled %v, updated %v, err %v; want enabled, updated %v", u.Enabled, u.UpdatedAt, err, clk.Now())
	}
}

func TestSetEnabledUnknownUser(t *testing.T) {
	r, _, _ := newDemo(t)
	err := r.SetEnabled(context.Background(), "no-such-user", false)
	if !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("SetEnabled(unknown) = %v, want storage.ErrNotFound", err)
	}
}

func TestPasswordPolicy(t *testing.T) {
	r, _, _ := newDemo(t)
	tests := []struct {
		name, pw string
		ok       bool
	}{
		{"empty", "", false},
		{"7 characters", "1234567", false},
		{"8 characters", "12345678", true},
		// Counted in characters, not bytes.
		{"7 runes in 14 bytes", "ääääääää"[:14], false},
		{"8 runes", "ääääääää", true},
		{"1024 bytes", strings.Repeat("x", 1024), true},
		{"1025 bytes", strings.Repeat("x", 1025), false},
	}
	for _, tt := range tests {
		err := r.CheckPasswordPolicy(tt.pw)
		if tt.ok && err != nil || !tt.ok && !errors.Is(err, realm.ErrPasswordPolicy) {
			t.Errorf("%s: CheckPasswordPolicy = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

// SetPassword stores a hash that Authenticate accepts, and refuses a
// password against the policy without touching the stored one.
func TestSetPassword(t *testing.T) {
	r, store, _ := newDemo(t)
	ctx := context.Background()
	u, err := store.GetUserByEmail(ctx, "demo", "nopass@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetPassword(ctx, u.ID, "short"); !errors.Is(err, realm.ErrPasswordPolicy) {
		t.Fatalf("SetPassword(short) = %v, want ErrPasswordPolicy", err)
	}
	if got, _ := store.GetUser(ctx, "demo", u.ID); got.PasswordHash != "" {
		t.Fatalf("refused password was stored: hash %q", got.PasswordHash)
	}
	if err := r.SetPassword(ctx, "no-such-user", "long enough"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("SetPassword(unknown user) = %v, want storage.ErrNotFound", err)
	}
	if err := r.SetPassword(ctx, u.ID, "long enough"); err != nil {
		t.Fatalf("SetPassword: %v", err)
	}
	if _, err := r.Authenticate(ctx, "nopass@example.com", "long enough"); err != nil {
		t.Errorf("Authenticate with the new password: %v", err)
	}
}

func TestFindUser(t *testing.T) {
	r, _, _ := newDemo(t)
	ctx := context.Background()
	tests := []struct {
		login, wantEmail string // "" = ErrNotFound
	}{
		{"alice@example.com", "alice@example.com"},
		{"ALICE@EXAMPLE.COM", "alice@example.com"},
		{"  alice@example.com  ", "alice@example.com"},
		{"alice", "alice@example.com"},
		{"Alice", "alice@example.com"},
		{"nopass@example.com", "nopass@example.com"},
		{"bob", ""},
		{"", ""},
		{"   ", ""},
	}
	for _, tt := range tests {
		u, err := r.FindUser(ctx, tt.login)
		switch {
		case tt.wantEmail == "" && !errors.Is(err, storage.ErrNotFound):
			t.Errorf("FindUser(%q) = %q, %v; want storage.ErrNotFound", tt.login, u.Email, err)
		case tt.wantEmail != "" && (err != nil || u.Email != tt.wantEmail):
			t.Errorf("FindUser(%q) = %q, %v; want %q", tt.login, u.Email, err, tt.wantEmail)
		}
	}
}
