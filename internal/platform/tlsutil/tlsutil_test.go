package tlsutil_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/platform/tlsutil"
)

func leafOf(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}
	return c
}

func ipStrings(ips []net.IP) []string {
	var out []string
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	return out
}

func TestSelfSignedGeneratesThenReloads(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	cert, path, err := tlsutil.SelfSigned(dir, "id.example.com")
	if err != nil {
		t.Fatalf("SelfSigned: %v", err)
	}
	if want := filepath.Join(dir, "tls.crt"); path != want {
		t.Errorf("cert path = %q, want %q", path, want)
	}
	modes := []struct {
		path string
		want os.FileMode
	}{
		{dir, 0o700 | os.ModeDir},
		{filepath.Join(dir, "tls.key"), 0o600},
	}
	for _, m := range modes {
		fi, err := os.Stat(m.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != m.want {
			t.Errorf("mode of %s = %v, want %v", filepath.Base(m.path), fi.Mode(), m.want)
		}
	}
	// The certificate is public (0644 less the umask) but never writable by others.
	if fi, err := os.Stat(path); err != nil || fi.Mode()&0o022 != 0 {
		t.Errorf("tls.crt mode = %v (err %v), want no group or other write bit", fi.Mode(), err)
	}
	// The PEM file at path is the served certificate (for --cacert).
	pemBytes, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "CERTIFICATE" || !bytes.Equal(block.Bytes, cert.Certificate[0]) {
		t.Error("the PEM file does not hold the returned certificate")
	}

	again, path2, err := tlsutil.SelfSigned(dir, "id.example.com")
	if err != nil {
		t.Fatalf("second SelfSigned: %v", err)
	}
	if path2 != path || !bytes.Equal(again.Certificate[0], cert.Certificate[0]) {
		t.Error("second SelfSigned generated a new certificate, want the stored one reloaded")
	}
	// Reloading does not depend on the host argument: the file wins.
	other, _, err := tlsutil.SelfSigned(dir, "other.example.com")
	if err != nil || !bytes.Equal(other.Certificate[0], cert.Certificate[0]) {
		t.Errorf("SelfSigned with another host = new certificate or error %v, want the stored one", err)
	}
}

func TestSelfSignedNames(t *testing.T) {
	tests := []struct {
		host     string
		wantDNS  []string
		wantIPs  []string
		verifyAs []string
	}{
		{"", []string{"localhost"}, []string{"127.0.0.1", "::1"}, []string{"localhost", "127.0.0.1", "::1"}},
		{"localhost", []string{"localhost"}, []string{"127.0.0.1", "::1"}, []string{"localhost"}},
		{"id.example.com", []string{"localhost", "id.example.com"}, []string{"127.0.0.1", "::1"}, []string{"id.example.com", "localhost"}},
		{"192.0.2.10", []string{"localhost"}, []string{"127.0.0.1", "::1", "192.0.2.10"}, []string{"192.0.2.10"}},
		{"2001:db8::10", []string{"localhost"}, []string{"127.0.0.1", "::1", "2001:db8::10"}, []string{"2001:db8::10"}},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			cert, _, err := tlsutil.SelfSigned(t.TempDir(), tt.host)
			if err != nil {
				t.Fatalf("SelfSigned: %v", err)
			}
			leaf := leafOf(t, cert.Certificate[0])
			if !slices.Equal(leaf.DNSNames, tt.wantDNS) {
				t.Errorf("DNS names = %q, want %q", leaf.DNSNames, tt.wantDNS)
			}
			if got := ipStrings(leaf.IPAddresses); !slices.Equal(got, tt.wantIPs) {
				t.Errorf("IP addresses = %q, want %q", got, tt.wantIPs)
			}
			pool := x509.NewCertPool()
			pool.AddCert(leaf)
			for _, name := range tt.verifyAs {
				if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: pool}); err != nil {
					t.Errorf("certificate does not verify for %q: %v", name, err)
				}
			}
			if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "evil.example.com", Roots: pool}); err == nil {
				t.Error("certificate verifies for evil.example.com")
			}
			if d := time.Until(leaf.NotAfter); d < 364*24*time.Hour || d > 366*24*time.Hour {
				t.Errorf("certificate valid for %s more, want about a year", d)
			}
			if !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
				t.Errorf("ExtKeyUsage = %v, want server auth", leaf.ExtKeyUsage)
			}
		})
	}
}

// Each Generate is a new key and serial.
func TestGenerateIsFresh(t *testing.T) {
	c1, k1, err := tlsutil.Generate("")
	if err != nil {
		t.Fatal(err)
	}
	c2, k2, err := tlsutil.Generate("")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(k1, k2) {
		t.Error("two Generate calls returned the same key")
	}
	b1, _ := pem.Decode(c1)
	b2, _ := pem.Decode(c2)
	if leafOf(t, b1.Bytes).SerialNumber.Cmp(leafOf(t, b2.Bytes).SerialNumber) == 0 {
		t.Error("two Generate calls returned the same serial number")
	}
	if kb, _ := pem.Decode(k1); kb == nil || kb.Type != "PRIVATE KEY" {
		t.Error("key PEM is not a PKCS#8 PRIVATE KEY block")
	}
}

// Broken files are an error, not silently replaced; an expiring certificate
// is replaced.
func TestSelfSignedBrokenOrExpiring(t *testing.T) {
	t.Run("broken key file", func(t *testing.T) {
		dir := t.TempDir()
		if _, _, err := tlsutil.SelfSigned(dir, ""); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "tls.key"), []byte("garbage"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := tlsutil.SelfSigned(dir, ""); err == nil || !strings.Contains(err.Error(), "load self-signed certificate") {
			t.Errorf("SelfSigned with a broken key = %v, want a load error", err)
		}
	})
	t.Run("certificate about to expire", func(t *testing.T) {
		dir := t.TempDir()
		writeExpiring(t, dir)
		old, err := os.ReadFile(filepath.Join(dir, "tls.crt"))
		if err != nil {
			t.Fatal(err)
		}
		cert, _, err := tlsutil.SelfSigned(dir, "")
		if err != nil {
			t.Fatalf("SelfSigned: %v", err)
		}
		if d := time.Until(leafOf(t, cert.Certificate[0]).NotAfter); d < 364*24*time.Hour {
			t.Errorf("certificate valid for %s more, want a fresh one-year certificate", d)
		}
		now, _ := os.ReadFile(filepath.Join(dir, "tls.crt"))
		if bytes.Equal(now, old) {
			t.Error("tls.crt was not replaced")
		}
	})
	t.Run("missing key file", func(t *testing.T) {
		dir := t.TempDir()
		first, _, err := tlsutil.SelfSigned(dir, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(dir, "tls.key")); err != nil {
			t.Fatal(err)
		}
		again, _, err := tlsutil.SelfSigned(dir, "")
		if err != nil || bytes.Equal(again.Certificate[0], first.Certificate[0]) {
			t.Errorf("SelfSigned without a key = same cert or error %v, want a new pair", err)
		}
	})
}

// writeExpiring stores a self-signed pair in dir that expires within the
// day, the window in which SelfSigned replaces it.
func writeExpiring(t *testing.T, dir string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "expiring"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
}
