package credentials

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/latchkey/latchkey/realm"
	"github.com/latchkey/latchkey/storage"
)

// API key secret sources.
const (
	// SecretEnv, when set, holds the API key secret (at least 32 bytes of
	// text); it takes precedence over the secret file.
	SecretEnv = "LATCHKEY_API_KEY_SECRET"
	// SecretFileName is the secret file kept next to the database file. It is
	// created (mode 0600, 32 random bytes, base64url) when absent.
	SecretFileName = "apikey.secret"
	// minSecretLen is the shortest secret accepted: 256 bits of key material
	// when the secret is random bytes, as the generated one is.
	minSecretLen = 32
)

// ErrWeakSecret means the configured API key secret is too short.
var ErrWeakSecret = fmt.Errorf("API key secret must be at least %d bytes", minSecretLen)

// APIKeys derives the stable per-user API keys /user/login returns.
//
// A key is base64url(HMAC-SHA256(secret, realm, user id, APIKeyVersion)). The
// database stores only the version, so a copy of the database file alone
// reveals no key; the secret lives outside the database (SecretEnv or
// SecretFileName). Rotating a key bumps the version. Losing or replacing the
// secret changes every user's key, which is why it must be backed up with the
// database.
type APIKeys struct{ secret []byte }

// NewAPIKeys returns a deriver for secret; ErrWeakSecret if it is too short.
func NewAPIKeys(secret []byte) (*APIKeys, error) {
	if len(secret) < minSecretLen {
		return nil, ErrWeakSecret
	}
	return &APIKeys{secret: append([]byte(nil), secret...)}, nil
}

// LoadAPIKeys reads the API key secret from SecretEnv or, when that is unset,
// from SecretFileName in the directory of the database file at storagePath,
// creating that file atomically on first use (so a server and an admin command
// starting together agree on one secret).
func LoadAPIKeys(storagePath string) (*APIKeys, error) {
	if v, ok := os.LookupEnv(SecretEnv); ok {
		k, err := NewAPIKeys([]byte(strings.TrimSpace(v)))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", SecretEnv, err)
		}
		return k, nil
	}
	path := filepath.Join(filepath.Dir(storagePath), SecretFileName)
	secret, err := readOrCreateSecret(path)
	if err != nil {
		return nil, err
	}
	k, err := NewAPIKeys(secret)
	if err != nil {
		return nil, fmt.Errorf("API key secret file %s: %w", path, err)
	}
	return k, nil
}

func readOrCreateSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return []byte(strings.TrimSpace(string(b))), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read API key secret: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("generate API key secret: %w", err)
	}
	secret := []byte(base64.RawURLEncoding.EncodeToString(raw))
	if err := createExclusive(path, append(secret, '\n')); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Another process created it first: use theirs.
			return readOrCreateSecret(path)
		}
		return nil, fmt.Errorf("create API key secret %s: %w", path, err)
	}
	return secret, nil
}

// createExclusive writes data to path only if path does not exist, so that
// no reader ever sees a partly written file: it writes and syncs a temporary
// file and hard-links it into place (link fails if the target exists).
func createExclusive(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".apikey-secret-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the new directory entry durable where supported
		d.Close()
	}
	return nil
}

// Key returns the user's current API key.
func (k *APIKeys) Key(u storage.User) string {
	m := hmac.New(sha256.New, k.secret)
	// NUL separators keep (realm, id, version) unambiguous: storage refuses
	// NUL in identifiers.
	m.Write([]byte("latchkey api key v1\x00"))
	m.Write([]byte(u.Realm))
	m.Write([]byte{0})
	m.Write([]byte(u.ID))
	m.Write([]byte{0})
	m.Write([]byte(strconv.Itoa(u.APIKeyVersion)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Verify reports, in constant time, whether key is the user's current API key.
func (k *APIKeys) Verify(u storage.User, key string) bool {
	return hmac.Equal([]byte(k.Key(u)), []byte(key))
}

// RotateAPIKey replaces the user's API key by bumping its version; the old
// key stops matching at once. It returns the updated user (storage.ErrNotFound
// wrapped when the user does not exist).
func RotateAPIKey(ctx context.Context, r *realm.Realm, userID string) (storage.User, error) {
	u, err := r.Store.UpdateUser(ctx, r.Name, userID, func(u storage.User) (storage.User, error) {
		u.APIKeyVersion++
		u.UpdatedAt = r.Now()
		return u, nil
	})
	if err != nil {
		return storage.User{}, fmt.Errorf("rotate API key of user %q in realm %q: %w", userID, r.Name, err)
	}
	return u, nil
}

// ErrSecretMismatch means the API key secret is not the one the database was
// first used with: replicas with different secrets would hand out different
// keys for one user.
var ErrSecretMismatch = fmt.Errorf("%s differs from the secret this database was first used with; every replica must use the same one", SecretEnv)

// LoadSharedAPIKeys is LoadAPIKeys for replicas that share a database: the
// secret must come from SecretEnv (a file next to a database file does not
// exist there), and it must be the one the database was first used with,
// which the database remembers by fingerprint only.
func LoadSharedAPIKeys(ctx context.Context, store storage.Keys) (*APIKeys, error) {
	v, ok := os.LookupEnv(SecretEnv)
	if !ok || strings.TrimSpace(v) == "" {
		return nil, fmt.Errorf("%s is required with storage.driver postgres (at least %d bytes, the same on every replica)", SecretEnv, minSecretLen)
	}
	k, err := NewAPIKeys([]byte(strings.TrimSpace(v)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", SecretEnv, err)
	}
	mine := k.fingerprint()
	stored, err := store.RealmSecret(ctx, "_server", "api-key-secret-fingerprint", func() ([]byte, error) { return mine, nil })
	if err != nil {
		return nil, fmt.Errorf("check the API key secret's fingerprint: %w", err)
	}
	if !hmac.Equal(stored, mine) {
		return nil, ErrSecretMismatch
	}
	return k, nil
}

// fingerprint identifies the secret without revealing it or any key: an
// HMAC of a fixed label, under the secret.
func (k *APIKeys) fingerprint() []byte {
	m := hmac.New(sha256.New, k.secret)
	m.Write([]byte("latchkey api key secret fingerprint v1"))
	return m.Sum(nil)
}
