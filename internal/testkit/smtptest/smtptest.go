// Package smtptest is the test kit's SMTP server: an in-process server
// (emersion/go-smtp) on loopback that keeps every message it reads, parsed,
// and can speak STARTTLS or implicit TLS, require AUTH PLAIN, refuse
// messages or hold them. It imports nothing of Latchkey, so that the mail
// package's own tests use it as well as every end-to-end test (through
// internal/testkit's Env.Mail).
package smtptest

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one captured mail.
type Message struct {
	From    string   // envelope sender (MAIL FROM)
	To      []string // envelope recipients (RCPT TO)
	Subject string
	Text    string // decoded text/plain part
	HTML    string // decoded text/html part
	Raw     []byte
	TLS     bool   // it arrived over TLS (implicit or after STARTTLS)
	User    string // the AUTH PLAIN user it was sent as ("" without auth)
	Refused bool   // the server read it and then refused it (Fail was set)
}

// Options adjust Start; the zero value is a plain server without TLS or auth.
type Options struct {
	// Cert is the certificate StartTLS and ImplicitTLS serve.
	Cert tls.Certificate
	// StartTLS offers the STARTTLS extension.
	StartTLS bool
	// ImplicitTLS speaks TLS from the first byte.
	ImplicitTLS bool
	// User and Password, when User is set, make AUTH PLAIN with them
	// mandatory before MAIL (and AUTH is then offered over TLS only).
	User, Password string
}

// Server is a running test SMTP server.
type Server struct {
	Port   int
	Server *smtp.Server
	// Fail, when set, makes the server refuse each message with a 451 after
	// reading it (Received still shows it, Messages does not).
	Fail atomicError

	opts   Options
	mu     sync.Mutex
	msgs   []Message // accepted
	all    []Message // read, accepted or refused
	conns  []*smtp.Conn
	hold   chan struct{}
	notify chan struct{}
}

type atomicError struct {
	mu  sync.Mutex
	err error
}

// Set makes the next deliveries fail (nil: succeed).
func (a *atomicError) Set(err error) {
	a.mu.Lock()
	a.err = err
	a.mu.Unlock()
}

func (a *atomicError) get() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// Start starts a server on 127.0.0.1 and closes it at cleanup.
func Start(t testing.TB, opts ...Options) *Server {
	t.Helper()
	m := &Server{notify: make(chan struct{}, 1)}
	if len(opts) > 0 {
		m.opts = opts[0]
	}
	s := smtp.NewServer(&backend{m: m})
	s.Domain = "localhost"
	s.AllowInsecureAuth = m.opts.User == ""
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.ErrorLog = log.New(io.Discard, "", 0) // clients hanging up early are not test failures
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen smtp: %v", err)
	}
	if m.opts.StartTLS || m.opts.ImplicitTLS {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{m.opts.Cert}}
	}
	if m.opts.ImplicitTLS {
		ln = tls.NewListener(ln, s.TLSConfig)
	}
	m.Port = ln.Addr().(*net.TCPAddr).Port
	m.Server = s
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() {
		m.Release()
		_ = s.Close()
	})
	return m
}

// Messages returns a copy of every message accepted so far.
func (m *Server) Messages() []Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Message(nil), m.msgs...)
}

// Received returns a copy of every message read so far, refused ones too,
// in the order they arrived.
func (m *Server) Received() []Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Message(nil), m.all...)
}

// WaitFor waits until a message to addr arrives and returns the latest one.
func (m *Server) WaitFor(t testing.TB, addr string, timeout time.Duration) Message {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msgs := m.Messages()
		for i := len(msgs) - 1; i >= 0; i-- {
			for _, to := range msgs[i].To {
				if strings.EqualFold(to, addr) {
					return msgs[i]
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no mail to %s within %s (got %d messages)", addr, timeout, len(msgs))
		}
		select {
		case <-m.notify:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// CountTo returns how many messages were sent to addr.
func (m *Server) CountTo(addr string) int {
	n := 0
	for _, msg := range m.Messages() {
		for _, to := range msg.To {
			if strings.EqualFold(to, addr) {
				n++
			}
		}
	}
	return n
}

// Connections counts the distinct client connections seen (a STARTTLS
// upgrade is the same connection).
func (m *Server) Connections() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[*smtp.Conn]bool{}
	for _, c := range m.conns {
		seen[c] = true
	}
	return len(seen)
}

// DropAll closes every client connection from the server side.
func (m *Server) DropAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.conns {
		_ = c.Close()
	}
}

// Hold makes each message wait, after its DATA was read and before it is
// answered, until Release.
func (m *Server) Hold() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.hold == nil {
		m.hold = make(chan struct{})
	}
}

// Release lets held messages (and later ones) through.
func (m *Server) Release() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.hold != nil {
		close(m.hold)
		m.hold = nil
	}
}

