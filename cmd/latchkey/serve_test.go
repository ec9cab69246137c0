package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/config"
)

// TestServerTLS covers each server.tls.mode: off serves plain HTTP, files
// names the setting in its error, and self-signed writes the certificate
// beside the database and reuses it.
func TestServerTLS(t *testing.T) {
	dir := t.TempDir()
	cfg := func(mode string) *config.Config {
		var c config.Config
		c.Server.Listen = "localhost:8443"
		c.Server.TLS.Mode = mode
		c.Server.TLS.CertFile = filepath.Join(dir, "missing.crt")
		c.Server.TLS.KeyFile = filepath.Join(dir, "missing.key")
		c.Storage.Path = filepath.Join(dir, "latchkey.db")
		return &c
	}

	if tc, certFile, err := serverTLS(cfg(config.TLSOff)); tc != nil || certFile != "" || err != nil {
		t.Errorf("mode off: %v, %q, %v; want no TLS", tc, certFile, err)
	}
	if _, _, err := serverTLS(cfg(config.TLSFiles)); err == nil || !strings.Contains(err.Error(), "server.tls: load certificate") {
		t.Errorf("mode files without the files: %v, want a server.tls error", err)
	}
	tc, certFile, err := serverTLS(cfg(config.TLSSelfSigned))
	if err != nil || tc == nil || len(tc.Certificates) != 1 {
		t.Fatalf("mode self-signed: %v, %v; want one certificate", tc, err)
	}
	if want := filepath.Join(dir, "tls.crt"); certFile != want {
		t.Errorf("self-signed certificate file = %q, want %q", certFile, want)
	}
	if _, err := os.Stat(certFile); err != nil {
		t.Errorf("self-signed certificate not written: %v", err)
	}
	again, _, err := serverTLS(cfg(config.TLSSelfSigned))
	if err != nil || string(again.Certificates[0].Certificate[0]) != string(tc.Certificates[0].Certificate[0]) {
		t.Errorf("second self-signed call: %v; want the stored certificate again", err)
	}
}
