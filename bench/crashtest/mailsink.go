package crashtest

import (
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

// MailSink is an SMTP server on loopback that accepts and counts every
// message and keeps none, for runs that send too much mail to keep (the
// tests that read mail use testkit's capturing server instead).
type MailSink struct {
	Port     int
	server   *smtp.Server
	messages atomic.Int64

	mu      sync.Mutex
	held    chan struct{} // non-nil while holding: closed by Release
	waiting atomic.Int64  // messages received and held
}

// StartMailSink listens on 127.0.0.1 (plain SMTP, no auth).
func StartMailSink() (*MailSink, error) {
	m := &MailSink{}
	s := smtp.NewServer(sinkBackend{m})
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 30*time.Second, 30*time.Second
	s.MaxMessageBytes = 1 << 20
	s.ErrorLog = quietLogger{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen smtp sink: %w", err)
	}
	m.Port, m.server = ln.Addr().(*net.TCPAddr).Port, s
	go func() { _ = s.Serve(ln) }()
	return m, nil
}

// Messages is the number of messages accepted so far.
func (m *MailSink) Messages() int64 { return m.messages.Load() }

// Hold makes the sink keep every further message's final reply until
// Release: the sending server's request is then provably in its handler.
func (m *MailSink) Hold() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.held == nil {
		m.held = make(chan struct{})
	}
}

// Release answers the held messages and stops holding.
func (m *MailSink) Release() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.held != nil {
		close(m.held)
		m.held = nil
	}
}

// Waiting is the number of messages held right now.
func (m *MailSink) Waiting() int64 { return m.waiting.Load() }

// Close releases held messages and stops the server.
func (m *MailSink) Close() error {
	m.Release()
	return m.server.Close()
}

type sinkBackend struct{ m *MailSink }

func (b sinkBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return sinkSession(b), nil }

type sinkSession struct{ m *MailSink }

func (sinkSession) AuthPlain(string, string) error       { return nil }
func (sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (sinkSession) Reset()                               {}
func (sinkSession) Logout() error                        { return nil }
func (s sinkSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	s.m.mu.Lock()
	held := s.m.held
	s.m.mu.Unlock()
	if held != nil {
		s.m.waiting.Add(1)
		<-held
		s.m.waiting.Add(-1)
	}
	s.m.messages.Add(1)
	return nil
}

// quietLogger drops go-smtp's connection error lines (a client that hangs
// up is not news here).
type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}
func (quietLogger) Println(...any)        {}
