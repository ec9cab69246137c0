package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/smtp"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testkit/loopback"
)

const link = "http://127.0.0.1:18080/auth/realms/bench/kobil-magic-link/login?key=AbC_d-123"

func TestFindLink(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString([]byte("Open " + link + " now"))
	tests := []struct {
		name string
		raw  string
		want string
	}{
		{"plain text", "Subject: x\r\n\r\nOpen " + link + "\r\n", link},
		{"quoted-printable soft breaks", "Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
			"Open http://127.0.0.1:18080/auth/realms/bench/kobil-magic-=\r\nlink/login?key=3DAbC_d-123\r\n", link},
		{"base64 with line breaks", "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
			b64[:20] + "\r\n" + b64[20:] + "\r\n", link},
		{"html only, entity escaped", "Content-Type: text/html\r\n\r\n<a href=\"" + strings.ReplaceAll(link+"&x=1", "&", "&amp;") + "\">go</a>\r\n", link + "&x=1"},
		{"multipart prefers text", "Content-Type: multipart/alternative; boundary=B\r\n\r\n--B\r\nContent-Type: text/html\r\n\r\n<a href=\"" + link + "&h=1\">x</a>\r\n--B\r\n" +
			"Content-Type: text/plain\r\n\r\n" + link + "\r\n--B--\r\n", link},
		{"no matching link", "Subject: x\r\n\r\nhttp://example.com/other\r\n", ""},
		{"not a mail at all", "Open " + link, link},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := findLink([]byte(tt.raw), "kobil-magic-link/login"); got != tt.want {
				t.Errorf("findLink() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestInboxOrderAndBounds(t *testing.T) {
	in := newInbox(2, 2)
	mail := func(n int) []byte { return fmt.Appendf(nil, "Subject: m\r\n\r\n%s&n=%d\r\n", link, n) }
	in.add([]string{"<A@bench.test>"}, mail(1))
	in.add([]string{"a@bench.test"}, mail(2))
	in.add([]string{"a@bench.test"}, mail(3)) // drops n=1: keep is 2
	in.add([]string{"b@bench.test"}, mail(4))
	in.add([]string{"c@bench.test"}, mail(5)) // third recipient: only counted

	if received, stored := in.stats(); received != 5 || stored != 3 {
		t.Fatalf("stats() = %d received, %d stored; want 5, 3", received, stored)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	tests := []struct {
		rcpt string
		want string
	}{
		{"b@bench.test", link + "&n=4"},
		{"", link + "&n=2"}, // oldest overall
		{"A@BENCH.TEST", link + "&n=3"},
		{"a@bench.test", ""},
		{"c@bench.test", ""},
	}
	for _, tt := range tests {
		got, _ := in.nextLink(ctx, tt.rcpt, "kobil-magic-link")
		if got != tt.want {
			t.Errorf("nextLink(%q) = %q, want %q", tt.rcpt, got, tt.want)
		}
	}
}

// TestSinkOverSMTPAndHTTP sends a real SMTP message and waits for its link
// over the HTTP API, the way the k6 magic-link scenario does.
func TestSinkOverSMTPAndHTTP(t *testing.T) {
	smtpAddr, httpAddr := loopback.FreeAddr(t), loopback.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, smtpAddr, httpAddr, newInbox(10, 10)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run() = %v, want nil", err)
		}
	})
	loopback.Get(t, "http://"+httpAddr+"/health", 5*time.Second)

	type answer struct {
		status int
		body   string
	}
	got := make(chan answer, 1)
	go func() { // asks before the mail exists: must wait for it
		resp, err := http.Get("http://" + httpAddr + "/next-link?to=user@bench.test&wait=5s")
		if err != nil {
			got <- answer{body: err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- answer{resp.StatusCode, string(b)}
	}()
	// Not an assertion that nothing happened: a head start for the request,
	// so that the sink most likely waits for the mail (the inbox shows no
	// waiter to wait for). Should the mail win the race, the request is
	// answered from the inbox and the test still checks the link.
	time.Sleep(50 * time.Millisecond)
	msg := "Subject: sign in\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		"Click http://127.0.0.1:18080/auth/realms/bench/kobil-magic-link/login?key=3DAbC_d-123\r\n"
	if err := smtp.SendMail(smtpAddr, nil, "bench@latchkey.test", []string{"user@bench.test"}, []byte(msg)); err != nil {
		t.Fatalf("SendMail: %v", err)
	}
	if a := <-got; a.status != http.StatusOK || a.body != link {
		t.Errorf("GET /next-link = %d %q, want 200 %q", a.status, a.body, link)
	}
	resp, err := http.Get("http://" + httpAddr + "/next-link?to=user@bench.test&wait=10ms")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("second GET /next-link = %d, want 404 (the link was handed out once)", resp.StatusCode)
	}
}