var linkRE = regexp.MustCompile(`https?://[^\s"'<>]+`)

// FindLink returns the first URL in the text part containing substr.
func (msg Message) FindLink(substr string) string {
	for _, l := range linkRE.FindAllString(msg.Text+" "+msg.HTML, -1) {
		l = strings.ReplaceAll(l, "&amp;", "&")
		if strings.Contains(l, substr) {
			return l
		}
	}
	return ""
}

// HeaderTo returns the addresses of the message's To header (the envelope's
// are in To).
func (msg Message) HeaderTo(t testing.TB) []string {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(msg.Raw))
	if err != nil {
		t.Fatalf("captured mail does not parse: %v", err)
	}
	list, err := m.Header.AddressList("To")
	if err != nil {
		t.Fatalf("To header %q: %v", m.Header.Get("To"), err)
	}
	var out []string
	for _, a := range list {
		out = append(out, a.Address)
	}
	return out
}

// CheckOnlyTo checks, byte for byte, that addr is the message's only
// envelope recipient and the only address of its To header (WaitFor and
// CountTo fold case, which cannot tell a KELVIN SIGN from k).
func (msg Message) CheckOnlyTo(t testing.TB, addr string) {
	t.Helper()
	if !slices.Equal(msg.To, []string{addr}) {
		t.Errorf("SMTP envelope recipients = %q, want exactly %s", msg.To, addr)
	}
	if got := msg.HeaderTo(t); !slices.Equal(got, []string{addr}) {
		t.Errorf("To header = %q, want exactly %s", got, addr)
	}
}

type backend struct{ m *Server }

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	b.m.mu.Lock()
	b.m.conns = append(b.m.conns, c)
	b.m.mu.Unlock()
	return &session{m: b.m, conn: c}, nil
}

type session struct {
	m    *Server
	conn *smtp.Conn
	user string
	from string
	to   []string
}

// AuthMechanisms offers PLAIN when the server requires a user.
func (s *session) AuthMechanisms() []string {
	if s.m.opts.User == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.m.opts.User || pass != s.m.opts.Password {
			return errors.New("invalid credentials")
		}
		s.user = user
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.m.opts.User != "" && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.m.mu.Lock()
	hold := s.m.hold
	s.m.mu.Unlock()
	if hold != nil {
		<-hold
	}
	msg := parse(raw)
	msg.From, msg.To, msg.User = s.from, append([]string(nil), s.to...), s.user
	_, msg.TLS = s.conn.TLSConnectionState()
	failure := s.m.Fail.get()
	msg.Refused = failure != nil
	s.m.mu.Lock()
	s.m.all = append(s.m.all, msg)
	if failure == nil {
		s.m.msgs = append(s.m.msgs, msg)
	}
	s.m.mu.Unlock()
	if failure != nil {
		return &smtp.SMTPError{Code: 451, Message: failure.Error()}
	}
	select {
	case s.m.notify <- struct{}{}:
	default:
	}
	return nil
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

// parse decodes a MIME message's subject, text and HTML parts.
func parse(raw []byte) Message {
	msg := Message{Raw: raw}
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return msg
	}
	dec := new(mime.WordDecoder)
	if s, err := dec.DecodeHeader(m.Header.Get("Subject")); err == nil {
		msg.Subject = s
	}
	walk(m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), m.Body, &msg)
	return msg
}

func walk(ctype, enc string, body io.Reader, msg *Message) {
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) || err != nil {
				return
			}
			walk(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, msg)
		}
	}
	var r io.Reader = body
	switch strings.ToLower(enc) {
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		r = base64Reader(body)
	}
	b, _ := io.ReadAll(r)
	switch mt {
	case "text/plain":
		msg.Text += string(b)
	case "text/html":
		msg.HTML += string(b)
	}
}
