package crashtest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/bench/crashtest"
)

// TestSoakShort is the bounded soak CI runs: 64 clients for 10 s against
// the real binary, with the same checks as go run ./scripts/soak (no 5xx,
// RSS flat after the warm-up, no goroutine leak, clean exit).
func TestSoakShort(t *testing.T) {
	if testing.Short() {
		t.Skip("soak: skipped with -short")
	}
	rep, err := crashtest.Soak(context.Background(), crashtest.SoakOptions{
		Binary: latchkeyBinary(t), Duration: 10 * time.Second, Warmup: 4 * time.Second, Settle: 2 * time.Second,
		Logf: t.Logf,
	})
	if err != nil {
		t.Fatalf("soak did not run: %v", err)
	}
	var b strings.Builder
	_, _ = rep.WriteTo(&b)
	t.Log("\n" + b.String())
	for _, v := range rep.Violations {
		t.Error(v)
	}
}
