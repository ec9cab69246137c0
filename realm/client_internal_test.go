package realm

import (
	"testing"

	"github.com/latchkey/latchkey/internal/crypto/password"
)

// TestCheckSecretVerifiedCache shows that a secret that matched the argon2id
// hash once is answered from the cache (argon2id runs once per secret), and
// that failures are not cached.
func TestCheckSecretVerifiedCache(t *testing.T) {
	const secret = "client-secret"
	hash, err := password.HashWith(secret, password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	c := &Client{ID: "svc", secretPHC: hash}
	steps := []struct {
		name   string
		secret string
		// phc replaces the client's hash before the step ("" keeps it).
		phc  string
		want bool
	}{
		{"wrong secret", "nope", "", false},
		{"right secret verifies the hash", secret, "", true},
		// With an unusable hash only the cache can still say yes.
		{"cached after the hash is gone", secret, "not-a-hash", true},
		{"wrong secret is not cached", "nope", "not-a-hash", false},
		{"empty secret", "", "not-a-hash", false},
	}
	for _, st := range steps {
		if st.phc != "" {
			c.secretPHC = st.phc
		}
		if got := c.CheckSecret(st.secret); got != st.want {
			t.Errorf("%s: CheckSecret(%q) = %v, want %v", st.name, st.secret, got, st.want)
		}
	}
	n := 0
	c.verified.Range(func(any, any) bool { n++; return true })
	if n != 1 {
		t.Errorf("verified cache holds %d entries, want 1 (only the right secret)", n)
	}
}
