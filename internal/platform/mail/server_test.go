package mail

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"mime/quotedprintable"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/latchkey/latchkey/internal/platform/tlsutil"
)

// testServer is an in-process SMTP server (emersion/go-smtp) on loopback that
// records what it received and how.
type testServer struct {
	port int
	srv  *smtp.Server

	mu    sync.Mutex
	conns []*smtp.Conn
	mails []received
	// block, when set, makes DATA wait until the channel is closed.
	block chan struct{}
}

type received struct {
	from string
	to   []string
	data string
	tls  bool
	user string
}

type serverOpts struct {
	startTLS bool   // offer STARTTLS
	implicit bool   // TLS from the first byte
	user     string // require AUTH PLAIN with user/pass
	pass     string
}

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

func startServer(t testing.TB, o serverOpts, cert tls.Certificate) *testServer {
	t.Helper()
	ts := &testServer{}
	s := smtp.NewServer(&testBackend{ts: ts, o: o})
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.startTLS || o.implicit {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	if o.implicit {
		ln = tls.NewListener(ln, s.TLSConfig)
	}
	ts.port, ts.srv = ln.Addr().(*net.TCPAddr).Port, s
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Close() })
	return ts
}

func (ts *testServer) received() []received {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]received(nil), ts.mails...)
}

// connections counts the distinct client connections seen (a STARTTLS upgrade
// is the same connection).
func (ts *testServer) connections() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	seen := map[*smtp.Conn]bool{}
	for _, c := range ts.conns {
		seen[c] = true
	}
	return len(seen)
}

// dropAll closes every client connection from the server side.
func (ts *testServer) dropAll() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, c := range ts.conns {
		_ = c.Close()
	}
}

type testBackend struct {
	ts *testServer
	o  serverOpts
}

func (b *testBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	b.ts.mu.Lock()
	b.ts.conns = append(b.ts.conns, c)
	b.ts.mu.Unlock()
	return &testSession{b: b, conn: c}, nil
}

type testSession struct {
	b    *testBackend
	conn *smtp.Conn
	user string
	from string
	to   []string
}

func (s *testSession) AuthMechanisms() []string {
	if s.b.o.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *testSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.b.o.user || pass != s.b.o.pass {
			return errors.New("invalid credentials")
		}
		s.user = user
		return nil
	}), nil
}

func (s *testSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.b.o.user != "" && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *testSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *testSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.b.ts.mu.Lock()
	block := s.b.ts.block
	s.b.ts.mu.Unlock()
	if block != nil {
		<-block
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.b.ts.mu.Lock()
	s.b.ts.mails = append(s.b.ts.mails, received{from: s.from, to: s.to, data: string(b), tls: isTLS, user: s.user})
	s.b.ts.mu.Unlock()
	return nil
}

func (s *testSession) Reset()        { s.from, s.to = "", nil }
func (s *testSession) Logout() error { return nil }

// unfold decodes a quoted-printable mail so that its bodies can be searched
// (the headers are plain ASCII and survive).
func unfold(s string) string {
	b, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(s)))
	if err != nil {
		return s
	}
	return string(b)
}
