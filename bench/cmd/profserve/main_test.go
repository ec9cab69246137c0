package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testkit/loopback"
)

func TestRunServesAppAndPprof(t *testing.T) {
	dir := t.TempDir()
	listen, pprofAddr := loopback.FreeAddr(t), loopback.FreeAddr(t)
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
		if got := loopback.Get(t, tt.url, 10*time.Second); got != tt.want {
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
