package amundsen_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/usersvc/usersvc/testsupport/amundsen"
)

// unreachableNeo4j is a bolt:// URI on a loopback port nothing listens on.
func unreachableNeo4j(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return "bolt://" + addr
}

// start runs the real metadata service for t, skipping only when there is
// no python3 at all: a failed pip install or start fails the test.
func start(t *testing.T, opts amundsen.Options) *amundsen.Metadata {
	t.Helper()
	if _, err := amundsen.Python(); errors.Is(err, amundsen.ErrNoPython) {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	m, err := amundsen.StartMetadata(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Stop()
		if t.Failed() {
			t.Logf("gunicorn output:\n%s", m.Output())
		}
	})
	return m
}

type answer struct {
	status   int
	endpoint string // X-Amundsen-Endpoint; "<none>" when the header is absent
	path     string // X-Amundsen-Path
	location string
	body     string
}

// rawRequest sends method and target byte for byte (no client-side path
// cleaning) on a fresh connection and reads the answer.
func rawRequest(t *testing.T, m *amundsen.Metadata, method, target, probe string) answer {
	t.Helper()
	host := strings.TrimPrefix(m.URL, "http://")
	conn, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\n%s: %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		method, target, host, amundsen.ProbeHeader, probe)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	a := answer{status: resp.StatusCode, endpoint: "<none>", path: resp.Header.Get("X-Amundsen-Path"),
		location: resp.Header.Get("Location"), body: string(body)}
	if v, ok := resp.Header["X-Amundsen-Endpoint"]; ok {
		a.endpoint = v[0]
	}
	return a
}

const follow = "bob@example.com/follow/table/hive://gold.s/t"

// TestWerkzeugRoutingOfRawTargets documents what the real Amundsen metadata
// service (gunicorn + Werkzeug + Flask, versions pinned in requirements.txt)
// does with request targets a proxy in front of it might not normalize the
// same way. Neo4j is unreachable, so a request that reaches one of
// Amundsen's user views fails there (500) after routing.
//
// Facts: gunicorn percent-decodes the path into PATH_INFO, %2F included,
// and resolves no dot segments; Werkzeug strips leading slashes before
// matching (no redirect), redirects (308) an inner empty segment to the
// slash-merged path, resolves no dot segments (literal or encoded) either,
// and matches case-sensitively.
func TestWerkzeugRoutingOfRawTargets(t *testing.T) {
	m := start(t, amundsen.Options{Neo4jURI: unreachableNeo4j(t), NoTransactionRetry: true})

	cases := []struct {
		method, target string
		// The answer: status, X-Amundsen-Endpoint ("<none>" when the view
		// raised and gunicorn answered its own 500), Location (made
		// absolute by Werkzeug with the service's base URL).
		status   int
		endpoint string
		location string
		// The routing decision logged before the view ran.
		routed   string // Flask endpoint, "" for no rule
		pathInfo string // PATH_INFO as gunicorn decoded it
	}{
		{"PUT", "/user/" + follow, 500, "api.userfollowapi", "", "api.userfollowapi", "/user/" + follow},
		{"PUT", "/%2Fuser/" + follow, 500, "api.userfollowapi", "", "api.userfollowapi", "//user/" + follow},
		{"PUT", "//user/" + follow, 500, "api.userfollowapi", "", "api.userfollowapi", "//user/" + follow},
		{"PUT", "/./user/" + follow, 404, "", "", "", "/./user/" + follow},
		{"PUT", "/table/../user/" + follow, 405, "", "", "", "/table/../user/" + follow},
		{"PUT", "/%2e%2e/user/" + follow, 404, "", "", "", "/../user/" + follow},
		{"PUT", "/%2E%2E/user/" + follow, 404, "", "", "", "/../user/" + follow},
		{"PUT", "/%5Cuser/" + follow, 404, "", "", "", `/\user/` + follow},
		{"PUT", "/USER/" + follow, 404, "", "", "", "/USER/" + follow},
		{"PUT", "/User/" + follow, 404, "", "", "", "/User/" + follow},
		{"GET", "/%75ser/bob@example.com", 500, "<none>", "", "api.userdetailapi", "/user/bob@example.com"},
		{"GET", "/user%2Fbob@example.com", 500, "<none>", "", "api.userdetailapi", "/user/bob@example.com"},
		{"GET", "//user/bob@example.com", 500, "<none>", "", "api.userdetailapi", "//user/bob@example.com"},
		// Not leading: an empty segment where a rule needs a non-empty one
		// makes Werkzeug's merge_slashes redirect (308) to the path with
		// every run of slashes merged, the key's "hive://" included.
		{"PUT", "/user//" + follow, 308, "", "/user/bob@example.com/follow/table/hive:/gold.s/t", "", "/user//" + follow},
		{"GET", "/user//bob@example.com", 308, "", "/user/bob@example.com", "", "/user//bob@example.com"},
	}
	for i, c := range cases {
		probe := strconv.Itoa(i)
		a := rawRequest(t, m, c.method, c.target, probe)
		r, err := m.Route(probe)
		if err != nil {
			t.Errorf("%s %s: %v", c.method, c.target, err)
		}
		t.Logf("%-4s %-62s -> %d endpoint=%-20q location=%q routed=%-20q path_info=%q path=%q",
			c.method, c.target, a.status, a.endpoint, a.location, r.Endpoint, r.PathInfo, a.path)
		location := c.location
		if location != "" {
			location = m.URL + location
		}
		if a.status != c.status || a.endpoint != c.endpoint || a.location != location {
			t.Errorf("%s %s: got %d endpoint %q location %q, want %d %q %q (body %.200q)",
				c.method, c.target, a.status, a.endpoint, a.location, c.status, c.endpoint, location, a.body)
		}
		if r.Endpoint != c.routed || r.PathInfo != c.pathInfo || r.RawURI != c.target {
			t.Errorf("%s %s: routed to %q with PATH_INFO %q RAW_URI %q, want %q %q %q",
				c.method, c.target, r.Endpoint, r.PathInfo, r.RawURI, c.routed, c.pathInfo, c.target)
		}
	}

	// Amundsen's healthcheck queries Neo4j: unreachable, it fails (at once
	// here, with the driver's retries off).
	a := rawRequest(t, m, "GET", "/healthcheck", "health")
	t.Logf("GET /healthcheck -> %d endpoint=%q %s", a.status, a.endpoint, strings.Join(strings.Fields(a.body), " "))
	if a.status != http.StatusServiceUnavailable || a.endpoint != "api.healthcheckapi" || !strings.Contains(a.body, `"status": "fail"`) {
		t.Errorf("GET /healthcheck: got %d %q %q", a.status, a.endpoint, a.body)
	}
}

