// Package pgtest runs throwaway PostgreSQL servers for tests: one cluster
// per test binary (Shared, with Main in TestMain), a fresh database per
// test (NewDatabase), and private clusters that a test may stop and start
// (Start, for outage tests).
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		dsn := pgtest.Shared(t).NewDatabase(t)
//		...
//	}
//
// The server binaries are looked up in $PGTEST_BINDIR, then $PATH, then
// /usr/lib/postgresql/*/bin (the newest). When they are absent, tests that
// ask for a cluster are skipped with a message, unless the environment has
// CI=true: there a missing PostgreSQL fails the test, so that a CI image that
// lost it cannot pass by skipping.
//
// PostgreSQL refuses to run as root. Run as root, the cluster's directory is
// handed to the `postgres` system user (or `nobody`) and the server runs as
// that user. The server gets SIGKILL if the test binary dies (Pdeathsig), so
// a killed test run leaves no server behind (its directory under $TMPDIR
// stays).
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoPostgres is returned by New when the server binaries are not found.
var ErrNoPostgres = errors.New("pgtest: PostgreSQL server binaries (initdb, postgres) not found; install PostgreSQL or set PGTEST_BINDIR")

// startTimeout bounds the wait for a starting server to accept connections.
const startTimeout = 60 * time.Second

// Options configure New.
type Options struct {
	// Durable keeps fsync, synchronous commit and full-page writes on, as in
	// production; for crash and durability tests. Off by default, for speed.
	Durable bool
}

// Cluster is one running (or stopped) PostgreSQL server with its data
// directory. Its methods are safe for concurrent use.
type Cluster struct {
	binDir string
	dir    string // owned by the server's user: data/, the socket, the log
	port   int
	cred   *syscall.Credential // nil: run as the current user
	opts   Options
	seq    atomic.Int64

	mu     sync.Mutex
	cmd    *exec.Cmd     // the running server, nil when stopped
	exited chan struct{} // closed when cmd exits
	admin  *pgx.Conn     // to the postgres database, opened on demand
}

// New creates a cluster in a new temporary directory and starts it on a free
// port of 127.0.0.1. ErrNoPostgres (wrapped) when the binaries are missing.
// Close it when done.
func New(opts Options) (*Cluster, error) {
	binDir, err := findBinDir()
	if err != nil {
		return nil, err
	}
	c := &Cluster{binDir: binDir, opts: opts}
	if c.dir, err = os.MkdirTemp("", "pgtest-"); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if err := c.setOwner(); err != nil {
		_ = os.RemoveAll(c.dir)
		return nil, err
	}
	if err := c.initdb(); err != nil {
		_ = os.RemoveAll(c.dir)
		return nil, err
	}
	// A free port can be taken between the probe and the server's bind:
	// try a few.
	for attempt := 0; ; attempt++ {
		if c.port, err = freePort(); err == nil {
			if err = c.Start(); err == nil {
				return c, nil
			}
		}
		if attempt == 4 {
			_ = os.RemoveAll(c.dir)
			return nil, err
		}
	}
}

// findBinDir locates the directory holding initdb and postgres.
func findBinDir() (string, error) {
	has := func(dir string) bool {
		for _, name := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if dir := os.Getenv("PGTEST_BINDIR"); dir != "" {
		if has(dir) {
			return dir, nil
		}
		return "", fmt.Errorf("%w (PGTEST_BINDIR=%s lacks them)", ErrNoPostgres, dir)
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		// Debian links the binaries into /usr/local/bin; the real directory
		// holds the rest of the installation.
		if real, err := filepath.EvalSymlinks(p); err == nil && has(filepath.Dir(real)) {
			return filepath.Dir(real), nil
		}
		if has(filepath.Dir(p)) {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return versionOf(b) - versionOf(a) })
	for _, dir := range dirs {
		if has(dir) {
			return dir, nil
		}
	}
	return "", ErrNoPostgres
}

// versionOf reads the major version out of /usr/lib/postgresql/N/bin.
func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// setOwner decides which user runs the server and gives it the directory.
func (c *Cluster) setOwner() error {
	if os.Geteuid() != 0 {
		return nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(c.dir, int(uid), int(gid)); err != nil {
			return fmt.Errorf("pgtest: hand %s to user %s: %w", c.dir, name, err)
		}
		return nil
	}
	return errors.New("pgtest: running as root, and neither a postgres nor a nobody user exists to run the server as")
}

// command prepares one of the binaries to run as the server's user, dying
// with the test binary.
func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.binDir, name), args...)
	cmd.Dir = c.dir
	cmd.Env = []string{"PATH=" + c.binDir + ":/usr/bin:/bin", "LC_ALL=C", "LANG=C", "TZ=UTC", "HOME=" + c.dir}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Pdeathsig: syscall.SIGKILL}
	return cmd
}

