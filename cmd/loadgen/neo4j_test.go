package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/usersvc/usersvc/testsupport/amundsen"
)

func TestParentOf(t *testing.T) {
	// A command name with spaces and a ')' of its own.
	ppid, err := parentOf([]byte("4242 (gunicorn: worker) [x]) S 4241 4241 4241 0 -1 4194560 1 0 0 0 7 3 0 0 20 0 1 0"))
	if err != nil || ppid != 4241 {
		t.Fatalf("parentOf = %d, %v", ppid, err)
	}
	if _, err := parentOf([]byte("no name here")); err == nil {
		t.Fatal("a line without a command name must be an error")
	}
	self, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Skip(err)
	}
	if ppid, err := parentOf(self); err != nil || ppid != os.Getppid() {
		t.Fatalf("parentOf(/proc/self/stat) = %d, %v; want %d", ppid, err, os.Getppid())
	}
}

func TestDescendants(t *testing.T) {
	// 10 is gunicorn's master with workers 11 and 12; 13 is a worker's
	// child; 20 and 21 are unrelated, 1 is init.
	parent := map[int]int{1: 0, 10: 1, 11: 10, 12: 10, 13: 12, 20: 1, 21: 20}
	got := descendants(10, parent)
	if got[0] != 10 {
		t.Fatalf("root first: %v", got)
	}
	slices.Sort(got)
	if !slices.Equal(got, []int{10, 11, 12, 13}) {
		t.Fatalf("descendants(10) = %v", got)
	}
	if got := descendants(21, parent); !slices.Equal(got, []int{21}) {
		t.Fatalf("a leaf: %v", got)
	}
	if got := descendants(99, parent); !slices.Equal(got, []int{99}) {
		t.Fatalf("an unknown root: %v", got)
	}
}

func TestCPUDelta(t *testing.T) {
	ms := time.Millisecond
	before := map[int]time.Duration{10: 100 * ms, 11: 50 * ms, 12: 70 * ms}
	// 12 exited (lost), 14 appeared (counted from zero).
	after := map[int]time.Duration{10: 130 * ms, 11: 80 * ms, 14: 20 * ms}
	if got := cpuDelta(before, after); got != 80*ms {
		t.Fatalf("cpuDelta = %s, want 80ms", got)
	}
	if got := cpuDelta(nil, nil); got != 0 {
		t.Fatalf("empty: %s", got)
	}
}

// TestTreeMeter charges a busy child of a child to the tree's root, which
// itself only waits, as gunicorn's master does.
func TestTreeMeter(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip(err)
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip(err)
	}
	cmd := exec.Command(sh, "-c", `sh -c 'i=0; while [ $i -lt 5000000 ]; do i=$((i+1)); done' & wait`)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	root := cmd.Process.Pid
	stop, err := treeMeter(root)()
	if err != nil {
		t.Fatal(err)
	}
	// Read while the busy one still runs: the ticks of a process that has
	// exited are lost (cpuDelta).
	t0 := time.Now()
	var used time.Duration
	for used < 100*time.Millisecond && time.Since(t0) < 10*time.Second {
		time.Sleep(20 * time.Millisecond)
		if used, err = stop(); err != nil {
			t.Fatal(err)
		}
	}
	rootCPU, err := cpuTime(root)
	if err != nil {
		t.Fatal(err)
	}
	if used < 100*time.Millisecond || rootCPU >= used {
		t.Fatalf("the tree was charged %s in %s (its root %s)", used, time.Since(t0), rootCPU)
	}
	tree, err := treeCPU(root)
	if err != nil || len(tree) < 2 {
		t.Fatalf("treeCPU(%d) = %v, %v; want the root and its child", root, tree, err)
	}
}

