package credentials

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/jsonapi"
	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/bboltstore/bolttest"
)

func TestSecondsMarshal(t *testing.T) {
	tests := []struct {
		in   seconds
		want string
	}{
		{3600, "3600.0"}, {0, "0.0"}, {1.5, "1.5"}, {86400, "86400.0"}, {1e21, "1000000000000000000000.0"},
	}
	for _, tt := range tests {
		b, err := json.Marshal(struct {
			E seconds `json:"expires"`
		}{tt.in})
		if want := `{"expires":` + tt.want + `}`; err != nil || string(b) != want {
			t.Errorf("marshal %v = %s, %v; want %s", float64(tt.in), b, err, want)
		}
	}
}

// TestErrorBodies covers the answers to server-side faults, which the HTTP
// tests cannot provoke without breaking the real store.
func TestErrorBodies(t *testing.T) {
	unavailable := fmt.Errorf("look up user: %w", storage.ErrUnavailable)
	fault := errors.New("signing key missing")
	tests := []struct {
		name      string
		err       error
		write     func(http.ResponseWriter, *http.Request, error) int
		wantCode  int
		wantBody  string
		wantRetry string
	}{
		{"login storage down", unavailable, writeLoginError, 503, `{"responseCode":503,"responseMessage":"Service temporarily unavailable"}`, ""},
		{"login client gone", context.Canceled, writeLoginError, 503, `{"responseCode":503,"responseMessage":"Service temporarily unavailable"}`, ""},
		{"login fault", fault, writeLoginError, 500, `{"responseCode":500,"responseMessage":"Internal server error"}`, ""},
		{"login locked", &realm.LockedError{RetryAfter: 1500 * time.Millisecond}, writeLoginError, 429, `{"responseCode":429,"responseMessage":"Too many failed login attempts, please try again later"}`, "2"},
		{"login limited below a second", &jsonapi.LimitedError{RetryAfter: time.Millisecond}, writeLoginError, 429, `{"responseCode":429,"responseMessage":"Too many requests, please try again later"}`, "1"},
		{"login lockout started", fmt.Errorf("%w: %w", realm.ErrWrongPassword, realm.ErrLockoutStarted), writeLoginError, 405, `{"responseCode":405,"responseMessage":"Please provide valid password"}`, ""},
		{"wf storage down", unavailable, writeWFError, 503, `{"message":"Service temporarily unavailable"}`, ""},
		{"wf fault", fault, writeWFError, 500, `{"code":"INTERNAL_ERROR","message":"Internal server error"}`, ""},
		{"wf locked", &realm.LockedError{RetryAfter: 90 * time.Second}, writeWFError, 429, `{"message":"Too many failed login attempts, please try again later"}`, "90"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tt.write(rec, httptest.NewRequest(http.MethodPost, "/x", nil), tt.err)
			if rec.Code != tt.wantCode || rec.Body.String() != tt.wantBody || rec.Header().Get("Retry-After") != tt.wantRetry {
				t.Fatalf("answer to %v = %d %s (Retry-After %q), want %d %s (Retry-After %q)", tt.err,
					rec.Code, rec.Body.String(), rec.Header().Get("Retry-After"), tt.wantCode, tt.wantBody, tt.wantRetry)
			}
		})
	}
}

