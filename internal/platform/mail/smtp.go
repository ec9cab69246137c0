package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strconv"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
)

// Pool sizes. As many connections stay idle as may be open, so that steady
// load reuses connections instead of redialling (TCP, EHLO, STARTTLS, AUTH)
// half of them. A connection is reused only while it is younger than
// idleTimeout: servers drop idle clients (Postfix after 300 s, hosted relays
// often after 30–60 s).
const (
	defaultMaxOpen = 16
	defaultMaxIdle = 16
	idleTimeout    = 30 * time.Second
)

// SMTPSender delivers mail to one SMTP server. It keeps up to a few idle,
// already authenticated connections and reuses them (go-mail's Client is not
// safe for concurrent sends on its own connection, so each send takes a
// connection of its own from the pool). A pooled connection that turns out to
// be dead is replaced by a fresh one, but only when nothing was sent on it, so
// a mail is never delivered twice.
type SMTPSender struct {
	cfg    Config
	addr   string
	dialer *gomail.Client // used only to dial and to send on connections we own
	open   chan struct{}  // semaphore: at most cap(open) connections in use
	now    func() time.Time

	mu      sync.Mutex
	idle    []*conn
	maxIdle int
	closed  bool
}

// conn is one SMTP connection: go-mail's client on top of our socket, which
// the sender can cancel from another goroutine.
type conn struct {
	c     *smtp.Client
	raw   *cancelConn
	since time.Time // when it went idle
}

// NewSMTPSender builds a sender for cfg. Security "starttls" (the default)
// requires STARTTLS, "tls" uses implicit TLS, "none" sends in plain text.
// With a username, SMTP AUTH picks the strongest mechanism the server offers
// (PLAIN and LOGIN only over an encrypted connection). It does not connect.
func NewSMTPSender(cfg Config) (*SMTPSender, error) {
	if cfg.Host == "" {
		return nil, errors.New("smtp: host is empty")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Security == "" {
		cfg.Security = SecurityStartTLS
	}
	if cfg.Port == 0 {
		cfg.Port = map[string]int{SecurityStartTLS: 587, SecurityTLS: 465, SecurityNone: 25}[cfg.Security]
	}
	if _, err := mail.ParseAddress(cfg.From); err != nil {
		return nil, fmt.Errorf("smtp: from address %q: %w", cfg.From, err)
	}
	// No NOOP before each message: it costs a round trip per mail, and a pooled
	// connection that died while idle fails at MAIL FROM instead — before
	// anything was delivered — where Send redials just the same.
	opts := []gomail.Option{gomail.WithPort(cfg.Port), gomail.WithTimeout(cfg.Timeout), gomail.WithoutNoop()}
	tlsCfg := &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12}
	if cfg.TLSConfig != nil {
		tlsCfg = cfg.TLSConfig.Clone()
		if tlsCfg.ServerName == "" {
			tlsCfg.ServerName = cfg.Host
		}
	}
	implicit := false
	switch cfg.Security {
	case SecurityStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory), gomail.WithTLSConfig(tlsCfg))
	case SecurityTLS:
		// Our dialer does the TLS handshake (see dial), so go-mail is told
		// "opportunistic": it finds a server without STARTTLS on an already
		// encrypted connection and records it as encrypted, which is what
		// allows PLAIN/LOGIN auth. The connection is never plain text.
		implicit = true
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic), gomail.WithTLSConfig(tlsCfg))
	case SecurityNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		return nil, fmt.Errorf("smtp: unknown security %q (want starttls, tls or none)", cfg.Security)
	}
	opts = append(opts, gomail.WithDialContextFunc(dialer(implicit, tlsCfg)))
	if cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(cfg.Username), gomail.WithPassword(cfg.Password))
	}
	dialer, err := gomail.NewClient(cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp: configure client for %s: %w", cfg.Host, err)
	}
	return &SMTPSender{
		cfg: cfg, addr: net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)), dialer: dialer,
		open: make(chan struct{}, defaultMaxOpen), maxIdle: defaultMaxIdle, now: time.Now,
	}, nil
}

// SetMaxIdle sets how many idle connections are kept for reuse; 0 closes each
// connection after its mail (the behaviour without a pool, for comparison).
func (s *SMTPSender) SetMaxIdle(n int) {
	s.mu.Lock()
	s.maxIdle = max(n, 0)
	s.mu.Unlock()
}

