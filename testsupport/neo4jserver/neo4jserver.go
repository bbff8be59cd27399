// Package neo4jserver runs a real Neo4j Community server for tests: Neo4j
// embedded in a small JVM launcher (java/TestNeo4j.java) that Maven builds
// from Maven Central into the user cache dir, with Bolt on 127.0.0.1, auth
// on, and a small memory footprint. Two versions are pinned in java/pom.xml
// (series 5.26 and 4.4); USERSVC_NEO4J_VERSION picks one.
//
// A test package shares one server per test binary:
//
//	func TestMain(m *testing.M) { os.Exit(neo4jserver.Run(m)) }
//
//	func TestSomething(t *testing.T) {
//		srv := neo4jserver.Get(t)   // started on first use
//		neo4jserver.Clean(t, srv)   // empty graph, no constraints or indexes
//		driver, _ := neo4j.NewDriverWithContext(srv.URI, neo4j.BasicAuth(srv.User, srv.Password, ""))
//		...
//	}
//
// With NEO4J_TEST_URI (and NEO4J_TEST_USER, NEO4J_TEST_PASSWORD) set, that
// server is used instead and nothing is built or started; Clean wipes it.
//
// The JVM dies with the test binary even when that is killed: it gets
// SIGKILL through Pdeathsig, and it exits by itself when its stdin, a pipe
// only this process holds, reaches EOF.
package neo4jserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"

	"github.com/usersvc/usersvc/testsupport/syncbuffer"
)

// DefaultVersion is the series used when neither Options.Version nor
// USERSVC_NEO4J_VERSION names one.
const DefaultVersion = "5.26"

// JVMFlags are the JVM options every server gets before Options.JVMFlags.
// C1 only (TieredStopAtLevel=1) about halves the start time; JVM warnings
// go to stderr to keep stdout for the BOLT line; the opens spare Neo4j's
// page cache its slow fallback on Java 17.
var JVMFlags = []string{
	"-Xms64m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
	"-XX:+ExitOnOutOfMemoryError", "-XX:-UsePerfData",
	"-Xlog:disable", "-Xlog:all=warning:stderr",
	"--add-opens=java.base/java.nio=ALL-UNNAMED",
	"--add-opens=java.base/java.lang=ALL-UNNAMED",
}

// Options configure Start.
type Options struct {
	// Version is a series pinned in java/pom.xml ("5.26", "4.4") or its
	// pinned patch ("5.26.30"); empty means $USERSVC_NEO4J_VERSION, then
	// DefaultVersion.
	Version string
	// Password for user neo4j; empty means a random one. Neo4j 5 wants at
	// least 8 characters.
	Password string
	// StartTimeout bounds JVM start to Bolt ready (not the build); 0 means
	// 180s.
	StartTimeout time.Duration
	// JVMFlags are added after the package's JVMFlags (a later -Xmx wins).
	JVMFlags []string
	// Log, if set, also receives the JVM's stderr.
	Log io.Writer

	noPdeathsig bool // tests: leave only the stdin pipe to stop the JVM
}

// Server is a running Neo4j (or the external one from NEO4J_TEST_URI).
type Server struct {
	URI      string // bolt://127.0.0.1:PORT
	User     string
	Password string
	Version  string // the patch, e.g. "5.26.30"
	PID      int    // the JVM; 0 for an external server

	cmd      *exec.Cmd
	stdin    io.WriteCloser
	done     chan struct{} // closed once the JVM has exited
	home     string
	output   *syncbuffer.Buffer
	stopOnce sync.Once
	startup  time.Duration // JVM start to Bolt ready
}

// Start builds (or reuses) the launcher for opts.Version and starts a
// server, returning once Bolt accepts connections. ctx bounds the build and
// the start, not the server's life: stop it with Stop.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if uri := os.Getenv("NEO4J_TEST_URI"); uri != "" {
		return external(ctx, uri)
	}
	return StartLocal(ctx, opts)
}

// StartLocal is Start's own JVM, whatever NEO4J_TEST_URI says: the
// launcher's tests check the launcher also where the suites use an
// external server, and the load harness must count the CPU of the Neo4j
// it measures, which it can only for a process of its own.
func StartLocal(ctx context.Context, opts Options) (*Server, error) {
	series, patch, err := resolveVersion(opts.Version)
	if err != nil {
		return nil, err
	}
	l, err := prepare(ctx, series, patch)
	if err != nil {
		return nil, err
	}
	return l.launch(ctx, opts, l.cdsFlags...)
}

// launcher is a built launcher and the JVM to run it with.
type launcher struct {
	dir, java, patch string
	cdsFlags         []string
}

