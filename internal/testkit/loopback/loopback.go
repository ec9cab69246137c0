// Package loopback is the test kit's help for tests that start a real
// server on 127.0.0.1 themselves (the bench tools' tests): an address to
// give it, and a wait until it answers. It imports nothing of Latchkey.
package loopback

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testkit/poll"
)

// FreeAddr returns a 127.0.0.1 address ("host:port") that was free a
// moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Get GETs url until a server answers it (one starting in another
// goroutine refuses connections until it listens) and returns the answer's
// status; no answer within timeout fails the test.
func Get(t testing.TB, url string, timeout time.Duration) int {
	t.Helper()
	var status int
	var err error
	answered := poll.Within(timeout, func() bool {
		var resp *http.Response
		if resp, err = http.Get(url); err != nil {
			return false
		}
		resp.Body.Close()
		status = resp.StatusCode
		return true
	})
	if !answered {
		t.Fatalf("GET %s: no answer within %s: %v", url, timeout, err)
	}
	return status
}
