package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestRunServesAppAndPprof(t *testing.T) {
	dir := t.TempDir()
	listen, pprofAddr := freeAddr(t), freeAddr(t)
	cfg := filepath.Join(dir, "bench.yaml")
	yaml := fmt.Sprintf(`server:
  listen: %q
  tls:
    mode: "off"
storage:
  path: %q
realms:
  - name: bench
    signingAlgorithm: EdDSA
`, listen, filepath.Join(dir, "bench.db"))
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, pprofAddr) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run() = %v, want nil after cancel", err)
		}
	}()

	tests := []struct {
		url  string
		want int
	}{
		{"http://" + listen + "/health/ready", http.StatusOK},
		{"http://" + listen + "/auth/realms/bench/.well-known/openid-configuration", http.StatusOK},
		{"http://" + pprofAddr + "/debug/pprof/", http.StatusOK},
		{"http://" + listen + "/debug/pprof/", http.StatusNotFound}, // never on the app listener
	}
	for _, tt := range tests {
		if got := getStatus(t, tt.url); got != tt.want {
			t.Errorf("GET %s = %d, want %d", tt.url, got, tt.want)
		}
	}
}

func TestRunRefusesTLS(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "tls.yaml")
	yaml := "realms:\n  - name: bench\nstorage:\n  path: " + filepath.Join(t.TempDir(), "x.db") + "\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), cfg, "127.0.0.1:0"); err == nil {
		t.Error("run() with the default self-signed TLS = nil, want an error")
	}
}

// getStatus retries until the server is up (at most 10s).
func getStatus(t *testing.T, url string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return resp.StatusCode
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
