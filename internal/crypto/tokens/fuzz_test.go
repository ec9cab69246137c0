package tokens_test

import (
	"context"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/crypto/keys"
	"github.com/latchkey/latchkey/internal/crypto/tokens"
)

// FuzzVerify feeds arbitrary bearer strings to Verify: it must never panic,
// and with a healthy store every refusal is an invalid-token error (never a
// fault that would become a 500). "{token}" is replaced by a valid token so
// that the fuzzer also mutates around a real one.
func FuzzVerify(f *testing.F) {
	e := newEnv(f, keys.ES256)
	good, _ := e.mint(f, tokens.Spec{Subject: "user-1", SessionID: "sid", Audience: []string{"a"}})
	for _, s := range []string{"{token}", "{token}x", "x{token}", "{token}.", "a.b.c", "..", "", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
		`{"protected":"a","payload":"b","signature":"c","x":".."}`, "{token}{token}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		raw = strings.ReplaceAll(raw, "{token}", good)
		c, err := e.svc.Verify(context.Background(), raw)
		switch {
		case err != nil && !tokens.IsInvalid(err):
			t.Fatalf("Verify(%q) = %v, want an invalid-token error", raw, err)
		case err == nil && (c == nil || c.Issuer != e.svc.Issuer):
			t.Fatalf("Verify(%q) accepted claims %+v", raw, c)
		}
	})
}
