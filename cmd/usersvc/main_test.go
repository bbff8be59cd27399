package main

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/usersvc/usersvc/testsupport/neo4jserver"
	"github.com/usersvc/usersvc/testsupport/syncbuffer"
)

// startRun runs the service in-process on a loopback port and returns its
// address and a channel with run's exit code.
func startRun(t *testing.T, ctx context.Context, env ...string) (string, <-chan int) {
	t.Helper()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	// Tests never take the default metrics port.
	env = append([]string{"METRICS_ADDR", "127.0.0.1:0"}, env...)
	go func() {
		code := run(ctx, nil, envMap(env...), pw, io.Discard)
		_ = pw.Close()
		done <- code
	}()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var rec map[string]any
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["msg"] == "usersvc listening" {
				addr <- rec["addr"].(string)
			}
		}
	}()
	select {
	case a := <-addr:
		return a, done
	case code := <-done:
		t.Fatalf("run exited with %d before listening", code)
	case <-time.After(10 * time.Second):
		t.Fatal("service did not start")
	}
	return "", nil
}

func TestRunRejectsBadConfigWithExit2(t *testing.T) {
	var stderr bytes.Buffer
	code := run(context.Background(), nil, envMap("AUTH_DISABLED", "true", "LISTEN_ADDR", "nope"), io.Discard, &stderr)
	if code != exitConfig {
		t.Fatalf("exit code = %d, want 2", code)
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "LISTEN_ADDR") {
		t.Fatalf("stderr = %q, want one line naming LISTEN_ADDR", stderr.String())
	}
}

func TestRunEnvListsVariables(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"env"}, envMap(), &out, io.Discard); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	for _, v := range envVars {
		if !strings.Contains(out.String(), v.Name) {
			t.Errorf("usersvc env does not list %s", v.Name)
		}
	}
}

func TestRunRejectsUnreadableCatalog(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "catalog.json")
	if err := os.WriteFile(bad, []byte(`{"tables":[{"key":"k","colour":"red"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	code := run(context.Background(), nil, envMap("AUTH_DISABLED", "true", "LISTEN_ADDR", "127.0.0.1:0",
		"EMBEDDED_DB_PATH", filepath.Join(dir, "u.db"), "EMBEDDED_CATALOG_FILE", bad), io.Discard, &stderr)
	if code != exitConfig || !strings.Contains(stderr.String(), "EMBEDDED_CATALOG_FILE") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}

// TestGracefulShutdownFinishesInFlightRequests sends half a PUT, stops the
// service, then sends the rest: the request completes and the write lands.
func TestGracefulShutdownFinishesInFlightRequests(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env := []string{"AUTH_DISABLED", "true", "LISTEN_ADDR", "127.0.0.1:0", "EMBEDDED_DB_PATH", filepath.Join(dir, "u.db"), "SHUTDOWN_TIMEOUT", "10s"}
	addr, done := startRun(t, ctx, env...)

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"email":"inflight@example.com","display_name":"In Flight"}`
	head := fmt.Sprintf("PUT /user HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	if _, err := io.WriteString(conn, head+body[:10]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	cancel() // as SIGTERM does
	time.Sleep(200 * time.Millisecond)
	select {
	case code := <-done:
		t.Fatalf("run returned %d while a request was in flight", code)
	default:
	}
	if _, err := io.WriteString(conn, body[10:]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request got no response: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("in-flight PUT = %d, want 201", resp.StatusCode)
	}
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("exit code = %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("service did not stop after draining")
	}

	// The write survived: a new instance on the same file serves it.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	addr, done = startRun(t, ctx2, env...)
	resp, err = http.Get("http://" + addr + "/user/inflight@example.com")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after restart GET = %d", resp.StatusCode)
	}
	cancel2()
	<-done
}

// TestMain stops the shared real Neo4j, removes the built binaries and
// fails the package when a goroutine outlives the tests (in-process runs of
// the service must stop cleanly).
func TestMain(m *testing.M) {
	code := neo4jserver.Run(m)
	for _, p := range builds.paths {
		_ = os.RemoveAll(filepath.Dir(p))
	}
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreTopFunction("github.com/patrickmn/go-cache.(*janitor).Run")); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// builds holds one compiled binary per set of build flags for this test run.
var builds struct {
	sync.Mutex
	paths map[string]string
}

// buildBinary compiles ./cmd/usersvc as the Dockerfile does (static, trimmed
// paths), once per test run.
func buildBinary(t *testing.T) string { return buildBinaryWith(t) }

// buildBinaryWith compiles ./cmd/usersvc with extra go build flags, once per
// set of flags. The child build gets GOFLAGS set to Go's own default, so the
// binary under test is the same whether the caller set GOFLAGS (CI once set
// -buildvcs=false) or not. Clearing it is not enough: go treats an empty
// GOFLAGS as unset and falls back to a `go env -w` default (this machine's
// go env file holds GOFLAGS=-buildvcs=false). Flags a test depends on are
// passed explicitly instead.
func buildBinaryWith(t *testing.T, flags ...string) string {
	t.Helper()
	key := strings.Join(flags, " ")
	builds.Lock()
	defer builds.Unlock()
	if p, ok := builds.paths[key]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "usersvc-bin")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "usersvc")
	args := append([]string{"build", "-trimpath", "-o", path}, flags...)
	cmd := exec.Command("go", append(args, ".")...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=auto")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if builds.paths == nil {
		builds.paths = map[string]string{}
	}
	builds.paths[key] = path
	return path
}

