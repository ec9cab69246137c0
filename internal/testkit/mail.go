package testkit

import (
	"bytes"
	"errors"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Message is one captured mail.
type Message struct {
	From    string
	To      []string
	Subject string
	Text    string // decoded text/plain part
	HTML    string // decoded text/html part
	Raw     []byte
}

// MailServer is an in-process SMTP server on loopback that keeps every message.
type MailServer struct {
	Port   int
	Server *smtp.Server
	mu     sync.Mutex
	msgs   []Message
	notify chan struct{}
	// Fail, when set, makes the server reject DATA with this error.
	Fail atomicError
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

// StartMailServer starts a plain SMTP server on 127.0.0.1 (no TLS, no auth).
func StartMailServer(t testing.TB) *MailServer {
	t.Helper()
	m := &MailServer{notify: make(chan struct{}, 1)}
	s := smtp.NewServer(&backend{m: m})
	s.Domain = "localhost"
	s.AllowInsecureAuth = true
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.ErrorLog = log.New(io.Discard, "", 0) // clients hanging up early are not test failures
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen smtp: %v", err)
	}
	m.Port = ln.Addr().(*net.TCPAddr).Port
	m.Server = s
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Close() })
	return m
}

// Messages returns a copy of every message received so far.
func (m *MailServer) Messages() []Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Message(nil), m.msgs...)
}

// WaitFor waits until a message to addr arrives and returns the latest one.
func (m *MailServer) WaitFor(t testing.TB, addr string, timeout time.Duration) Message {
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
func (m *MailServer) CountTo(addr string) int {
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

type backend struct{ m *MailServer }

func (b *backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{m: b.m}, nil }

type session struct {
	m    *MailServer
	from string
	to   []string
}

func (s *session) AuthPlain(string, string) error { return nil }
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
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
	if err := s.m.Fail.get(); err != nil {
		return &smtp.SMTPError{Code: 451, Message: err.Error()}
	}
	msg := parse(raw)
	msg.From, msg.To = s.from, append([]string(nil), s.to...)
	s.m.mu.Lock()
	s.m.msgs = append(s.m.msgs, msg)
	s.m.mu.Unlock()
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
