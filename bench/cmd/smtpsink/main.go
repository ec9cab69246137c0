// Command smtpsink is the benchmark's loopback mail server: it accepts every
// message over SMTP (no TLS, any AUTH PLAIN credentials) and keeps the most
// recent ones per recipient in memory, so that a load script can fetch the
// magic links Latchkey mailed and click them.
//
// Mail is otherwise discarded; the sink exists so that magic-link issuance is
// measured with a real SMTP hand-off and consumption with a real link.
//
// HTTP API (on -http):
//
//	GET /next-link?to=ADDR&contains=SUBSTR&wait=5s
//	    Removes the oldest stored message for ADDR (any recipient when to is
//	    empty) and answers 200 with the first URL in it that contains SUBSTR
//	    (default "kobil-magic-link/login"), as text/plain. Waits up to wait
//	    (default 5s, at most 30s) for one to arrive; 404 when none did.
//	GET /stats
//	    {"received":N,"stored":M} — messages accepted and still held.
//	GET /health
//	    200 once both listeners are up.
//
// Usage:
//
//	smtpsink -smtp 127.0.0.1:2525 -http 127.0.0.1:2526 -keep 1000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

func main() {
	smtpAddr := flag.String("smtp", "127.0.0.1:2525", "SMTP listen address")
	httpAddr := flag.String("http", "127.0.0.1:2526", "HTTP listen address (link API)")
	keep := flag.Int("keep", 1000, "messages kept per recipient (older ones are dropped)")
	maxRcpts := flag.Int("max-recipients", 10000, "distinct recipients whose mail is kept (more are only counted)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *smtpAddr, *httpAddr, newInbox(*keep, *maxRcpts)); err != nil {
		log.Fatalf("smtpsink: %v", err)
	}
}

// run serves SMTP and HTTP until ctx ends.
func run(ctx context.Context, smtpAddr, httpAddr string, in *inbox) error {
	sl, err := net.Listen("tcp", smtpAddr)
	if err != nil {
		return fmt.Errorf("listen smtp: %w", err)
	}
	hl, err := net.Listen("tcp", httpAddr)
	if err != nil {
		_ = sl.Close()
		return fmt.Errorf("listen http: %w", err)
	}
	ss := newSMTPServer(in)
	hs := &http.Server{Handler: newHandler(in), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 2)
	go func() { errc <- ss.Serve(sl) }()
	go func() { errc <- hs.Serve(hl) }()
	log.Printf("smtpsink: smtp on %s, http on %s", sl.Addr(), hl.Addr())

	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	_ = ss.Close()
	if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, smtp.ErrServerClosed) {
		return err
	}
	return nil
}

// newSMTPServer accepts plain-text SMTP from loopback clients; the limits only
// keep a broken client from exhausting memory.
func newSMTPServer(in *inbox) *smtp.Server {
	s := smtp.NewServer(&backend{in: in})
	s.Domain = "localhost"
	s.AllowInsecureAuth = true
	s.MaxMessageBytes = 1 << 20
	s.MaxRecipients = 1000
	s.ReadTimeout = 30 * time.Second
	s.WriteTimeout = 30 * time.Second
	return s
}

type backend struct{ in *inbox }

// NewSession starts one SMTP conversation.
func (b *backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{in: b.in}, nil }

// session collects one envelope at a time; the sink trusts every sender.
type session struct {
	in *inbox
	to []string
}

var _ smtp.AuthSession = (*session)(nil)

// AuthMechanisms offers PLAIN so that a server configured with credentials works too.
func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

// Auth accepts any credentials.
func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(string, string, string) error { return nil }), nil
}

// Mail starts an envelope.
func (s *session) Mail(string, *smtp.MailOptions) error { return nil }

// Rcpt adds a recipient.
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

// Data stores the message under each recipient.
func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("read message: %w", err)
	}
	s.in.add(s.to, raw)
	return nil
}

// Reset discards the envelope.
func (s *session) Reset() { s.to = s.to[:0] }

// Logout ends the conversation.
func (s *session) Logout() error { return nil }

// newHandler serves the link API described in the package comment.
func newHandler(in *inbox) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		received, stored := in.stats()
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"received":%d,"stored":%d}`+"\n", received, stored)
	})
	mux.HandleFunc("GET /next-link", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		contains := q.Get("contains")
		if contains == "" {
			contains = "kobil-magic-link/login"
		}
		wait := 5 * time.Second
		if s := q.Get("wait"); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d < 0 {
				http.Error(w, "wait: not a duration", http.StatusBadRequest)
				return
			}
			wait = min(d, 30*time.Second)
		}
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		defer cancel()
		link, ok := in.nextLink(ctx, strings.TrimSpace(q.Get("to")), contains)
		if !ok {
			http.Error(w, "no link", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, link)
	})
	return mux
}
