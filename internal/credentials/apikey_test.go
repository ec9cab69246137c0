package credentials_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/latchkey/latchkey/internal/credentials"
	"github.com/latchkey/latchkey/internal/testkit"
)

// TestAPIKeyLifecycle checks that the API key is stable across logins and
// restarts, differs between users, changes on rotation (and then is stable
// again), and is found neither in the database file nor in the logs.
func TestAPIKeyLifecycle(t *testing.T) {
	env := testkit.New(t, testConfig, testkit.Options{NoMail: true})
	c := env.Client()
	first := login(t, env, c, "alice@example.com", alicePassword).ResponseData.APIKey
	if len(first) != 43 {
		t.Fatalf("apiKey %q has %d characters, want 43 (256-bit base64url)", first, len(first))
	}
	if again := login(t, env, c, "ALICE@example.com", alicePassword).ResponseData.APIKey; again != first {
		t.Fatalf("apiKey changed between logins: %q then %q", first, again)
	}
	if carol := login(t, env, c, "carol@example.com", carolPassword).ResponseData.APIKey; carol == first {
		t.Fatalf("two users got the same apiKey %q", first)
	}
	other := postJSON(t, c, env.URL+"/auth/realms/ec/user/login", loginBody("alice@example.com", alicePassword))
	if between(other.body, `"apiKey":"`, `"`) == first {
		t.Fatal("the same email in two realms got the same apiKey")
	}

	env.Restart()
	c = env.Client()
	if after := login(t, env, c, "alice@example.com", alicePassword).ResponseData.APIKey; after != first {
		t.Fatalf("apiKey changed across a restart: %q then %q", first, after)
	}

	alice := user(t, env, "alice@example.com")
	rotated, err := credentials.RotateAPIKey(context.Background(), acme(t, env), alice.ID)
	if err != nil {
		t.Fatalf("RotateAPIKey() = %v", err)
	}
	if rotated.APIKeyVersion != alice.APIKeyVersion+1 {
		t.Fatalf("APIKeyVersion after rotation = %d, want %d", rotated.APIKeyVersion, alice.APIKeyVersion+1)
	}
	second := login(t, env, c, "alice@example.com", alicePassword).ResponseData.APIKey
	if second == first {
		t.Fatal("apiKey unchanged after rotation")
	}
	if again := login(t, env, c, "alice@example.com", alicePassword).ResponseData.APIKey; again != second {
		t.Fatalf("apiKey not stable after rotation: %q then %q", second, again)
	}

	db, err := os.ReadFile(env.Config.Storage.Path)
	if err != nil {
		t.Fatalf("read database file: %v", err)
	}
	secretPath := filepath.Join(filepath.Dir(env.Config.Storage.Path), credentials.SecretFileName)
	secret, err := os.ReadFile(secretPath)
	if err != nil {
		t.Fatalf("read secret file: %v", err)
	}
	for name, s := range map[string][]byte{"first apiKey": []byte(first), "second apiKey": []byte(second), "secret": bytes.TrimSpace(secret)} {
		if bytes.Contains(db, s) {
			t.Errorf("database file contains the %s", name)
		}
		if bytes.Contains([]byte(env.Logs.String()), s) {
			t.Errorf("logs contain the %s", name)
		}
	}
	if fi, err := os.Stat(secretPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode = %v (%v), want 0600", fi.Mode().Perm(), err)
	}
}

func TestRotateAPIKeyUnknownUser(t *testing.T) {
	env := testkit.New(t, testConfig, testkit.Options{NoMail: true})
	if _, err := credentials.RotateAPIKey(context.Background(), acme(t, env), "no-such-id"); err == nil {
		t.Fatal("RotateAPIKey(unknown user) = nil, want an error")
	}
}
