package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testkit/smtptest"
)

var testMsg = Message{
	To:      "alice@example.com",
	Subject: "Your sign-in link",
	Text:    "Open https://id.example.com/x?key=abc to sign in.",
	HTML:    `<p><a href="https://id.example.com/x?key=abc">Sign in</a></p>`,
}

func TestSendSecurityModes(t *testing.T) {
	cert, pool := testCert(t)
	tests := []struct {
		name     string
		server   smtptest.Options
		security string
		user     string
		pass     string
		wantTLS  bool
	}{
		{name: "plain", server: smtptest.Options{}, security: SecurityNone},
		{name: "starttls", server: smtptest.Options{StartTLS: true}, security: SecurityStartTLS, wantTLS: true},
		{name: "implicit tls", server: smtptest.Options{ImplicitTLS: true}, security: SecurityTLS, wantTLS: true},
		{name: "starttls with auth plain", server: smtptest.Options{StartTLS: true, User: "mailer", Password: "s3cret"},
			security: SecurityStartTLS, user: "mailer", pass: "s3cret", wantTLS: true},
		{name: "implicit tls with auth plain", server: smtptest.Options{ImplicitTLS: true, User: "mailer", Password: "s3cret"},
			security: SecurityTLS, user: "mailer", pass: "s3cret", wantTLS: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, tt.server, cert)
			s, err := NewSMTPSender(Config{Host: "127.0.0.1", Port: ts.Port, From: "Latchkey <no-reply@example.com>",
				Security: tt.security, Username: tt.user, Password: tt.pass, Timeout: 5 * time.Second,
				TLSConfig: &tls.Config{RootCAs: pool}})
			if err != nil {
				t.Fatalf("NewSMTPSender: %v", err)
			}
			defer s.Close()
			if err := s.Send(context.Background(), testMsg); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := ts.Received()
			if len(got) != 1 {
				t.Fatalf("server received %d mails, want 1", len(got))
			}
			m := got[0]
			if m.TLS != tt.wantTLS || m.User != tt.user || m.From != "no-reply@example.com" || len(m.To) != 1 || m.To[0] != testMsg.To {
				t.Fatalf("got tls=%v user=%q from=%q to=%v, want tls=%v user=%q from no-reply@example.com to %s",
					m.TLS, m.User, m.From, m.To, tt.wantTLS, tt.user, testMsg.To)
			}
			body := unfold(string(m.Raw))
			for _, want := range []string{"Subject: Your sign-in link", "multipart/alternative", "text/plain", "text/html",
				"https://id.example.com/x?key=abc"} {
				if !strings.Contains(body, want) {
					t.Errorf("mail lacks %q:\n%s", want, body)
				}
			}
		})
	}
}

func TestSendRefusals(t *testing.T) {
	cert, pool := testCert(t)
	tests := []struct {
		name     string
		server   smtptest.Options
		security string
		user     string
		pass     string
		roots    bool
		wantIn   string
	}{
		{name: "starttls mandatory refuses a server without STARTTLS", server: smtptest.Options{}, security: SecurityStartTLS,
			roots: true, wantIn: "STARTTLS"},
		{name: "untrusted certificate", server: smtptest.Options{StartTLS: true}, security: SecurityStartTLS, wantIn: "certificate"},
		{name: "wrong password", server: smtptest.Options{StartTLS: true, User: "mailer", Password: "s3cret"}, security: SecurityStartTLS,
			user: "mailer", pass: "nope", roots: true, wantIn: "invalid credentials"},
		{name: "no auth over plain text", server: smtptest.Options{User: "mailer", Password: "s3cret"}, security: SecurityNone,
			user: "mailer", pass: "s3cret", wantIn: "AUTH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, tt.server, cert)
			cfg := Config{Host: "127.0.0.1", Port: ts.Port, From: "no-reply@example.com", Security: tt.security,
				Username: tt.user, Password: tt.pass, Timeout: 5 * time.Second}
			if tt.roots {
				cfg.TLSConfig = &tls.Config{RootCAs: pool}
			}
			s, err := NewSMTPSender(cfg)
			if err != nil {
				t.Fatalf("NewSMTPSender: %v", err)
			}
			defer s.Close()
			err = s.Send(context.Background(), testMsg)
			if err == nil || !strings.Contains(err.Error(), tt.wantIn) {
				t.Fatalf("Send error = %v, want one containing %q", err, tt.wantIn)
			}
			if n := len(ts.Received()); n != 0 {
				t.Fatalf("server received %d mails, want 0", n)
			}
		})
	}
}

