// Package mail sends Latchkey's mails. It has two seams: what to send
// (Message, built from templates by the feature that sends) and how (Sender:
// SMTP through a maintained client library, or the log when no SMTP host is
// configured, for development).
package mail

import (
	"context"
	"log/slog"
	"time"
)

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
}

// Sender delivers messages. Send returns only after the server accepted the
// message (or failed); it is safe for concurrent use.
type Sender interface {
	Send(ctx context.Context, msg Message) error
}

// LogSender writes messages to the log instead of sending them (no SMTP host
// configured). The body is logged because it is the only way a developer can
// reach the link; production deployments configure SMTP.
type LogSender struct{ Logger *slog.Logger }

// Send logs the message.
func (l LogSender) Send(ctx context.Context, msg Message) error {
	l.Logger.InfoContext(ctx, "mail (no SMTP host configured, written to the log)", "to", msg.To, "subject", msg.Subject, "body", msg.Text)
	return nil
}
