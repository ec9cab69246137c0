package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"
)

// Security modes of Config.Security.
const (
	// SecurityStartTLS upgrades a plain connection with STARTTLS and refuses
	// servers that do not offer it (never falls back to plain text).
	SecurityStartTLS = "starttls"
	// SecurityTLS connects with implicit TLS (SMTPS, usually port 465).
	SecurityTLS = "tls"
	// SecurityNone sends in plain text (local relays and tests only).
	SecurityNone = "none"
)

// DefaultTimeout bounds one connection attempt and each SMTP command when
// Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// ErrHeaderInjection means a header value (recipient or subject) contains a
// line break, which would let its author add headers or recipients.
var ErrHeaderInjection = errors.New("mail header contains a line break")

// ErrInvalidRecipient means Message.To is not a single bare address.
var ErrInvalidRecipient = errors.New("invalid mail recipient")

// Message is one mail with a text and an HTML body.
type Message struct {
	To      string
	Subject string
	Text    string
	HTML    string
}

// Config is an SMTP server. An empty Host selects the log sender.
type Config struct {
	Host     string
	Port     int
	From     string
	Username string
	Password string
	Security string // starttls (mandatory) | tls (implicit) | none
	Timeout  time.Duration
	// TLSConfig, when set, replaces the default TLS settings (system roots,
	// ServerName = Host, TLS 1.2+), e.g. to trust a private CA. Its
	// ServerName defaults to Host.
	TLSConfig *tls.Config
}

// Sender delivers messages. Send returns only after the server accepted the
// message (or failed); it is safe for concurrent use.
type Sender interface {
	Send(ctx context.Context, msg Message) error
}

// New returns the sender for cfg: a LogSender when cfg.Host is empty, an
// SMTPSender otherwise. Errors describe an unusable configuration.
func New(cfg Config, logger *slog.Logger) (Sender, error) {
	if cfg.Host == "" {
		if logger == nil {
			logger = slog.Default()
		}
		return LogSender{Logger: logger}, nil
	}
	return NewSMTPSender(cfg)
}

// Validate rejects messages whose headers could be abused: a recipient that
// is not one bare address, or a recipient or subject with a line break.
// Errors wrap ErrHeaderInjection or ErrInvalidRecipient.
func Validate(msg Message) error {
	if strings.ContainsAny(msg.To, "\r\n") || strings.ContainsAny(msg.Subject, "\r\n") {
		return ErrHeaderInjection
	}
	a, err := mail.ParseAddress(msg.To)
	if err != nil || a.Address != msg.To {
		return fmt.Errorf("%w: %q", ErrInvalidRecipient, msg.To)
	}
	return nil
}

// LogSender writes messages to the log instead of sending them (no SMTP host
// configured). The body is logged because it is the only way a developer can
// reach the link; production deployments configure SMTP.
type LogSender struct{ Logger *slog.Logger }

// Send logs the message.
func (l LogSender) Send(ctx context.Context, msg Message) error {
	if err := Validate(msg); err != nil {
		return err
	}
	l.Logger.InfoContext(ctx, "mail (no SMTP host configured, written to the log)", "to", msg.To, "subject", msg.Subject, "body", msg.Text)
	return nil
}
