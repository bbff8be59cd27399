package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for loadgen as the baseline child,
// which run starts by re-executing itself.
func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == "-serve-baseline" {
		serveBaseline(os.Args[2])
		return
	}
	os.Exit(m.Run())
}

// TestHarnessSmoke runs every scenario at a tiny scale: the harness itself
// must keep working. Throughput targets are not asserted here (a shared CI
// machine is too noisy); make bench checks them.
func TestHarnessSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the service")
	}
	profile := filepath.Join(t.TempDir(), "cpu.pprof")
	o := options{duration: 400 * time.Millisecond, rounds: 2, conns: 4, maxRequests: 20000, extraRows: true, cpuProfile: profile,
		oktaLatency: 10 * time.Millisecond, unknown: 40, herd: 50, cold: 20, coldConns: 2, coldLatency: 10 * time.Millisecond}
	r, err := run(o)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Rows) != len(setups) {
		t.Fatalf("%d warm rows, want %d", len(r.Rows), len(setups))
	}
	for _, rw := range r.Rows {
		if rw.Baseline.Requests == 0 || rw.Service.Requests == 0 || rw.Service.Errors != 0 || rw.Baseline.Errors != 0 {
			t.Fatalf("warm scenario %s: %+v %+v", rw.Setup.Name, rw.Baseline, rw.Service)
		}
		// 10 ms of CPU resolution over hundreds of requests: never zero.
		if rw.Service.CPU <= 0 || rw.Baseline.CPU <= 0 || rw.CPURatio <= 0 {
			t.Fatalf("no CPU time measured for %s: %+v %+v", rw.Setup.Name, rw.Baseline, rw.Service)
		}
		if rw.PeakRSSBytes <= 0 || rw.Service.PeakAnon <= 0 || rw.Service.PeakAnon > rw.PeakRSSBytes {
			t.Fatalf("RSS: peak %d, anonymous %d", rw.PeakRSSBytes, rw.Service.PeakAnon)
		}
	}
	// The provider's RS256 token is the one production-sized; the old row
	// keeps the in-process issuer's.
	if r.Rows[0].TokenBytes < 600 || r.Rows[0].TokenBytes == r.Rows[2].TokenBytes {
		t.Fatalf("token sizes: %d (provider), %d (in-process)", r.Rows[0].TokenBytes, r.Rows[2].TokenBytes)
	}
	if r.AccessLogRequests == 0 || r.AccessLogRecords < r.AccessLogRequests {
		t.Fatalf("access log: %d records for %d requests", r.AccessLogRecords, r.AccessLogRequests)
	}
	if r.IntroCalls != 0 {
		t.Fatalf("%d introspection calls during the warm rounds, want 0 (the opaque token is cached)", r.IntroCalls)
	}
	// One lookup of a person found by login: the GET and the email search
	// that tells whether the email is shared (DESIGN §3 keying).
	if r.HerdOK != 50 || r.HerdOktaCalls != 2 || r.HerdStored != 1 {
		t.Fatalf("herd: %d ok, %d Okta calls, %d stored", r.HerdOK, r.HerdOktaCalls, r.HerdStored)
	}
	if r.Cold.OK != 20 || r.ColdOktaCalls != 40 || r.Cold.P99 < 10*time.Millisecond {
		t.Fatalf("cold: %+v, %d Okta calls", r.Cold, r.ColdOktaCalls)
	}
	if r.Directory.OK != 20 || r.Directory.P50 < 10*time.Millisecond {
		t.Fatalf("directory asked directly: %+v", r.Directory)
	}
	if r.Budget.OK != 40 || r.Okta429 != 0 || r.Budget.Other != 0 {
		t.Fatalf("budget: %+v", r)
	}
	if fi, err := os.Stat(profile); err != nil || fi.Size() == 0 {
		t.Fatalf("cpu profile: %v", err)
	}
	var out bytes.Buffer
	report(&out, o, r)
	for _, want := range []string{"baseline gin", "usersvc", "CPU µs/req", "representative", "logs discarded", "in-process issuer",
		"herd: exactly 1 Okta lookup", "org server: opaque token", "no introspection call", "cold p99", "service peak RSS"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("report lacks %q:\n%s", want, out.String())
		}
	}
}

// TestCPUTime reads this process's own /proc/<pid>/stat while it burns CPU.
func TestCPUTime(t *testing.T) {
	before, err := cpuTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Busy until the kernel has charged 50 ms (5 ticks); one goroutine can
	// never be charged more than the wall time it ran for.
	t0 := time.Now()
	var used time.Duration
	for used < 50*time.Millisecond && time.Since(t0) < 10*time.Second {
		now, err := cpuTime(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		used = now - before
	}
	if wall := time.Since(t0); used < 50*time.Millisecond || used > wall+20*time.Millisecond {
		t.Fatalf("busy for %s of wall time, charged %s of CPU", wall, used)
	}
	if rss, err := procStatus(os.Getpid(), "VmRSS"); err != nil || rss <= 0 {
		t.Fatalf("VmRSS: %d %v", rss, err)
	}
	if _, err := procStatus(os.Getpid(), "NoSuchField"); err == nil {
		t.Fatal("a missing field must be an error")
	}
}
