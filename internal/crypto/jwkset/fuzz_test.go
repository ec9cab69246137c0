package jwkset_test

import (
	"testing"

	"github.com/latchkey/latchkey/internal/crypto/jwkset"
)

// FuzzParse feeds arbitrary documents to Parse, which reads what a client's
// jwksUri serves: it must never panic, and what it keeps must be public
// signature keys that Select can pick from.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM","use":"sig","kid":"1"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"oct","k":"AAAA"}]}`))
	f.Add([]byte(`{"keys":[]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"","e":""}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		keys, _, err := jwkset.Parse(doc)
		if err != nil {
			return
		}
		for _, k := range keys {
			if !k.IsPublic() {
				t.Fatalf("Parse kept a non-public key %q", k.KeyID)
			}
			_, _ = jwkset.Select(keys, k.KeyID, "")
		}
	})
}