func TestAPIKeyDerivation(t *testing.T) {
	k, err := NewAPIKeys([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	base := storage.User{Realm: "acme", ID: "u1", APIKeyVersion: 0}
	key := k.Key(base)
	if !k.Verify(base, key) {
		t.Fatal("Verify(own key) = false")
	}
	variants := map[string]storage.User{
		"other realm":   {Realm: "acme2", ID: "u1"},
		"other user":    {Realm: "acme", ID: "u2"},
		"next version":  {Realm: "acme", ID: "u1", APIKeyVersion: 1},
		"shifted parts": {Realm: "acm", ID: "eu1"},
	}
	for name, u := range variants {
		if k.Key(u) == key || k.Verify(u, key) {
			t.Errorf("%s: same key as the base user", name)
		}
	}
	other, _ := NewAPIKeys([]byte("another secret of at least 32 bytes"))
	if other.Key(base) == key {
		t.Error("two secrets derive the same key")
	}
	if _, err := NewAPIKeys([]byte("short")); !errors.Is(err, ErrWeakSecret) {
		t.Errorf("NewAPIKeys(short) = %v, want ErrWeakSecret", err)
	}
}

func TestLoadAPIKeysFromEnv(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(SecretEnv, "  an environment secret of 32+ bytes!  ")
	k, err := LoadAPIKeys(filepath.Join(dir, "latchkey.db"))
	if err != nil {
		t.Fatalf("LoadAPIKeys() = %v", err)
	}
	want, _ := NewAPIKeys([]byte("an environment secret of 32+ bytes!"))
	if u := (storage.User{Realm: "r", ID: "u"}); k.Key(u) != want.Key(u) {
		t.Error("the env secret was not used (or not trimmed)")
	}
	if _, err := os.Stat(filepath.Join(dir, SecretFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("secret file created although %s is set (stat: %v)", SecretEnv, err)
	}
	t.Setenv(SecretEnv, "too short")
	if _, err := LoadAPIKeys(filepath.Join(dir, "latchkey.db")); !errors.Is(err, ErrWeakSecret) {
		t.Errorf("LoadAPIKeys(short env secret) = %v, want ErrWeakSecret", err)
	}
}

// TestLoadAPIKeysConcurrentCreate starts many loaders on a fresh directory:
// all must end with the same secret, and the file must be complete.
func TestLoadAPIKeysConcurrentCreate(t *testing.T) {
	dir := t.TempDir()
	const n = 16
	keys := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k, err := LoadAPIKeys(filepath.Join(dir, "latchkey.db"))
			errs[i] = err
			if err == nil {
				keys[i] = k.Key(storage.User{Realm: "r", ID: "u"})
			}
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || keys[i] != keys[0] {
			t.Fatalf("loader %d: key %q err %v, want key %q", i, keys[i], errs[i], keys[0])
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != SecretFileName {
		t.Errorf("directory holds %v, want only %s (no temporary files left)", entries, SecretFileName)
	}
	if err := os.WriteFile(filepath.Join(dir, SecretFileName), []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadAPIKeys(filepath.Join(dir, "latchkey.db")); !errors.Is(err, ErrWeakSecret) {
		t.Errorf("LoadAPIKeys(truncated secret file) = %v, want ErrWeakSecret", err)
	}
}

// TestLoadSharedAPIKeys: replicas on one database need the secret from the
// environment, and the first one used with the database; another is refused.
func TestLoadSharedAPIKeys(t *testing.T) {
	ctx := context.Background()
	store := bolttest.Open(t, nil)
	t.Setenv(SecretEnv, "")
	if _, err := LoadSharedAPIKeys(ctx, store); err == nil || !strings.Contains(err.Error(), SecretEnv) {
		t.Fatalf("without %s = %v, want an error naming it", SecretEnv, err)
	}
	t.Setenv(SecretEnv, "first-secret-of-at-least-32-bytes-long")
	first, err := LoadSharedAPIKeys(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadSharedAPIKeys(ctx, store)
	if err != nil {
		t.Fatalf("the same secret again = %v", err)
	}
	u := storage.User{Realm: "r", ID: "u"}
	if first.Key(u) != again.Key(u) {
		t.Error("the same secret derives other keys")
	}
	t.Setenv(SecretEnv, "another-secret-of-at-least-32-bytes-long")
	if _, err := LoadSharedAPIKeys(ctx, store); !errors.Is(err, ErrSecretMismatch) {
		t.Errorf("another secret = %v, want ErrSecretMismatch", err)
	}
}
