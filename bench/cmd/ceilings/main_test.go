package main

import (
	"testing"
	"time"
)

func TestMeasure(t *testing.T) {
	r, err := measure(10*time.Millisecond, t.TempDir())
	if err != nil {
		t.Fatalf("measure() error = %v", err)
	}
	rates := map[string]float64{
		"rs256": r.RS256PerS, "es256": r.ES256PerS, "eddsa": r.EdDSAPerS,
		"argon2id": r.Argon2idPerS, "bbolt": r.BboltCommitPerS,
	}
	for name, got := range rates {
		if got <= 0 {
			t.Errorf("%s rate = %v, want > 0", name, got)
		}
	}
	if r.Argon2idParams == "" {
		t.Errorf("Argon2idParams = %q, want the server's parameters", r.Argon2idParams)
	}
}
