// Package password hashes and verifies passwords and client secrets with
// argon2id, stored as PHC strings ($argon2id$v=19$m=...,t=...,p=...$salt$hash).
//
// Hashing is memory-hard by design; a semaphore bounds how many hashes run at
// once (one per CPU) so that a burst of logins cannot exhaust memory.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	SaltLen uint32
	KeyLen  uint32
}

// DefaultParams follow OWASP's Password Storage Cheat Sheet (argon2id, m=19 MiB,
// t=2, p=1): the recommended minimum that keeps a login near 25 ms per core.
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// ErrMismatch means the password does not match the hash.
var ErrMismatch = errors.New("password does not match")

// ErrMalformedHash means the stored hash is not an argon2id PHC string.
var ErrMalformedHash = errors.New("malformed argon2id hash")

var slots = make(chan struct{}, runtime.GOMAXPROCS(0))

func derive(pw, salt []byte, p Params) []byte {
	slots <- struct{}{}
	defer func() { <-slots }()
	return argon2.IDKey(pw, salt, p.Time, p.Memory, p.Threads, p.KeyLen)
}

// Hash returns the PHC string of password under DefaultParams.
func Hash(password string) (string, error) { return HashWith(password, DefaultParams) }

// HashWith returns the PHC string of password under p.
func HashWith(password string, p Params) (string, error) {
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("read salt: %w", err)
	}
	key := derive([]byte(password), salt, p)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// Verify checks password against a PHC hash in constant time. It returns nil,
// ErrMismatch, or ErrMalformedHash.
func Verify(password, phc string) error {
	p, salt, want, err := parse(phc)
	if err != nil {
		return err
	}
	got := derive([]byte(password), salt, p)
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrMismatch
	}
	return nil
}

// IsHash reports whether s looks like an argon2id PHC string we can verify.
func IsHash(s string) bool {
	_, _, _, err := parse(s)
	return err == nil
}

func parse(phc string) (Params, []byte, []byte, error) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return Params{}, nil, nil, ErrMalformedHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return Params{}, nil, nil, ErrMalformedHash
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return Params{}, nil, nil, ErrMalformedHash
	}
	if p.Memory == 0 || p.Time == 0 || p.Threads == 0 || p.Memory > 4*1024*1024 {
		return Params{}, nil, nil, ErrMalformedHash
	}
	enc := base64.RawStdEncoding
	salt, err := enc.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return Params{}, nil, nil, ErrMalformedHash
	}
	key, err := enc.DecodeString(parts[5])
	if err != nil || len(key) < 16 {
		return Params{}, nil, nil, ErrMalformedHash
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}

// dummyHash is verified against when the account does not exist, so that an
// unknown user costs the same time as a wrong password.
// It is built on first use, not at start, so that commands that never check a
// password do not pay for an argon2id run.
var dummyHash = sync.OnceValue(func() string {
	h, err := Hash("latchkey-dummy-password")
	if err != nil {
		// crypto/rand failing leaves no safe way to continue.
		panic(fmt.Sprintf("build dummy password hash: %v", err))
	}
	return h
})

// VerifyDummy spends the time of one Verify and always returns ErrMismatch.
func VerifyDummy(password string) error {
	_ = Verify(password, dummyHash())
	return ErrMismatch
}
