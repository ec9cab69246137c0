package pgtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

func ping(ctx context.Context, dsn string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.Ping(ctx)
}

// A database per test, and a private cluster that stops and starts on the
// same port with its data.
func TestClusterLifecycle(t *testing.T) {
	ctx := context.Background()
	a, b := Shared(t).NewDatabase(t), Shared(t).NewDatabase(t)
	if a == b {
		t.Fatalf("two NewDatabase calls returned the same DSN %s", a)
	}
	for _, dsn := range []string{a, b} {
		if err := ping(ctx, dsn); err != nil {
			t.Errorf("ping %s: %v", dsn, err)
		}
	}

	c := Start(t)
	dsn := c.NewDatabase(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := ping(ctx, dsn); err == nil {
		t.Error("ping of a stopped cluster succeeded")
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	conn, err = pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var x int
	if err := conn.QueryRow(ctx, "SELECT x FROM kept").Scan(&x); err != nil || x != 42 {
		t.Errorf("data after restart: %d, %v; want 42", x, err)
	}
}

// fakeTB records how skipOrFail ends a test.
type fakeTB struct {
	testing.TB
	skipped, failed bool
}

func (f *fakeTB) Helper()               {}
func (f *fakeTB) Skipf(string, ...any)  { f.skipped = true }
func (f *fakeTB) Fatalf(string, ...any) { f.failed = true }

// Without PostgreSQL a test is skipped, except under CI=true, where it fails;
// any other failure to start fails.
func TestSkipOrFail(t *testing.T) {
	other := errors.New("initdb: disk full")
	tests := []struct {
		ci          string
		err         error
		wantSkipped bool
	}{
		{"", ErrNoPostgres, true},
		{"false", fmt.Errorf("wrapped: %w", ErrNoPostgres), true},
		{"true", ErrNoPostgres, false},
		{"", other, false},
	}
	for _, tt := range tests {
		t.Setenv("CI", tt.ci)
		f := &fakeTB{}
		skipOrFail(f, tt.err)
		if f.skipped != tt.wantSkipped || f.failed == tt.wantSkipped {
			t.Errorf("CI=%q, %v: skipped %v failed %v; want skipped %v", tt.ci, tt.err, f.skipped, f.failed, tt.wantSkipped)
		}
	}
}

// The server dies with the test binary that started it (Pdeathsig), so a
// killed test run leaves no server behind.
func TestServerDiesWithTestBinary(t *testing.T) {
	if os.Getenv("PGTEST_HELPER") == "1" {
		c, err := New(Options{})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(c.Port(), c.LogPath())
		time.Sleep(time.Minute) // killed by the parent
		os.Exit(0)
	}
	if _, err := findBinDir(); err != nil {
		skipOrFail(t, err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestServerDiesWithTestBinary$")
	cmd.Env = append(os.Environ(), "PGTEST_HELPER=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		t.Fatalf("helper: %v", err)
	}
	fields := strings.Fields(line)
	port, err := strconv.Atoi(fields[0])
	if err != nil || len(fields) != 2 {
		_ = cmd.Process.Kill()
		t.Fatalf("helper said %q", line)
	}
	defer os.RemoveAll(filepath.Dir(fields[1]))
	dsn := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=2", port)
	if err := ping(context.Background(), dsn); err != nil {
		t.Fatalf("helper's server not up: %v", err)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for ping(context.Background(), dsn) == nil {
		if time.Now().After(deadline) {
			t.Fatal("the server outlived the test binary that started it by 10s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
