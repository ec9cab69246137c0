package magiclink_test

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/testkit"
	"github.com/latchkey/latchkey/internal/testkit/smtptest"
)

// lastLink is the magic link in the last mail srv read, accepted or refused
// — so the test sees the link of a mail that was never accepted.
func lastLink(t *testing.T, srv *smtptest.Server) string {
	t.Helper()
	all := srv.Received()
	if len(all) == 0 {
		t.Fatal("the SMTP server saw no mail")
	}
	last := all[len(all)-1]
	l := rawLinkRE.FindString(last.Text)
	if l == "" {
		t.Fatalf("no link in the mail:\n%s", last.Text)
	}
	return l
}

var rawLinkRE = regexp.MustCompile(`https://[^\s"<>]+/kobil-magic-link/login\?key=[A-Za-z0-9_-]{43}`)

// TestMailFailureLeavesNoLiveLink: a mail the server refuses answers 502 in
// the seed's shape, and the link in it does not work; the resend interval is
// not charged, so a retry right away succeeds and only its link works.
func TestMailFailureLeavesNoLiveLink(t *testing.T) {
	rs := smtptest.Start(t) // refuses each mail it reads while Fail is set
	env := testkit.New(t, testConfig, testkit.Options{Mutate: func(c *config.Config) {
		c.Realms[0].SMTP = config.SMTP{Host: "127.0.0.1", Port: rs.Port, Security: config.SMTPNone}
		c.Realms[0].MagicLink.ResendInterval = time.Minute
	}})
	tok := env.ServiceToken(t, "acme", "svc", "svc-secret")
	rs.Fail.Set(errors.New("mailbox temporarily unavailable"))
	status, got, _ := callAPI(t, env, "acme", tok, linkRequest("kate@example.com", nil))
	want := body(502, "Bad Gateway", "Mail could not be sent, please try again later")
	if status != 502 || got != want {
		t.Fatalf("got %d %s, want 502 %s", status, got, want)
	}
	dead := lastLink(t, rs)
	c := env.Client()
	wantPage(t, get(t, c, dead), http.StatusNotFound, unknownPhrase)

	rs.Fail.Set(nil)
	status, got, _ = callAPI(t, env, "acme", tok, linkRequest("kate@example.com", nil))
	if status != 200 || got != okBody {
		t.Fatalf("retry: got %d %s, want 200 %s", status, got, okBody)
	}
	live := lastLink(t, rs)
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
	status, got, _ := callAPI(t, env, "acme", env.ServiceToken(t, "acme", "svc", "svc-secret"), linkRequest("kate@example.com", nil))
	if status != 502 || got != body(502, "Bad Gateway", "Mail could not be sent, please try again later") {
		t.Fatalf("got %d %s, want the 502 body", status, got)
	}
}

// TestNoSecretsInLogs runs a full flow and checks that neither the link key,
// the code nor the tokens appear in any log line.
func TestNoSecretsInLogs(t *testing.T) {
	env := testkit.New(t, testConfig)
	svc := env.ServiceToken(t, "acme", "svc", "svc-secret")
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