func TestNeoChecksAndReport(t *testing.T) {
	row := func(req, name string, n int, cpu time.Duration, errs int) neoSample {
		return neoSample{Request: req, Path: "/user/x", ServerCPU: cpu / 2, Neo4jCPU: cpu / 2,
			sample: sample{Name: name, Requests: n, Errors: errs, Elapsed: time.Second, CPU: cpu, P50: time.Millisecond, P99: 2 * time.Millisecond}}
	}
	rows := []neoSample{
		row("user", "usersvc on Neo4j", 1000, 100*time.Millisecond, 0), // 100 µs/req
		row("user", "Amundsen", 50, 500*time.Millisecond, 0),           // 10 ms/req: 20x, 0.01x
		row("read list", "usersvc on Neo4j", 400, 400*time.Millisecond, 0),
		row("read list", "Amundsen", 50, 500*time.Millisecond, 1), // 8x, 0.1x, 1 error
		row("user", "baseline gin (no Neo4j)", 30000, 600*time.Millisecond, 0),
	}
	checks := neoChecks(rows, "4.4.48", 2)
	if len(checks) != 2 {
		t.Fatalf("%d checks, want 2 (the baseline is no pair): %+v", len(checks), checks)
	}
	if c := checks[0]; !c.RateOK || !c.CPUOK || !c.ErrorsOK || c.RateRatio != 20 || c.CPURatio != 0.01 {
		t.Fatalf("user: %+v", c)
	}
	if c := checks[1]; c.RateOK || !c.CPUOK || c.ErrorsOK || c.RateRatio != 8 || c.CPURatio != 0.1 {
		t.Fatalf("read list: %+v", c)
	}
	var out bytes.Buffer
	o := options{conns: 32, neoDuration: 5 * time.Second}
	if reportNeo4j(&out, o, neoResults{Neo4jVersion: "4.4.48", Rows: rows, Checks: checks}) {
		t.Fatalf("a missed target must fail the report:\n%s", out.String())
	}
	for _, want := range []string{"Neo4j 4.4.48", "of it Neo4j", "baseline gin", "read list: usersvc req/s >= 10x Amundsen's",
		"8.00x", "MISSED", "met", "10000.0"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("report lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	o.cold = 200
	met := neoResults{Rows: rows[:2], Checks: checks[:1], GinRatio: 0.9, GinCPURatio: 1.3,
		HerdRequests: 500, HerdOK: 500, HerdOktaCalls: 2, HerdNodes: 1,
		Cold: resolveResult{OK: 200, P99: 24 * time.Millisecond}, ColdOktaCalls: 400, ColdNodes: 200,
		Directory: resolveResult{OK: 200, P99: 20 * time.Millisecond}}
	if !reportNeo4j(&out, o, met) {
		t.Fatalf("all targets met must pass:\n%s", out.String())
	}
	// Each of the later targets fails the report on its own.
	for name, miss := range map[string]func(r *neoResults){
		"gin ratio":      func(r *neoResults) { r.GinRatio = 0.84 },
		"herd 503s":      func(r *neoResults) { r.HerdOK = 499 },
		"herd lookups":   func(r *neoResults) { r.HerdOktaCalls = 4 },
		"herd nodes":     func(r *neoResults) { r.HerdNodes = 2 },
		"cold nodes":     func(r *neoResults) { r.ColdNodes = 199 },
		"cold lookups":   func(r *neoResults) { r.ColdOktaCalls = 401 },
		"cold p99":       func(r *neoResults) { r.Cold.P99 = 25*time.Millisecond + time.Microsecond },
		"directory 404s": func(r *neoResults) { r.Directory.OK = 199 },
	} {
		r := met
		miss(&r)
		out.Reset()
		if reportNeo4j(&out, o, r) {
			t.Errorf("%s: a missed target must fail the report:\n%s", name, out.String())
		}
	}
	if reportNeo4j(&out, o, neoResults{}) {
		t.Fatal("no checks at all must not pass")
	}
}

// TestNeo4jHarnessSmoke runs the -neo4j mode at a tiny scale against a real
// Neo4j 4.4 and Amundsen's metadata service: the rows, the herd and cold
// scenarios on Neo4j and the profile must keep working. Throughput targets
// are not asserted (make bench checks them); what a scenario must do is.
func TestNeo4jHarnessSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Neo4j, Amundsen's metadata service and the service")
	}
	if _, err := amundsen.Python(); errors.Is(err, amundsen.ErrNoPython) {
		t.Skip(err)
	}
	profile := filepath.Join(t.TempDir(), "neo.pprof")
	o := options{neoVersion: "4.4", neoWorkers: 1, neoDuration: 600 * time.Millisecond, neoRounds: 2, conns: 4, maxRequests: 20000,
		herd: 20, cold: 5, coldConns: 2, coldLatency: 10 * time.Millisecond, cpuProfile: profile}
	r, err := runNeo4j(o)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Rows) != 2*len(neoRequests)+1 || r.Rounds != 2 {
		t.Fatalf("%d rows in %d rounds, want %d in 2", len(r.Rows), r.Rounds, 2*len(neoRequests)+1)
	}
	for _, row := range r.Rows {
		if row.Requests == 0 || row.Errors != 0 || row.CPU <= 0 || row.ServerCPU <= 0 {
			t.Fatalf("row %s %s: %+v", row.Request, row.Name, row)
		}
	}
	if len(r.Checks) != len(neoRequests) {
		t.Fatalf("%d checks, want %d", len(r.Checks), len(neoRequests))
	}
	for _, c := range r.Checks {
		if c.RateRatio <= 0 || c.CPURatio <= 0 || !c.ErrorsOK {
			t.Fatalf("check %+v", c)
		}
	}
	if r.GinRatio <= 0 || r.GinCPURatio <= 0 {
		t.Fatalf("gin ratio %v, CPU ratio %v", r.GinRatio, r.GinCPURatio)
	}
	// One lookup (the GET by login and the email search) and one node for
	// the herd; one of each per cold person.
	if r.HerdOK != 20 || r.HerdOktaCalls != 2 || r.HerdNodes != 1 {
		t.Fatalf("herd on Neo4j: %d ok, %d Okta calls, %d nodes", r.HerdOK, r.HerdOktaCalls, r.HerdNodes)
	}
	if r.Cold.OK != 5 || r.ColdOktaCalls != 10 || r.ColdNodes != 5 || r.Directory.OK != 5 {
		t.Fatalf("cold on Neo4j: %+v, %d Okta calls, %d nodes; directory %+v", r.Cold, r.ColdOktaCalls, r.ColdNodes, r.Directory)
	}
	if fi, err := os.Stat(profile); err != nil || fi.Size() == 0 {
		t.Fatalf("cpu profile: %v", err)
	}
	var out bytes.Buffer
	reportNeo4j(&out, o, r)
	for _, want := range []string{"Neo4j 4.4", "usersvc on Neo4j", "debug off", "baseline gin", "the gin handler's", "herd on Neo4j", "cold on Neo4j"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("report lacks %q:\n%s", want, out.String())
		}
	}
}
