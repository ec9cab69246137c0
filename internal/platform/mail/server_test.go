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

// plainSender starts the kit's SMTP server without TLS or auth and a sender
// to it; both are closed at cleanup.
func plainSender(t testing.TB) (*smtptest.Server, *SMTPSender) {
	t.Helper()
	ts := smtptest.Start(t)
	s, err := NewSMTPSender(Config{Host: "127.0.0.1", Port: ts.Port, From: "no-reply@example.com", Security: SecurityNone})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return ts, s
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
