package oidc_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/server"
	"github.com/latchkey/latchkey/storage/bboltstore"
)

const benchPublicURL = "https://latchkey.test"

// benchServer builds the real server (same config as the end-to-end tests,
// bbolt in b.TempDir()) with a logger that drops the per-request debug line,
// so that the numbers measure the server rather than the test log buffer.
func benchServer(b *testing.B) http.Handler {
	b.Helper()
	return benchServerWith(b, e2eConfig, nil)
}

// benchServerWith is benchServer for another config and, when now is set,
// that clock for the server and its store.
func benchServerWith(b *testing.B, yamlConfig string, now func() time.Time) http.Handler {
	b.Helper()
	cfg, err := config.LoadBytes([]byte(yamlConfig), "yaml")
	if err != nil {
		b.Fatalf("load config: %v", err)
	}
	cfg.Server.PublicURL = benchPublicURL
	cfg.Storage.Path = b.TempDir() + "/bench.db"
	store, err := bboltstore.Open(cfg.Storage.Path, bboltstore.Options{Now: now})
	if err != nil {
		b.Fatalf("open store: %v", err)
	}
	b.Cleanup(func() { store.Close() })
	logger := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	slog.SetDefault(logger) // zitadel/oidc logs each registered route through slog.Default
	srv, err := server.New(context.Background(), cfg, store, server.Options{Logger: logger, Now: now})
	if err != nil {
		b.Fatalf("build server: %v", err)
	}
	return srv.Handler
}

// serve runs one request through the handler and fails unless it answers want.
func serve(b *testing.B, h http.Handler, req *http.Request, want int) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != want {
		b.Fatalf("%s %s = %d %s, want %d", req.Method, req.URL.Path, rec.Code, rec.Body.String(), want)
	}
}

// BenchmarkClientCredentials measures one client_credentials token issuance
// (client authentication, minting, signing, JSON) through the whole server
// handler — in process, and over a loopback TLS connection with keep-alive —
// for an RS256 and an EdDSA realm.
func BenchmarkClientCredentials(b *testing.B) {
	realms := []struct{ alg, realm, id, secret string }{
		{"RS256", "acme", "conf", confSecret},
		{"EdDSA", "ed", "svc", "svc-secret"},
		{"ES256", "ec", "svc", "svc-secret"},
	}
	body := url.Values{"grant_type": {"client_credentials"}}.Encode()
	h := benchServer(b)
	for _, r := range realms {
		path := "/auth/realms/" + r.realm + "/protocol/openid-connect/token"
		b.Run(r.alg+"/handler", func(b *testing.B) {
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, benchPublicURL+path, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(r.id, r.secret)
				serve(b, h, req, http.StatusOK)
			}
		})
		b.Run(r.alg+"/tls", func(b *testing.B) {
			ts := httptest.NewTLSServer(h)
			defer ts.Close()
			c := ts.Client()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodPost, ts.URL+path, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(r.id, r.secret)
				resp, err := c.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("token = %d, want 200", resp.StatusCode)
				}
			}
		})
	}
}

// BenchmarkJWKS measures serving a realm's key set (cached bytes).
func BenchmarkJWKS(b *testing.B) {
	h := benchServer(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		serve(b, h, httptest.NewRequest(http.MethodGet, benchPublicURL+"/auth/realms/acme"+pCerts, nil), http.StatusOK)
	}
}

// BenchmarkDiscovery measures serving a realm's discovery document (cached bytes).
func BenchmarkDiscovery(b *testing.B) {
	h := benchServer(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		serve(b, h, httptest.NewRequest(http.MethodGet, benchPublicURL+"/auth/realms/acme"+pDiscovery, nil), http.StatusOK)
	}
}
