package testkit

import (
	"testing"

	"github.com/latchkey/latchkey/internal/testkit/smtptest"
)

// MailServer is the kit's SMTP server (package smtptest), which Env.Mail runs.
type MailServer = smtptest.Server

// Message is one mail the MailServer captured.
type Message = smtptest.Message

// StartMailServer starts a plain SMTP server on 127.0.0.1 (no TLS, no auth).
func StartMailServer(t testing.TB) *MailServer {
	t.Helper()
	return smtptest.Start(t)
}
