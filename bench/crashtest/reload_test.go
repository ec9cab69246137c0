package crashtest_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/bench/crashtest"
	"github.com/latchkey/latchkey/internal/testkit/poll"
)

// TestConfigReloadOnTheBinary edits the running server's config file (the
// service client's secret) and makes the real binary re-read it, once with
// SIGHUP and once with `latchkey reload`; an invalid edit is refused and the
// running config kept.
func TestConfigReloadOnTheBinary(t *testing.T) {
	s := newServer(t, nil)
	p, _ := s.start(t)
	ctx := context.Background()
	secretWorks := func(secret string) bool {
		r, err := s.client.PostForm(ctx, nil, s.client.RealmURL(crashtest.PathToken), url.Values{
			"grant_type": {"client_credentials"}, "client_id": {crashtest.ServiceClientID}, "client_secret": {secret}})
		return err == nil && r.Status == http.StatusOK
	}
	edit := func(from, to string) {
		t.Helper()
		b, err := os.ReadFile(s.path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), from) {
			t.Fatalf("the config has no %q", from)
		}
		if err := os.WriteFile(s.path, []byte(strings.Replace(string(b), from, to, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if !secretWorks(crashtest.ServiceSecret) {
		t.Fatal("the service client does not work before the reload")
	}

	edit(crashtest.ServiceSecret, "rotated-secret-one")
	if err := p.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "the new secret after SIGHUP", func() bool { return secretWorks("rotated-secret-one") })
	if secretWorks(crashtest.ServiceSecret) {
		t.Error("the old secret still works after the reload")
	}

	edit("sslRequired: none", "sslRequired: sometimes") // invalid: refused, the running config kept
	if err := p.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "the refusal in the log", func() bool { return strings.Contains(p.Logs(), "config reload refused") })
	if !secretWorks("rotated-secret-one") {
		t.Error("a refused reload changed the running config")
	}

	edit("sslRequired: sometimes", "sslRequired: none")
	edit("rotated-secret-one", "rotated-secret-two")
	if out, err := exec.Command(s.bin, "reload", "--config", s.path).CombinedOutput(); err != nil {
		t.Fatalf("latchkey reload: %v\n%s", err, out)
	}
	poll.Until(t, 10*time.Second, "the new secret after latchkey reload", func() bool { return secretWorks("rotated-secret-two") })
	if code, err := p.Terminate(20 * time.Second); err != nil || code != 0 {
		t.Errorf("SIGTERM after reloads: exit %d, %v", code, err)
	}
}