func (c *Cluster) dataDir() string { return filepath.Join(c.dir, "data") }

func (c *Cluster) initdb() error {
	args := []string{"-D", c.dataDir(), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C"}
	if !c.opts.Durable {
		args = append(args, "--no-sync")
	}
	out, err := c.command("initdb", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	return nil
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start starts the stopped server again on the same directory and port, and
// waits until it accepts connections. Starting a running server is a no-op.
func (c *Cluster) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd != nil {
		return nil
	}
	logFile, err := os.OpenFile(c.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pgtest: server log: %w", err)
	}
	defer logFile.Close() // the child has its own descriptor
	args := []string{"-D", c.dataDir(), "-p", strconv.Itoa(c.port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=" + c.dir,
		"-c", "max_connections=300"}
	if !c.opts.Durable {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	cmd := c.command("postgres", args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	c.cmd, c.exited = cmd, exited
	if err := c.waitReady(exited); err != nil {
		c.stopLocked(syscall.SIGKILL)
		return err
	}
	return nil
}

// waitReady polls until the server accepts a connection, fails early when
// the server exits, and gives up after startTimeout.
func (c *Cluster) waitReady(exited <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, c.DSN("postgres"))
		cancel()
		if err == nil {
			_ = conn.Close(context.Background())
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("pgtest: postgres exited while starting; its log:\n%s", c.logTail())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pgtest: postgres not ready after %v: %w; its log:\n%s", startTimeout, err, c.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *Cluster) logPath() string { return filepath.Join(c.dir, "postgres.log") }

// LogPath is the server's log file (in the cluster's directory, removed by
// Close), for diagnosing a failed test.
func (c *Cluster) LogPath() string { return c.logPath() }

// logTail returns the end of the server log, for error messages.
func (c *Cluster) logTail() string {
	b, _ := os.ReadFile(c.logPath())
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Stop shuts the server down (fast shutdown: clients are disconnected, open
// transactions roll back) and keeps its data for Start. Stopping a stopped
// server is a no-op.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopLocked(syscall.SIGINT)
}

// stopLocked signals the server and waits for it, escalating to SIGKILL.
func (c *Cluster) stopLocked(sig syscall.Signal) error {
	if c.admin != nil {
		_ = c.admin.Close(context.Background())
		c.admin = nil
	}
	if c.cmd == nil {
		return nil
	}
	cmd, exited := c.cmd, c.exited
	c.cmd, c.exited = nil, nil
	_ = signalTree(cmd.Process.Pid, syscall.SIGCONT) // a frozen server cannot shut down
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
		return nil
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("pgtest: postgres did not stop on %v within 30s; killed", sig)
	}
}

// Freeze suspends the server and all its processes (SIGSTOP): connections
// stay open and new ones are accepted by the kernel, but nothing answers, as
// with a database behind a network partition. Thaw resumes it. Stop and
// Close thaw a frozen server first. Linux only (it reads /proc).
func (c *Cluster) Freeze() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return errors.New("pgtest: cluster is stopped")
	}
	return signalTree(c.cmd.Process.Pid, syscall.SIGSTOP)
}

// Thaw resumes a server suspended by Freeze.
func (c *Cluster) Thaw() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return errors.New("pgtest: cluster is stopped")
	}
	return signalTree(c.cmd.Process.Pid, syscall.SIGCONT)
}

// signalTree signals the postmaster, then each of its children. (Every
// child calls setsid, so a process group signal would reach the postmaster
// alone.) The postmaster goes first so that, when stopping, it forks no
// child that the scan could miss.
func signalTree(pid int, sig syscall.Signal) error {
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("pgtest: signal %v to postmaster: %w", sig, err)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return fmt.Errorf("pgtest: list processes: %w", err)
	}
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid ...: comm may hold spaces, so parse after
		// its closing parenthesis.
		i := strings.LastIndexByte(string(stat), ')')
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			_ = syscall.Kill(child, sig)
		}
	}
	return nil
}