const helperEnv = "USERSVC_AMUNDSEN_HELPER"

// TestHelperProcess is not a test: TestKilledTestBinaryLeavesNoGunicorn runs
// this binary again with helperEnv set, and this starts gunicorn, prints its
// process ids and waits to be killed.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process for TestKilledTestBinaryLeavesNoGunicorn")
	}
	m := start(t, amundsen.Options{Neo4jURI: os.Getenv(helperEnv + "_NEO4J"), Workers: 2})
	workers := waitForChildren(t, m.Pid(), 2)
	fmt.Printf("PIDS %d %s\n", m.Pid(), strings.Trim(fmt.Sprint(workers), "[]"))
	time.Sleep(5 * time.Minute)
}

// TestKilledTestBinaryLeavesNoGunicorn SIGKILLs a test binary that is
// running the service: no cleanup runs in it, so the gunicorn master must
// die of its Pdeathsig and each worker of the one gunicorn_conf.py gives it.
func TestKilledTestBinaryLeavesNoGunicorn(t *testing.T) {
	if os.Getenv(helperEnv) == "1" {
		t.Skip("inside the helper")
	}
	if _, err := amundsen.Python(); errors.Is(err, amundsen.ErrNoPython) {
		t.Skip(err)
	}
	// Build the venv here, so that the helper's start stays well inside the
	// wait below even on a cold cache.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := amundsen.EnsureVenv(ctx); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=1", helperEnv+"_NEO4J="+unreachableNeo4j(t))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	pids := make(chan []int, 1)
	var seen strings.Builder
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			seen.WriteString(sc.Text() + "\n")
			if rest, ok := strings.CutPrefix(sc.Text(), "PIDS "); ok {
				var ps []int
				for _, f := range strings.Fields(rest) {
					n, _ := strconv.Atoi(f)
					ps = append(ps, n)
				}
				pids <- ps
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		close(pids)
	}()
	var ps []int
	select {
	case ps = <-pids:
	case <-time.After(2 * time.Minute):
	}
	if len(ps) != 3 {
		_ = cmd.Process.Kill()
		t.Fatalf("helper printed no master and 2 worker pids; stdout:\n%s\nstderr:\n%s", seen.String(), stderr.String())
	}
	t.Logf("gunicorn master %d, workers %v", ps[0], ps[1:])

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range ps {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("pid %d (of gunicorn master %d, workers %v) still alive 10s after its test binary was killed", pid, ps[0], ps[1:])
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// alive reports whether pid exists and is not a zombie (an exited process
// whose new parent has not reaped it yet).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || (s[i+2] != 'Z' && s[i+2] != 'X')
}

// waitForChildren returns the pids of parent's first n children.
func waitForChildren(t *testing.T, parent, n int) []int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var kids []int
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
			if err != nil {
				continue
			}
			s := string(b)
			i := strings.LastIndexByte(s, ')')
			if i < 0 {
				continue
			}
			f := strings.Fields(s[i+1:])
			if len(f) > 1 && f[1] == strconv.Itoa(parent) {
				kids = append(kids, pid)
			}
		}
		if len(kids) >= n {
			return kids
		}
		if time.Now().After(deadline) {
			t.Fatalf("gunicorn %d has %d children, want %d", parent, len(kids), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
