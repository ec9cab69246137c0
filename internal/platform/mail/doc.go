// Package mail sends Latchkey's mails. It has two seams: what to send
// (Message, built from templates by the feature that sends) and how (Sender:
// SMTP through github.com/wneessen/go-mail, or the log when no SMTP host is
// configured, for development).
//
// SMTPSender keeps a small pool of authenticated connections per server, so
// that a burst of magic links does not pay a TCP, TLS and AUTH handshake per
// mail; Cache hands out one SMTPSender per distinct server configuration so
// realms that share a server share its pool.
package mail
