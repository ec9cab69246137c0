package crashtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ModuleRoot returns the directory of the main module's go.mod, found with
// `go env GOMOD` so that tests and scripts work from any working directory
// inside the repository.
func ModuleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("go env GOMOD: not inside a module")
	}
	return filepath.Dir(mod), nil
}

// Build compiles cmd/latchkey into dir and returns the binary's path. It is
// built without -race even when the caller runs with it: the subject of these
// tests is the shipped binary's behaviour under kills, and the race detector
// would only slow every restart down.
func Build(ctx context.Context, dir string) (string, error) {
	root, err := ModuleRoot(ctx)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "latchkey")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/latchkey")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/latchkey: %w\n%s", err, stderr.String())
	}
	return bin, nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Process is one running latchkey server.
type Process struct {
	// URL is the server's base URL (http://127.0.0.1:port).
	URL string
	// Started is when the process was launched.
	Started time.Time

	cmd  *exec.Cmd
	done chan struct{}
	err  error // the result of cmd.Wait, valid once done is closed
	logs *syncBuffer
}

// Start launches `bin serve --config cfgPath` and returns at once; call
// WaitReady before using it. The server's log goes to logs (nil: kept only
// in memory, see Logs).
func Start(bin, cfgPath, baseURL string, logs io.Writer) (*Process, error) {
	p := &Process{URL: baseURL, done: make(chan struct{}), logs: &syncBuffer{}}
	cmd := exec.Command(bin, "serve", "--config", cfgPath)
	var w io.Writer = p.logs
	if logs != nil {
		w = io.MultiWriter(p.logs, logs)
	}
	cmd.Stdout, cmd.Stderr = w, w
	// The server must see only the signals the test sends it, not a Ctrl-C
	// meant for `go test`.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p.Started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p.cmd = cmd
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// PID is the server's process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Logs returns everything the server wrote so far.
func (p *Process) Logs() string { return p.logs.String() }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// WaitReady polls /health/ready until it answers 200 or timeout passes, and
// returns how long that took from the launch.
func (p *Process) WaitReady(timeout time.Duration) (time.Duration, error) {
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		if p.Exited() {
			return 0, fmt.Errorf("server exited before it was ready (%v); log:\n%s", p.err, tail(p.Logs(), 4000))
		}
		resp, err := c.Get(p.URL + "/health/ready")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(p.Started), nil
			}
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("server not ready within %s (last error %v); log:\n%s", timeout, err, tail(p.Logs(), 4000))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Kill sends SIGKILL and waits for the process to be gone, so that the
// bbolt file lock is released before the next start.
func (p *Process) Kill() error {
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("SIGKILL pid %d: %w", p.PID(), err)
	}
	<-p.done
	return nil
}

// Terminate sends SIGTERM and waits up to timeout for a graceful exit; it
// returns the exit code (SIGKILLing the process and failing if it hangs).
func (p *Process) Terminate(timeout time.Duration) (int, error) {
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return -1, err
	}
	return p.Wait(timeout)
}

// Signal sends sig to the server.
func (p *Process) Signal(sig syscall.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("send %v to pid %d: %w", sig, p.PID(), err)
	}
	return nil
}

// Wait waits up to timeout for the process to exit and returns its exit code.
// A process still running after timeout is killed and an error returned.
func (p *Process) Wait(timeout time.Duration) (int, error) {
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.Kill()
		return -1, fmt.Errorf("server did not exit within %s; log:\n%s", timeout, tail(p.Logs(), 4000))
	}
	if p.err == nil {
		return 0, nil
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode(), nil
	}
	return -1, p.err
}

// RSS returns the process's resident set size from /proc/<pid>/status
// (VmRSS), with its anonymous and file-backed parts (the bbolt file is
// memory-mapped, so its pages count as RssFile).
func (p *Process) RSS() (MemSample, error) { return ReadRSS(p.PID()) }

// MemSample is one reading of a process's memory, in bytes.
type MemSample struct {
	RSS, Anon, File int64
}

// ReadRSS reads VmRSS, RssAnon and RssFile of pid.
func ReadRSS(pid int) (MemSample, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return MemSample{}, fmt.Errorf("read memory of pid %d: %w", pid, err)
	}
	var m MemSample
	for _, line := range strings.Split(string(b), "\n") {
		var kb int64
		switch {
		case strings.HasPrefix(line, "VmRSS:"):
			_, err = fmt.Sscanf(strings.TrimPrefix(line, "VmRSS:"), "%d", &kb)
			m.RSS = kb << 10
		case strings.HasPrefix(line, "RssAnon:"):
			_, err = fmt.Sscanf(strings.TrimPrefix(line, "RssAnon:"), "%d", &kb)
			m.Anon = kb << 10
		case strings.HasPrefix(line, "RssFile:"):
			_, err = fmt.Sscanf(strings.TrimPrefix(line, "RssFile:"), "%d", &kb)
			m.File = kb << 10
		}
		if err != nil {
			return MemSample{}, fmt.Errorf("parse %q of pid %d: %w", line, pid, err)
		}
	}
	if m.RSS == 0 {
		return MemSample{}, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return m, nil
}

// syncBuffer is a bytes.Buffer safe for the process's writer goroutines and
// the test reading it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