// Close stops the server and removes its directory.
func (c *Cluster) Close() error {
	c.mu.Lock()
	err := c.stopLocked(syscall.SIGINT)
	c.mu.Unlock()
	if rmErr := os.RemoveAll(c.dir); err == nil && rmErr != nil {
		err = fmt.Errorf("pgtest: remove %s: %w", c.dir, rmErr)
	}
	return err
}

// Port is the server's TCP port on 127.0.0.1.
func (c *Cluster) Port() int { return c.port }

// DSN returns the connection string of database db as the superuser, with
// a short connect timeout so that tests of an outage do not hang.
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable&connect_timeout=5", c.port, db)
}

// Exec runs a statement in the postgres database as the superuser (e.g.
// pg_terminate_backend for a test of a lost connection).
func (c *Cluster) Exec(ctx context.Context, sql string, args ...any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return errors.New("pgtest: cluster is stopped")
	}
	// One reconnect: the admin connection may have been cut by a test.
	for attempt := 0; ; attempt++ {
		if c.admin == nil || c.admin.IsClosed() {
			conn, err := pgx.Connect(ctx, c.DSN("postgres"))
			if err != nil {
				return fmt.Errorf("pgtest: connect: %w", err)
			}
			c.admin = conn
		}
		_, err := c.admin.Exec(ctx, sql, args...)
		if err == nil || attempt == 1 || !c.admin.IsClosed() {
			return err
		}
	}
}

// CreateDatabase creates an empty database and returns its DSN. Names are
// made unique by NewDatabase; here the caller picks one.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) (string, error) {
	if err := c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("pgtest: create database %s: %w", name, err)
	}
	return c.DSN(name), nil
}

// dbNameUnsafe matches what NewDatabase replaces in a test name to make a
// database name that reads well unquoted.
var dbNameUnsafe = regexp.MustCompile(`[^a-z0-9_]+`)

// NewDatabase creates a fresh database for tb, named after the test, and
// returns its DSN. The database is dropped when tb ends (after the
// cleanups registered later, such as closing a store on it).
func (c *Cluster) NewDatabase(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("t%d_%s", c.seq.Add(1), dbNameUnsafe.ReplaceAllString(strings.ToLower(tb.Name()), "_"))
	if len(name) > 63 {
		name = name[:63]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dsn, err := c.CreateDatabase(ctx, name)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// Best effort: a stopped cluster or a closed one keeps it.
		_ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})
	return dsn
}

// Start returns a private cluster for tb, closed when tb ends: for tests
// that stop and restart the server. It skips tb when PostgreSQL is not
// installed, and fails it instead when CI=true.
func Start(tb testing.TB) *Cluster {
	tb.Helper()
	c, err := New(Options{})
	if err != nil {
		skipOrFail(tb, err)
	}
	tb.Cleanup(func() {
		if err := c.Close(); err != nil {
			tb.Errorf("pgtest: %v", err)
		}
	})
	return c
}

var shared struct {
	once    sync.Once
	cluster *Cluster
	err     error
}

// Shared returns the test binary's cluster, starting it on first use. It
// skips tb when PostgreSQL is not installed (fails it when CI=true). The
// package's TestMain must call Main, which closes the cluster at the end.
// Tests must not stop it: use Start for that.
func Shared(tb testing.TB) *Cluster {
	tb.Helper()
	shared.once.Do(func() { shared.cluster, shared.err = New(Options{}) })
	if shared.err != nil {
		skipOrFail(tb, shared.err)
	}
	return shared.cluster
}

// Main runs the tests of a package that uses Shared and closes the shared
// cluster afterwards. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if shared.cluster != nil {
		if err := shared.cluster.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	os.Exit(code)
}

// skipOrFail ends tb for a cluster that could not start: a skip when
// PostgreSQL is absent outside CI, a failure otherwise.
func skipOrFail(tb testing.TB, err error) {
	tb.Helper()
	if errors.Is(err, ErrNoPostgres) && os.Getenv("CI") != "true" {
		tb.Skipf("%v (set CI=true to make this a failure)", err)
		return
	}
	tb.Fatalf("pgtest: no PostgreSQL cluster: %v", err)
}