func TestHeaderInjectionRejected(t *testing.T) {
	ts, s := plainSender(t)
	tests := []struct {
		name string
		msg  Message
		want error
	}{
		{"CRLF in subject", Message{To: "a@example.com", Subject: "hi\r\nBcc: evil@example.com"}, ErrHeaderInjection},
		{"LF in recipient", Message{To: "a@example.com\nBcc: evil@example.com", Subject: "hi"}, ErrHeaderInjection},
		{"two recipients", Message{To: "a@example.com, evil@example.com", Subject: "hi"}, ErrInvalidRecipient},
		{"display name", Message{To: "Alice <a@example.com>", Subject: "hi"}, ErrInvalidRecipient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, snd := range []Sender{s, LogSender{Logger: slog.New(slog.DiscardHandler)}} {
				if err := snd.Send(context.Background(), tt.msg); !errors.Is(err, tt.want) {
					t.Errorf("%T.Send = %v, want %v", snd, err, tt.want)
				}
			}
		})
	}
	if n := len(ts.Received()); n != 0 {
		t.Fatalf("server received %d mails, want 0", n)
	}
}

func TestConnectionReuseAndRedial(t *testing.T) {
	ts, s := plainSender(t)
	for i := range 5 {
		if err := s.Send(context.Background(), testMsg); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if got := ts.Connections(); got != 1 {
		t.Fatalf("5 sequential sends used %d connections, want 1", got)
	}
	// The server drops the idle connection: the next send must notice and redial, delivering once.
	ts.DropAll()
	if err := s.Send(context.Background(), testMsg); err != nil {
		t.Fatalf("send after the server dropped the connection: %v", err)
	}
	if got, want := len(ts.Received()), 6; got != want {
		t.Fatalf("server received %d mails, want %d", got, want)
	}
	// An idle connection older than the idle timeout is not reused.
	s.now = func() time.Time { return time.Now().Add(idleTimeout) }
	if err := s.Send(context.Background(), testMsg); err != nil {
		t.Fatal(err)
	}
	if got := ts.Connections(); got != 3 {
		t.Fatalf("connections = %d, want 3 (one redial, one after the idle timeout)", got)
	}
}

func TestConcurrentSends(t *testing.T) {
	ts, s := plainSender(t)
	const n = 60
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			msg := testMsg
			msg.To = fmt.Sprintf("user%d@example.com", i)
			errs <- s.Send(context.Background(), msg)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent send: %v", err)
		}
	}
	if got := len(ts.Received()); got != n {
		t.Fatalf("server received %d mails, want %d", got, n)
	}
	if got := ts.Connections(); got > n || got < 1 {
		t.Fatalf("connections = %d, want between 1 and %d", got, n)
	}
}

func TestSendHonoursContext(t *testing.T) {
	ts, s := plainSender(t)
	ts.Hold()
	defer ts.Release()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Send(ctx, testMsg)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Send returned after %s, want soon after the context ended", d)
	}
}

// TestDialHonoursContext: a server that accepts but never greets must not
// hold a send for the whole SMTP timeout once the context ends.
func TestDialHonoursContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // silent until the test ends
		}
	}()
	s, err := NewSMTPSender(Config{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, From: "no-reply@example.com",
		Security: SecurityNone, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := s.Send(ctx, testMsg); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Send returned after %s, want soon after the context ended", d)
	}
}

func TestNewAndCache(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	s, err := New(Config{}, logger)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(LogSender); !ok {
		t.Fatalf("New with empty host = %T, want LogSender", s)
	}
	if _, err := New(Config{Host: "127.0.0.1", From: "x@example.com", Security: "ssl"}, logger); err == nil {
		t.Fatal("New with unknown security: no error")
	}
	if _, err := New(Config{Host: "127.0.0.1", From: "not an address"}, logger); err == nil {
		t.Fatal("New with a bad from address: no error")
	}
	c := NewCache(logger)
	defer c.Close()
	cfg := Config{Host: "127.0.0.1", Port: 2525, From: "x@example.com", Security: SecurityNone}
	a, err := c.Sender(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := c.Sender(cfg)
	cfg.Port = 2526
	other, _ := c.Sender(cfg)
	if a != b || a == other {
		t.Fatalf("cache: same config gave %p and %p, other config %p; want equal, then different", a, b, other)
	}
}

// BenchmarkSend compares the pooled sender with one connection per mail
// (SetMaxIdle(0)), over STARTTLS to a loopback server: the handshake is what
// pooling saves.
func BenchmarkSend(b *testing.B) {
	cert, pool := testCert(b)
	for _, bc := range []struct {
		name    string
		maxIdle int
	}{{"pooled", defaultMaxIdle}, {"dial-per-mail", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			ts := startServer(b, smtptest.Options{StartTLS: true}, cert)
			s, err := NewSMTPSender(Config{Host: "127.0.0.1", Port: ts.Port, From: "no-reply@example.com",
				Security: SecurityStartTLS, TLSConfig: &tls.Config{RootCAs: pool}})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			s.SetMaxIdle(bc.maxIdle)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := s.Send(context.Background(), testMsg); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "mails/s")
		})
	}
}
