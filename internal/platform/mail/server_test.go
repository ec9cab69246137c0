package mail

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"mime/quotedprintable"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/platform/tlsutil"
	"github.com/latchkey/latchkey/internal/testkit/smtptest"
)

// testCert returns a self-signed certificate for 127.0.0.1 and a pool trusting it.
func testCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	certPEM, keyPEM, err := tlsutil.Generate("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return cert, pool
}

// startServer starts the test kit's SMTP server (emersion/go-smtp on
// loopback) with o, serving cert when o asks for TLS.
func startServer(t testing.TB, o smtptest.Options, cert tls.Certificate) *smtptest.Server {
	t.Helper()
	o.Cert = cert
	return smtptest.Start(t, o)
}

// unfold decodes a quoted-printable mail so that its bodies can be searched
// (the headers are plain ASCII and survive).
func unfold(s string) string {
	b, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(s)))
	if err != nil {
		return s
	}
	return string(b)
}