// Send delivers msg. It fails with ErrHeaderInjection or ErrInvalidRecipient
// before connecting when the message's headers are unsafe, with ctx's error
// when ctx ends first (the connection is then closed), and otherwise with the
// server's or the network's error, wrapped with the server address.
func (s *SMTPSender) Send(ctx context.Context, msg Message) error {
	if err := Validate(msg); err != nil {
		return err
	}
	m, err := s.build(msg)
	if err != nil {
		return err
	}
	select {
	case s.open <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("send mail via %s: %w", s.addr, ctx.Err())
	}
	defer func() { <-s.open }()
	for {
		conn, reused := s.take()
		if conn == nil {
			if conn, err = s.dial(ctx); err != nil {
				return fmt.Errorf("connect to SMTP server %s: %w", s.addr, err)
			}
		}
		// A context that ends mid-conversation expires the connection's
		// deadline, which makes the blocked command fail at once.
		stop := context.AfterFunc(ctx, conn.raw.cancel)
		err = s.dialer.SendWithSMTPClient(conn.c, m)
		cancelled := !stop()
		switch {
		case err == nil && !cancelled:
			s.put(conn)
			return nil
		case err == nil:
			_ = conn.raw.Close()
			return nil // delivered; the connection was cancelled, do not pool it
		}
		_ = conn.raw.Close()
		if cancelled {
			return fmt.Errorf("send mail via %s: %w", s.addr, ctx.Err())
		}
		var se *gomail.SendError
		if reused && errors.As(err, &se) && (se.Reason == gomail.ErrConnCheck || se.Reason == gomail.ErrSMTPMailFrom) {
			continue // the pooled connection died while idle; nothing was delivered on it
		}
		return fmt.Errorf("send mail via %s: %w", s.addr, err)
	}
}

// dial opens, secures and authenticates a new connection; ctx can cancel
// every step. go-mail leaves the socket open when EHLO, STARTTLS or AUTH
// fail, so it is closed here.
func (s *SMTPSender) dial(ctx context.Context) (*conn, error) {
	st := &dialState{ctx: ctx}
	c, err := s.dialer.DialToSMTPClientWithContext(context.WithValue(ctx, dialKey{}, st))
	cancelled := st.stop != nil && !st.stop()
	if err != nil || cancelled {
		if st.raw != nil {
			_ = st.raw.Close()
		}
		if ctx.Err() != nil {
			return nil, errors.Join(ctx.Err(), err)
		}
		return nil, err
	}
	return &conn{c: c, raw: st.raw}, nil
}

func (s *SMTPSender) build(msg Message) (*gomail.Msg, error) {
	m := gomail.NewMsg()
	if err := m.From(s.cfg.From); err != nil {
		return nil, fmt.Errorf("mail from %q: %w", s.cfg.From, err)
	}
	if err := m.To(msg.To); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidRecipient, err)
	}
	m.Subject(msg.Subject)
	m.SetDate()
	m.SetMessageID()
	m.SetBodyString(gomail.TypeTextPlain, msg.Text)
	if msg.HTML != "" {
		m.AddAlternativeString(gomail.TypeTextHTML, msg.HTML)
	}
	return m, nil
}

// take returns a pooled connection that has not been idle too long (most
// recently used first), closing the stale ones.
func (s *SMTPSender) take() (*conn, bool) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.idle) > 0 {
		c := s.idle[len(s.idle)-1]
		s.idle = s.idle[:len(s.idle)-1]
		if now.Sub(c.since) < idleTimeout {
			return c, true
		}
		go s.quit(c)
	}
	return nil, false
}

// put keeps a healthy connection for reuse, or says goodbye to it when the
// pool is full or closed.
func (s *SMTPSender) put(c *conn) {
	s.mu.Lock()
	if !s.closed && len(s.idle) < s.maxIdle {
		c.since = s.now()
		s.idle = append(s.idle, c)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.quit(c)
}

// quit ends a connection politely (QUIT), then closes the socket whatever
// the server answered.
func (s *SMTPSender) quit(c *conn) {
	_ = s.dialer.CloseWithSMTPClient(c.c)
	_ = c.raw.Close()
}

// Close says QUIT on the idle connections and stops pooling; sends still in
// flight finish and close their connections. Sending after Close still works,
// one connection per mail.
func (s *SMTPSender) Close() error {
	s.mu.Lock()
	idle := s.idle
	s.idle, s.closed = nil, true
	s.mu.Unlock()
	for _, c := range idle {
		s.quit(c)
	}
	return nil
}
