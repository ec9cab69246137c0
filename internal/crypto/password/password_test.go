package password

import (
	"errors"
	"testing"
)

func TestHashVerify(t *testing.T) {
	h, err := Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, pw, hash string
		want           error
	}{
		{"right", "correct horse", h, nil},
		{"wrong", "battery staple", h, ErrMismatch},
		{"empty", "", h, ErrMismatch},
		{"malformed", "x", "$argon2i$v=19$m=1,t=1,p=1$AAAA$AAAA", ErrMalformedHash},
		{"garbage", "x", "not a hash", ErrMalformedHash},
		{"huge memory", "x", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5", ErrMalformedHash},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Verify(tt.pw, tt.hash); !errors.Is(err, tt.want) {
				t.Fatalf("Verify() = %v, want %v", err, tt.want)
			}
		})
	}
	if !IsHash(h) {
		t.Fatalf("IsHash(%q) = false, want true", h)
	}
	if err := VerifyDummy("x"); !errors.Is(err, ErrMismatch) {
		t.Fatalf("VerifyDummy() = %v, want ErrMismatch", err)
	}
}

func BenchmarkVerify(b *testing.B) {
	h, _ := Hash("correct horse")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_ = Verify("correct horse", h)
	}
}
