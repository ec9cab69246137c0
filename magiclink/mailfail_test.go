package magiclink_test

import (
	"bytes"
	"io"
	"mime/quotedprintable"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/testkit"
)

// rejectingServer is an SMTP server on loopback that reads each message and
// then, while reject is set, refuses it — so the test sees the link of a
// mail that was never accepted.
type rejectingServer struct {
	port   int
	reject atomic.Bool
	mu     sync.Mutex
	data   []string
}

func startRejectingServer(t *testing.T) *rejectingServer {
	t.Helper()
	rs := &rejectingServer{}
	s := smtp.NewServer(rsBackend{rs})
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rs.port = ln.Addr().(*net.TCPAddr).Port
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Close() })
	return rs
}

type rsBackend struct{ rs *rejectingServer }

func (b rsBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return &rsSession{rs: b.rs}, nil }

type rsSession struct{ rs *rejectingServer }

func (s *rsSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *rsSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *rsSession) Reset()                               {}
func (s *rsSession) Logout() error                        { return nil }
func (s *rsSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(quotedprintable.NewReader(r))
	if err != nil {
		return err
	}
	s.rs.mu.Lock()
	s.rs.data = append(s.rs.data, string(raw))
	s.rs.mu.Unlock()
	if s.rs.reject.Load() {
		return &smtp.SMTPError{Code: 451, Message: "mailbox temporarily unavailable"}
	}
	return nil
}

var rawLinkRE = regexp.MustCompile(`https://[^\s"<>]+/kobil-magic-link/login\?key=[A-Za-z0-9_-]{43}`)

func (rs *rejectingServer) lastLink(t *testing.T) string {
	t.Helper()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if len(rs.data) == 0 {
		t.Fatal("the SMTP server saw no mail")
	}
	l := rawLinkRE.FindString(rs.data[len(rs.data)-1])
	if l == "" {
		t.Fatalf("no link in the mail:\n%s", rs.data[len(rs.data)-1])
	}
	return l
}

// TestMailFailureLeavesNoLiveLink: a mail the server refuses answers 502 in
// the seed's shape, and the link in it does not work; the resend interval is
// not charged, so a retry right away succeeds and only its link works.
func TestMailFailureLeavesNoLiveLink(t *testing.T) {
	rs := startRejectingServer(t)
	env := testkit.New(t, testConfig, testkit.Options{Mutate: func(c *config.Config) {
		c.Realms[0].SMTP = config.SMTP{Host: "127.0.0.1", Port: rs.port, Security: config.SMTPNone}
		c.Realms[0].MagicLink.ResendInterval = time.Minute
	}})
	tok := serviceToken(t, env, "acme", "svc", "svc-secret")
	rs.reject.Store(true)
	status, got, _ := callAPI(t, env, "acme", tok, linkRequest("kate@example.com", nil))
	want := body(502, "Bad Gateway", "Mail could not be sent, please try again later")
	if status != 502 || got != want {
		t.Fatalf("got %d %s, want 502 %s", status, got, want)
	}
	dead := rs.lastLink(t)
	c := env.Client()
	wantPage(t, get(t, c, dead), http.StatusNotFound, unknownPhrase)

	rs.reject.Store(false)
	status, got, _ = callAPI(t, env, "acme", tok, linkRequest("kate@example.com", nil))
	if status != 200 || got != okBody {
		t.Fatalf("retry: got %d %s, want 200 %s", status, got, okBody)
	}
	live := rs.lastLink(t)
	if live == dead {
		t.Fatal("the retry mailed the same link")
	}
	authResponse(t, confirm(t, c, live), "query")
	wantPage(t, get(t, c, dead), http.StatusNotFound, unknownPhrase)

	if !strings.Contains(env.Logs.String(), "magic link not sent") {
		t.Fatal("the mail failure was not logged")
	}
}

// TestMailFailureUnreachableServer: nothing listening answers a 5xx too.
func TestMailFailureUnreachableServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	env := testkit.New(t, testConfig, testkit.Options{Mutate: func(c *config.Config) {
		c.Realms[0].SMTP = config.SMTP{Host: "127.0.0.1", Port: port, Security: config.SMTPNone}
	}})
	status, got, _ := callAPI(t, env, "acme", serviceToken(t, env, "acme", "svc", "svc-secret"), linkRequest("kate@example.com", nil))
	if status != 502 || got != body(502, "Bad Gateway", "Mail could not be sent, please try again later") {
		t.Fatalf("got %d %s, want the 502 body", status, got)
	}
}

// TestNoSecretsInLogs runs a full flow and checks that neither the link key,
// the code nor the tokens appear in any log line.
func TestNoSecretsInLogs(t *testing.T) {
	env := testkit.New(t, testConfig)
	svc := serviceToken(t, env, "acme", "svc", "svc-secret")
	link := sendLink(t, env, "acme", svc, linkRequest("liam@example.com", map[string]any{"responseType": "code token", "responseMode": "fragment"}))
	resp := authResponse(t, confirm(t, env.Client(), link), "fragment")
	tok, _ := newRP(t, env, "acme", "conf", "conf-secret").exchange(t, resp.Get("code"))
	logs := env.Logs.String()
	key := link[strings.Index(link, "key=")+4:]
	for name, secret := range map[string]string{"link key": key, "code": resp.Get("code"),
		"front-channel token": resp.Get("access_token"), "access token": tok.AccessToken, "caller token": svc} {
		if strings.Contains(logs, secret) {
			t.Errorf("the %s appears in the logs", name)
		}
	}
	if !bytes.Contains([]byte(logs), []byte("magic link used")) {
		t.Error("the landing was not logged")
	}
}
