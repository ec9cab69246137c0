package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/testkit"
)

// TestReloadRefusesInvalidConfig: an invalid file is refused with every
// problem logged, and the running realms stay.
func TestReloadRefusesInvalidConfig(t *testing.T) {
	env := testkit.New(t, remoteConfig, testkit.Options{PlainHTTP: true})
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("realms:\n  - name: a\n    sslRequired: sometimes\n    clients: [{clientId: x}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	err := reloadConfig(context.Background(), env.Server, func() (*config.Config, error) { return config.Load(bad) },
		slog.New(slog.NewTextHandler(&logs, nil)))
	if err == nil {
		t.Fatal("an invalid config was accepted")
	}
	for _, key := range []string{"realms[0].sslRequired", "realms[0].clients[0].secret"} {
		if !strings.Contains(logs.String(), key) {
			t.Errorf("the log does not name %s: %s", key, logs.String())
		}
	}
	env.ServiceToken(t, "a", "admin", "admin-secret") // the running config is kept
}

// TestReloadCommandSignalsThePID: `latchkey reload` sends SIGHUP to the PID
// in the data directory (here a stand-in process, which SIGHUP ends).
func TestReloadCommandSignalsThePID(t *testing.T) {
	cfgPath, dbPath := writeConfig(t)
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Skipf("no sleep command: %v", err)
	}
	defer func() { _ = child.Process.Kill() }()
	if err := os.WriteFile(filepath.Join(filepath.Dir(dbPath), pidFileName), []byte(strconv.Itoa(child.Process.Pid)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "--config", cfgPath, "reload")
	if err != nil || !strings.Contains(out, "asked the server") {
		t.Fatalf("reload = %q, %v", out, err)
	}
	err = child.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGHUP {
		t.Errorf("the process ended with %v, want SIGHUP", err)
	}
}