func prepare(ctx context.Context, series, patch string) (*launcher, error) {
	dir, err := build(ctx, series, patch)
	if err != nil {
		return nil, err
	}
	java, err := javaBinary()
	if err != nil {
		return nil, err
	}
	l := &launcher{dir: dir, java: java, patch: patch}
	if l.cdsFlags, err = l.ensureCDS(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

// launch starts the JVM with JVMFlags, then flags, then opts.JVMFlags.
func (l *launcher) launch(ctx context.Context, opts Options, flags ...string) (*Server, error) {
	dir, java, patch := l.dir, l.java, l.patch
	password := opts.Password
	if password == "" {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		password = hex.EncodeToString(b)
	}
	sweepHomes()
	home, err := os.MkdirTemp("", homePrefix)
	if err != nil {
		return nil, err
	}
	args := append(append(append(append([]string{}, JVMFlags...), flags...), opts.JVMFlags...),
		"@"+filepath.Join(dir, "java.args"), "TestNeo4j", home)
	cmd := exec.Command(java, args...)
	cmd.Env = append(os.Environ(), "USERSVC_NEO4J_PASSWORD="+password)
	if !opts.noPdeathsig {
		cmd.SysProcAttr = sysProcAttr()
	}
	s := &Server{
		User: "neo4j", Password: password, Version: patch,
		cmd: cmd, done: make(chan struct{}), home: home,
		output: &syncbuffer.Buffer{Limit: 256 << 10},
	}
	var stderr io.Writer = s.output
	if opts.Log != nil {
		stderr = io.MultiWriter(s.output, opts.Log)
	}
	cmd.Stderr = stderr
	if s.stdin, err = cmd.StdinPipe(); err != nil {
		os.RemoveAll(home)
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		os.RemoveAll(home)
		return nil, err
	}
	began := time.Now()
	if err := s.start(); err != nil {
		os.RemoveAll(home)
		return nil, fmt.Errorf("neo4jserver: start java: %w", err)
	}
	s.PID = cmd.Process.Pid
	_ = os.WriteFile(filepath.Join(home, "jvm.pid"), []byte(strconv.Itoa(s.PID)), 0o644)

	ready := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		for {
			line, err := r.ReadString('\n')
			if uri, ok := strings.CutPrefix(strings.TrimSpace(line), "BOLT "); ok {
				ready <- uri
				_, _ = io.Copy(s.output, r)
				return
			}
			_, _ = io.WriteString(s.output, line)
			if err != nil {
				return
			}
		}
	}()
	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = 180 * time.Second
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case s.URI = <-ready:
		s.startup = time.Since(began)
		return s, nil
	case <-s.done:
		err = fmt.Errorf("the JVM exited before Bolt was ready (%v)", s.cmd.ProcessState)
	case <-timer.C:
		err = fmt.Errorf("no Bolt after %s", timeout)
	case <-ctx.Done():
		err = ctx.Err()
	}
	took := time.Since(began).Round(time.Millisecond)
	debugLog := s.debugLogTail()
	s.Stop()
	return nil, fmt.Errorf("neo4jserver: Neo4j %s (%s): %w after %s\n--- JVM output:\n%s--- end of its debug.log:\n%s",
		patch, java, err, took, tail(s.output.String(), 8000), debugLog)
}

// start runs the JVM from a goroutine that holds its OS thread until the
// JVM exits: Pdeathsig fires when the starting thread ends, not the process.
func (s *Server) start() error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		if err := s.cmd.Start(); err != nil {
			errc <- err
			return
		}
		errc <- nil
		_ = s.cmd.Wait()
		close(s.done)
	}()
	return <-errc
}

const homePrefix = "usersvc-neo4j-"

// sweepHomes removes the stores of JVMs that are gone without a Stop (their
// test binary was killed).
func sweepHomes() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), homePrefix+"*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "jvm.pid"))
		if err != nil {
			// No pid yet: leave a home that may be starting right now.
			if fi, err := os.Stat(d); err != nil || time.Since(fi.ModTime()) < time.Hour {
				continue
			}
		} else if pid, err := strconv.Atoi(string(b)); err == nil && jvmAlive(pid) {
			continue
		}
		_ = os.RemoveAll(d)
	}
}

// jvmAlive reports whether pid is a launcher JVM (not a zombie, not a
// reused pid).
func jvmAlive(pid int) bool {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte("TestNeo4j")) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z' && stat[i+2] != 'X'
	}
	return true
}

