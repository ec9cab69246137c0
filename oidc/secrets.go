package oidc

import (
	"crypto/rand"
	"encoding/base64"
)

var randRead = rand.Read

// newSecret returns n random bytes, base64url-encoded.
func newSecret(n int) string {
	b := make([]byte, n)
	_, _ = randRead(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
