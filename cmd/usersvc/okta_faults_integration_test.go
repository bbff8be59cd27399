package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/usersvc/usersvc/testsupport/oktaapi"
)

// procCPU is the CPU time the process used so far, from /proc/<pid>/stat
// (utime and stime, fields 14 and 15, in USER_HZ ticks: 100 per second on
// Linux; proc(5)).
func procCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Skipf("no /proc to measure CPU time: %v", err)
	}
	// The command name (field 2) may hold spaces; fields after it are plain.
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// settledConnections is org's connection count once it has not moved for
// 250ms (at most 5s): a connection the client opened before its answer may
// be accepted, and counted, by a test server starved of CPU only after it.
// Counting it here charges it to the request that made it.
func settledConnections(org *oktaapi.Server) int {
	n, since := org.Connections(), time.Now()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && time.Since(since) < 250*time.Millisecond; {
		time.Sleep(10 * time.Millisecond)
		if m := org.Connections(); m != n {
			n, since = m, time.Now()
		}
	}
	return n
}

// TestBinaryOktaDroppingEveryConnection measures from outside what one
// lookup costs while Okta drops every connection, closed cleanly (the
// client reads EOF, which okta-sdk-golang v2 retries at once and without
// counting) or reset: a bounded number of connection attempts, little
// CPU, and a 503 within the frontend's 3 s. A sync gives up with exit 1.
func TestBinaryOktaDroppingEveryConnection(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	faults := []struct {
		name   string
		inject func(*oktaapi.Server)
	}{
		{"EOF", func(o *oktaapi.Server) { o.HangUpNext(1 << 30) }},
		{"reset", func(o *oktaapi.Server) { o.DropNext(1 << 30) }},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			org := oktaapi.New(t, oktaapi.WithSSWSToken("00ssws"))
			org.AddUsers(syncPeople(10, "ACTIVE", syncStart)...)
			f.inject(org)
			env := append([]string{"AUTH_DISABLED=true", "EMBEDDED_DB_PATH=" + filepath.Join(t.TempDir(), "usersvc.db")}, oktaEnv(org)...)
			cmd, addr := startBinary(t, env...)
			cpuBefore, connsBefore := procCPU(t, cmd.Process.Pid), org.Connections()
			start := time.Now()
			resp, body := call(t, http.MethodGet, "http://"+addr+"/user/p0001@example.com", "", "")
			took := time.Since(start)
			cpu, conns := procCPU(t, cmd.Process.Pid)-cpuBefore, settledConnections(org)-connsBefore
			t.Logf("%s: one lookup answered %d in %s, %d connection attempts, %s CPU", f.name, resp.StatusCode, took.Round(time.Millisecond), conns, cpu)
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.HasPrefix(body, `{"message":`) {
				t.Fatalf("lookup = %d %q (Retry-After %q), want 503 with Retry-After", resp.StatusCode, body, resp.Header.Get("Retry-After"))
			}
			if took > 3*time.Second || conns > 6 || conns < 1 || cpu > 500*time.Millisecond {
				t.Fatalf("lookup took %s, %d connection attempts, %s CPU; want ≤ 3s, 1..6, ≤ 0.5s", took, conns, cpu)
			}

			connsBefore = settledConnections(org)
			syncEnv := append(oktaEnv(org), "EMBEDDED_DB_PATH="+filepath.Join(t.TempDir(), "sync.db")) // the server holds the other
			stdout, stderr, code := runBinary(t, syncEnv, "sync")
			conns = settledConnections(org) - connsBefore
			t.Logf("%s: sync exit %d after %d connection attempts", f.name, code, conns)
			// The page is tried 4 times (3 retries), each with the
			// transport's 3 attempts.
			if code != exitFailure || !strings.Contains(stdout, "sync failed: read the directory: page 1: ") || conns > 12 {
				t.Fatalf("sync: exit %d, %d connection attempts, stdout %q, stderr %s; want exit 1 after at most 12", code, conns, stdout, stderr)
			}
		})
	}
}