// freePort returns a loopback address nothing listens on, never the same
// one twice in this test binary: the kernel hands a just-closed port out
// again, so two calls in a row (an API and a metrics address) could get one
// port for both.
func freePort(t *testing.T) string {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if !handedOut.addrs[addr] {
			handedOut.addrs[addr] = true
			return addr
		}
	}
}

// handedOut are the addresses freePort returned.
var handedOut = struct {
	sync.Mutex
	addrs map[string]bool
}{addrs: map[string]bool{}}

// startBinary runs the built binary with exactly the given environment and
// waits until /livez answers.
func startBinary(t *testing.T, env ...string) (*exec.Cmd, string) {
	t.Helper()
	return startBinaryAt(t, buildBinary(t), env...)
}

// startBinaryAt is startBinary for a binary built with other flags.
func startBinaryAt(t *testing.T, path string, env ...string) (*exec.Cmd, string) {
	t.Helper()
	addr := freePort(t)
	cmd := exec.Command(path)
	cmd.Env = append([]string{"LISTEN_ADDR=" + addr, "METRICS_ADDR=127.0.0.1:0"}, env...)
	startUntilHealthy(t, cmd, "http://"+addr+"/livez")
	return cmd, addr
}

// startUntilHealthy starts cmd (t.Cleanup kills it) and waits up to 30s, a
// bound generous enough for a loaded 2-core CI machine, until healthURL
// answers. The start of its output is kept for the failure message.
func startUntilHealthy(t *testing.T, cmd *exec.Cmd, healthURL string) {
	t.Helper()
	out := &syncbuffer.Buffer{Limit: 64 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(healthURL); err == nil {
			resp.Body.Close()
			return
		}
		if cmd.Process.Signal(syscall.Signal(0)) != nil {
			break // it exited
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not start; its output:\n%s", filepath.Base(cmd.Path), out)
}

func TestBinaryRoundTripSurvivesRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	db := "EMBEDDED_DB_PATH=" + filepath.Join(t.TempDir(), "data", "usersvc.db")
	cmd, addr := startBinary(t, "AUTH_DISABLED=true", db)
	req, _ := http.NewRequest(http.MethodPut, "http://"+addr+"/user", strings.NewReader(`{"email":"restart@example.com","first_name":"Re","last_name":"Start"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT = %d", resp.StatusCode)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}

	_, addr = startBinary(t, "AUTH_DISABLED=true", db)
	resp, err = http.Get("http://" + addr + "/user/restart@example.com")
	if err != nil {
		t.Fatal(err)
	}
	var u map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&u)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || u["full_name"] != "Re Start" {
		t.Fatalf("after restart: %d %v", resp.StatusCode, u)
	}
}

// TestBinaryIsStatic: the distroless image has no libc, so the binary the
// Dockerfile builds must not need a dynamic loader.
func TestBinaryIsStatic(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	f, err := elf.Open(buildBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("the binary asks for a dynamic loader")
		}
	}
}

func TestBinaryConfigErrorExits2WithOneLine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	cmd := exec.Command(buildBinary(t))
	cmd.Env = []string{"LOG_LEVEL=chatty", "AUTH_DISABLED=true"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	exitErr, ok := err.(*exec.ExitError)
	if !ok || exitErr.ExitCode() != exitConfig {
		t.Fatalf("run = %v, want exit 2", err)
	}
	if lines := strings.Split(strings.TrimSpace(stderr.String()), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "LOG_LEVEL") {
		t.Fatalf("stderr = %q", stderr.String())
	}
}

func TestCheckCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, done := startRun(t, ctx, "AUTH_DISABLED", "true", "LISTEN_ADDR", "127.0.0.1:0", "EMBEDDED_DB_PATH", filepath.Join(t.TempDir(), "u.db"))
	var out bytes.Buffer
	if code := run(ctx, []string{"check", "http://" + addr + "/healthcheck"}, envMap(), &out, io.Discard); code != exitOK || !strings.HasPrefix(out.String(), "200 ") {
		t.Fatalf("check healthy = %d %q", code, out.String())
	}
	if code := run(ctx, []string{"check", "http://" + addr + "/nope"}, envMap(), io.Discard, io.Discard); code != exitFailure {
		t.Fatalf("check of a 404 = %d, want 1", code)
	}
	if code := run(ctx, []string{"check"}, envMap(), io.Discard, io.Discard); code != exitConfig {
		t.Fatalf("check without URL = %d, want 2", code)
	}
	cancel()
	<-done
}

// TestServerLimits: slow or idle clients cannot hold connections and huge
// headers are refused before any handler runs.
func TestServerLimits(t *testing.T) {
	srv := newHTTPServer(http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 {
		t.Fatalf("timeouts not all set: %+v", srv)
	}
	if srv.ReadHeaderTimeout > 10*time.Second || srv.MaxHeaderBytes > 64<<10 || srv.MaxHeaderBytes < 16<<10 {
		t.Fatalf("header limits: timeout %s, max %d bytes", srv.ReadHeaderTimeout, srv.MaxHeaderBytes)
	}
	if testing.Short() {
		return
	}
	_, addr := startBinary(t, "AUTH_DISABLED=true", "EMBEDDED_DB_PATH="+filepath.Join(t.TempDir(), "u.db"))
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/livez", nil)
	req.Header.Set("X-Padding", strings.Repeat("a", 100<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("100 KiB of headers = %d, want 431", resp.StatusCode)
	}
	http.DefaultClient.CloseIdleConnections()
}