// debugLogTail must be read before Stop removes the home dir.
func (s *Server) debugLogTail() string {
	b, err := os.ReadFile(filepath.Join(s.home, "logs", "debug.log"))
	if err != nil {
		return err.Error() + "\n"
	}
	return tail(string(b), 6000)
}

// Stop asks the JVM to shut down (SIGTERM runs Neo4j's clean shutdown),
// kills it if it has not exited within 30s, and removes its store. It is a
// no-op for an external server and safe to call twice.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.stopOnce.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		_ = s.stdin.Close()
		_ = os.RemoveAll(s.home)
	})
}

// Output is what the JVM wrote to stdout and stderr (the first 256 KiB).
func (s *Server) Output() string {
	if s.output == nil {
		return ""
	}
	return s.output.String()
}

func javaBinary() (string, error) {
	if h := os.Getenv("JAVA_HOME"); h != "" {
		return filepath.Join(h, "bin", "java"), nil
	}
	java, err := exec.LookPath("java")
	if err != nil {
		return "", fmt.Errorf("neo4jserver: a JDK (java, 17+) is needed to run Neo4j: %w", err)
	}
	return java, nil
}

func external(ctx context.Context, uri string) (*Server, error) {
	s := &Server{URI: uri, User: os.Getenv("NEO4J_TEST_USER"), Password: os.Getenv("NEO4J_TEST_PASSWORD")}
	if s.User == "" {
		s.User = "neo4j"
	}
	err := s.withDriver(ctx, func(d neo4j.DriverWithContext) error {
		res, err := neo4j.ExecuteQuery(ctx, d, "CALL dbms.components() YIELD versions RETURN versions[0] AS v",
			nil, neo4j.EagerResultTransformer)
		if err != nil {
			return err
		}
		if len(res.Records) > 0 {
			s.Version, _ = res.Records[0].Values[0].(string)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("neo4jserver: NEO4J_TEST_URI %s: %w", uri, err)
	}
	return s, nil
}

func (s *Server) withDriver(ctx context.Context, f func(neo4j.DriverWithContext) error) error {
	d, err := neo4j.NewDriverWithContext(s.URI, neo4j.BasicAuth(s.User, s.Password, ""))
	if err != nil {
		return err
	}
	defer d.Close(ctx)
	return f(d)
}

// Reset empties the default database: all nodes and relationships, then
// all constraints and all indexes but the built-in token LOOKUP ones. The
// statements run on both 4.4 and 5.x.
func (s *Server) Reset(ctx context.Context) error {
	return s.withDriver(ctx, func(d neo4j.DriverWithContext) error {
		run := func(q string) (*neo4j.EagerResult, error) {
			return neo4j.ExecuteQuery(ctx, d, q, nil, neo4j.EagerResultTransformer)
		}
		if _, err := run("MATCH (n) DETACH DELETE n"); err != nil {
			return err
		}
		// Constraints first: dropping one drops the index it owns.
		for _, kind := range [][2]string{{"CONSTRAINT", "CONSTRAINTS"}, {"INDEX", "INDEXES"}} {
			res, err := run("SHOW " + kind[1] + " YIELD name, type RETURN name, type")
			if err != nil {
				return err
			}
			for _, r := range res.Records {
				name, _ := r.Values[0].(string)
				if typ, _ := r.Values[1].(string); typ == "LOOKUP" {
					continue
				}
				if _, err := run("DROP " + kind[0] + " " + quoteName(name) + " IF EXISTS"); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// quoteName backtick-quotes a schema name for Cypher.
func quoteName(n string) string { return "`" + strings.ReplaceAll(n, "`", "``") + "`" }

// Clean gives the calling test an empty graph (see Reset).
func Clean(t testing.TB, s *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.Reset(ctx); err != nil {
		t.Fatalf("neo4jserver: clean %s: %v", s.URI, err)
	}
}

var shared struct {
	mu  sync.Mutex
	srv *Server
	err error
}

// Get returns the test binary's shared server, starting it on first use
// (a start failure fails every later Get too, without retrying). Run stops
// it when the tests are done.
func Get(t testing.TB) *Server {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv == nil && shared.err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout+5*time.Minute)
		defer cancel()
		shared.srv, shared.err = Start(ctx, Options{})
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.srv
}

// Run runs the tests and then stops the shared server, if one was started:
//
//	func TestMain(m *testing.M) { os.Exit(neo4jserver.Run(m)) }
func Run(m *testing.M) int {
	code := m.Run()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv != nil {
		shared.srv.Stop()
		shared.srv = nil
	}
	shared.err = errors.New("neo4jserver: the shared server was stopped (Get after Run returned)")
	return code
}
