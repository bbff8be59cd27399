// Command loadgen measures usersvc against a bare gin baseline on loopback,
// in one run: it starts a real OpenID provider process (npm
// oauth2-mock-server), an in-process Okta Users API test server, the
// baseline and the real service as child processes, drives them with the
// same client for the same time, and prints one table. Every loop is bounded
// by a duration and a request count; everything it starts, it stops.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/introspector"
	"github.com/usersvc/usersvc/testsupport/issuer"
	"github.com/usersvc/usersvc/testsupport/oidcprovider"
	"github.com/usersvc/usersvc/testsupport/oktaapi"
)

type options struct {
	duration    time.Duration
	conns       int
	maxRequests int
	usersvc     string
	oktaLatency time.Duration
	unknown     int
	herd        int
	cold        int
	coldLatency time.Duration
	coldConns   int
	jsonOut     string
	svgOut      string
	serviceEnv  string
	rounds      int
	extraRows   bool
	cpuProfile  string
	neo4j       bool
	neoDuration time.Duration
	neoRounds   int
	neoWorkers  int
	neoVersion  string
	neoJVMFlags string
	neoDebug    bool
}

// Targets (issue 22).
const (
	minRatio   = 0.85     // warm req/s against the baseline, representative setup
	maxRSS     = 32 << 20 // service peak RSS under the warm load
	coldMargin = 5 * time.Millisecond
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "-serve-baseline" {
		serveBaseline(os.Args[2])
		return
	}
	var o options
	flag.DurationVar(&o.duration, "duration", 15*time.Second, "load time per server in the warm scenario (split into alternating rounds)")
	flag.IntVar(&o.rounds, "rounds", 5, "alternating baseline/service rounds in the warm scenario")
	flag.IntVar(&o.conns, "conns", 32, "concurrent connections in the warm scenario")
	flag.IntVar(&o.maxRequests, "max-requests", 2_000_000, "request cap per load in the warm scenario")
	flag.BoolVar(&o.extraRows, "extra-rows", true, "also measure the earlier setups (logs discarded; in-process issuer without metrics)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "after the warm rounds, load the representative service (with -neo4j: usersvc on Neo4j, GET /user) once more (PPROF_ENABLED) and write its CPU profile to this file")
	flag.StringVar(&o.usersvc, "usersvc", "", "usersvc binary (default: build ./cmd/usersvc)")
	flag.IntVar(&o.cold, "cold", 200, "distinct unknown users in the cold-resolution latency scenario")
	flag.DurationVar(&o.coldLatency, "cold-latency", 20*time.Millisecond, "latency of the Okta test server in the cold scenario")
	flag.IntVar(&o.coldConns, "cold-conns", 4, "concurrent clients in the cold scenario (below OKTA_MAX_CONCURRENT, so none queues)")
	flag.DurationVar(&o.oktaLatency, "okta-latency", 100*time.Millisecond, "latency of the Okta test server in the budget scenario")
	flag.IntVar(&o.unknown, "unknown", 2000, "distinct unknown users in the budget scenario")
	flag.IntVar(&o.herd, "herd", 500, "concurrent first requests for one unknown user")
	flag.StringVar(&o.jsonOut, "json", "", "also write the results as JSON to this file")
	flag.StringVar(&o.svgOut, "svg", "", "also write an SVG chart of the rows (req/s and CPU per request) to this file")
	flag.StringVar(&o.serviceEnv, "service-env", "", "extra NAME=value settings for every usersvc started, comma separated")
	soakFor := flag.Duration("soak", 0, "run the soak instead: a mixed load for this long (make soak: 10m)")
	soakRate := flag.Int("soak-rate", 150, "soak request rate per second")
	flag.BoolVar(&o.neo4j, "neo4j", false, "run the production-path rows instead (issue 31): usersvc and Amundsen's metadata service on one real Neo4j, and the bare gin handler")
	flag.DurationVar(&o.neoDuration, "neo4j-duration", 12*time.Second, "load time per row in the -neo4j run (split into -neo4j-rounds)")
	flag.IntVar(&o.neoRounds, "neo4j-rounds", 4, "rounds of the -neo4j run: every row once per round, each round starting one row later")
	flag.StringVar(&o.neoVersion, "neo4j-version", "4.4", "Neo4j series of the -neo4j run (4.4: Amundsen's own read-list query fails on 5.x, docs/amundsen-differences.md)")
	flag.StringVar(&o.neoJVMFlags, "neo4j-jvm-flags", "", "extra JVM flags for Neo4j in the -neo4j run, comma separated, after testsupport/neo4jserver's (e.g. -XX:TieredStopAtLevel=4,-Xmx1g)")
	flag.BoolVar(&o.neoDebug, "amundsen-debug", true, "in the -neo4j run, Amundsen's metadata service as it ships (LocalConfig: Flask DEBUG, debug logging); false: both off")
	flag.IntVar(&o.neoWorkers, "neo4j-workers", 2, "gunicorn workers of Amundsen's metadata service in the -neo4j run (its image runs 2)")
	flag.Parse()
	if o.neo4j {
		mainNeo4j(o)
		return
	}
	if *soakFor > 0 {
		pass, err := soak(soakOptions{duration: *soakFor, rate: *soakRate, faultEvery: 2 * time.Minute, faultFor: 15 * time.Second,
			sampleEvery: 20 * time.Second, usersvc: o.usersvc}, os.Stdout)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(2)
		}
		if !pass {
			os.Exit(1)
		}
		return
	}
	started := time.Now()
	r, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	finish(o, report(os.Stdout, o, r), func() chart { return warmChart(o, r, started) }, r)
}

// finish writes a run's chart (-svg) and results (-json), then exits: 2
// when they cannot be written, 1 when a target was missed.
func finish(o options, pass bool, makeChart func() chart, results any) {
	if o.svgOut != "" {
		if err := writeChartFile(o.svgOut, makeChart()); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(2)
		}
	}
	if o.jsonOut != "" {
		data, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(o.jsonOut, data, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(2)
		}
	}
	if !pass {
		os.Exit(1)
	}
}

// baselineUser is the body both servers answer in the warm scenario.
var baselineUser = schema.User{UserID: "ada@example.com", Email: "ada@example.com", FirstName: "Ada", LastName: "Lovelace",
	FullName: "Ada Lovelace", DisplayName: "Ada Lovelace", TeamName: "Data", RoleName: "Analyst", IsActive: true}

// serveBaseline is the floor: gin answering the same user JSON, with no
// auth, no store and no middleware.
func serveBaseline(addr string) {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/user/*id", func(c *gin.Context) { c.JSON(http.StatusOK, baselineUser) })
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); os.Exit(0) }() // die with the parent
	_ = http.Serve(ln, r)
}

// startBaseline starts this program again as the bare gin handler
// (-serve-baseline) on a free loopback port, and returns it with its
// host:port.
func startBaseline() (*child, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	c, err := start(self, []string{"-serve-baseline", addr}, nil, addr, nil)
	return c, addr, err
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// child is a started process; stop ends it.
type child struct {
	cmd  *exec.Cmd
	addr string
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) stop() {
	_ = c.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

// start runs path with its standard output on stdout (nil: /dev/null).
// The output goes straight to the file: a pipe would make this process copy
// the service's logs, stealing CPU from the measurement.
func start(path string, args, env []string, addr string, stdout *os.File) (*child, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = env
	if stdout == nil {
		devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return nil, err
		}
		defer devnull.Close()
		stdout = devnull
	}
	cmd.Stdout, cmd.Stderr = stdout, os.Stderr
	if _, err := cmd.StdinPipe(); err != nil { // closed when we exit: the baseline's cue
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, addr: addr}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if conn, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			conn.Close()
			return c, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.stop()
	return nil, fmt.Errorf("%s did not start listening on %s", path, addr)
}

func buildUsersvc() (string, func(), error) {
	dir, err := os.MkdirTemp("", "loadgen")
	if err != nil {
		return "", nil, err
	}
	bin := filepath.Join(dir, "usersvc")
	// Built as the Dockerfile builds the image: static, trimmed paths, no
	// symbol table or DWARF (which also changes how much of the file the
	// process ends up mapping: about 2 MiB less peak RSS).
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "github.com/usersvc/usersvc/cmd/usersvc")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("build usersvc (run loadgen inside the module): %v\n%s", err, out)
	}
	return bin, func() { os.RemoveAll(dir) }, nil
}

// sample is one measured side of a load run.
type sample struct {
	Name     string        `json:"name"`
	Requests int           `json:"requests"`
	Errors   int           `json:"errors"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	P50      time.Duration `json:"p50_ns"`
	P99      time.Duration `json:"p99_ns"`
	Max      time.Duration `json:"max_ns"`
	// CPU is the server process's utime+stime while it was loaded.
	CPU time.Duration `json:"cpu_ns"`
	// PeakAnon is the most anonymous memory (heap, stacks: RssAnon) seen in
	// the process while it was loaded, sampled every 100 ms.
	PeakAnon int64 `json:"peak_rss_anon_bytes"`
}

func (s sample) rate() float64 { return float64(s.Requests) / s.Elapsed.Seconds() }

// cpuPerRequest is the server's CPU time per request served.
func (s sample) cpuPerRequest() time.Duration {
	if s.Requests == 0 {
		return 0
	}
	return s.CPU / time.Duration(s.Requests)
}

func newClient(conns int) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, IdleConnTimeout: time.Minute,
	}}
}

// load sends GET url with header from conns workers until duration passes
// or maxRequests are sent, and charges the CPU time process pid used
// meanwhile to the sample.
func load(name, url, header string, pid, conns int, duration time.Duration, maxRequests int) (sample, error) {
	return loadWith(name, url, header, pidMeter(pid), pid, conns, duration, maxRequests)
}

// cpuMeter starts measuring CPU time; stop returns what was used since.
type cpuMeter func() (stop func() (time.Duration, error), err error)

// pidMeter measures the CPU time of one process.
func pidMeter(pid int) cpuMeter {
	return func() (func() (time.Duration, error), error) {
		cpu0, err := cpuTime(pid)
		if err != nil {
			return nil, err
		}
		return func() (time.Duration, error) {
			cpu1, err := cpuTime(pid)
			return cpu1 - cpu0, err
		}, nil
	}
}

// loadWith is load with the CPU charged to the sample measured by meter,
// and the anonymous memory sampled in process rssPid (0: not sampled).
func loadWith(name, url, header string, meter cpuMeter, rssPid, conns int, duration time.Duration, maxRequests int) (sample, error) {
	client := newClient(conns)
	defer client.CloseIdleConnections()
	var sent atomic.Int64
	var errs atomic.Int64
	lat := make([][]time.Duration, conns)
	stopCPU, err := meter()
	if err != nil {
		return sample{}, err
	}
	deadline := time.Now().Add(duration)
	start := time.Now()
	var peakAnon atomic.Int64
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for time.Now().Before(deadline) {
			if rssPid == 0 {
				return
			}
			if v, err := procStatus(rssPid, "RssAnon"); err == nil && v > peakAnon.Load() {
				peakAnon.Store(v)
			}
			<-t.C
		}
	}()
	var wg sync.WaitGroup
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && sent.Add(1) <= int64(maxRequests) {
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				if header != "" {
					req.Header.Set("Authorization", header)
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				lat[w] = append(lat[w], time.Since(t0))
				if err != nil || resp.StatusCode != http.StatusOK {
					errs.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	<-sampled
	cpu, err := stopCPU()
	if err != nil {
		return sample{}, err
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	s := sample{Name: name, Requests: len(all), Errors: int(errs.Load()), Elapsed: elapsed, CPU: cpu, PeakAnon: peakAnon.Load()}
	if n := len(all); n > 0 {
		s.P50, s.P99, s.Max = all[n/2], all[n*99/100], all[n-1]
	}
	return s, nil
}

// merge sums rounds; latency percentiles are the rounds' medians.
func merge(rounds []sample) sample {
	m := sample{Name: rounds[0].Name}
	var p50, p99 []time.Duration
	for _, r := range rounds {
		m.Requests += r.Requests
		m.Errors += r.Errors
		m.Elapsed += r.Elapsed
		m.CPU += r.CPU
		m.Max = max(m.Max, r.Max)
		m.PeakAnon = max(m.PeakAnon, r.PeakAnon)
		p50, p99 = append(p50, r.P50), append(p99, r.P99)
	}
	slices.Sort(p50)
	slices.Sort(p99)
	m.P50, m.P99 = p50[len(p50)/2], p99[len(p99)/2]
	return m
}

// setup is one way of running the service in the warm scenario. The first
// is what production does; the others are the earlier harness's choices,
// kept so the cost of each factor stays visible.
type setup struct {
	Name string `json:"name"`
	// LogFile: the service logs at info to a regular file, as under a
	// container runtime; else its output is discarded (/dev/null).
	LogFile bool `json:"log_file"`
	// Provider: the token comes from the real OIDC provider process; else
	// from the in-process issuer.
	Provider bool `json:"oidc_provider_process"`
	// Introspected: configured like Okta's org authorization server, with
	// an opaque token introspected once at a real provider process (npm
	// oidc-provider) and cached from then on.
	Introspected bool `json:"introspected_opaque_token"`
	// Metrics: the metrics listener is on.
	Metrics bool `json:"metrics_listener"`
}

var setups = []setup{
	{Name: "representative", LogFile: true, Provider: true, Metrics: true},
	{Name: "logs discarded", LogFile: false, Provider: true, Metrics: true},
	{Name: "old: logs discarded, in-process issuer, no metrics", LogFile: false, Provider: false, Metrics: false},
	// Beside "logs discarded": a cached introspected token should cost what
	// a cached JWT does.
	{Name: "org server: opaque token, introspected, logs discarded", LogFile: false, Introspected: true, Metrics: true},
}

// row is the warm scenario's result for one setup: the service and the
// baseline sent the identical request in the same rounds.
type row struct {
	Setup        setup   `json:"setup"`
	TokenBytes   int     `json:"token_bytes"`
	Baseline     sample  `json:"baseline"`
	Service      sample  `json:"service"`
	Ratio        float64 `json:"ratio"`     // service req/s ÷ baseline req/s
	CPURatio     float64 `json:"cpu_ratio"` // service CPU/request ÷ baseline CPU/request
	PeakRSSBytes int64   `json:"service_peak_rss_bytes"`
}

// results is what a run measured.
type results struct {
	Rows []row `json:"warm"`
	// IntroCalls counts introspection calls during the warm rounds: the
	// opaque token was introspected when the user was seeded, then cached.
	IntroCalls int `json:"warm_introspection_calls"`
	// AccessLogRecords counts "request" records in the representative
	// service's log file against the requests it was sent.
	AccessLogRecords  int           `json:"access_log_records"`
	AccessLogRequests int           `json:"access_log_requests_sent"`
	HerdRequests      int           `json:"herd_requests"`
	HerdOK            int           `json:"herd_200"`
	HerdOktaCalls     int           `json:"herd_okta_calls"`
	HerdStored        int           `json:"herd_stored_users"`
	Cold              resolveResult `json:"cold"`
	ColdOktaCalls     int           `json:"cold_okta_calls"`
	Directory         resolveResult `json:"directory_direct"`
	BudgetRequests    int           `json:"budget_requests"`
	Budget            resolveResult `json:"budget"`
	Okta429           int           `json:"okta_429s"`
	OktaCalls         int           `json:"budget_okta_calls"`
}

// service is one started usersvc with the token its requests carry.
type service struct {
	setup   setup
	proc    *child
	url     string
	metrics string
	bearer  string
	sent    int // requests the warm scenario sent it, warm-up included
}

func run(o options) (results, error) {
	bin := o.usersvc
	if bin == "" {
		var cleanup func()
		var err error
		if bin, cleanup, err = buildUsersvc(); err != nil {
			return results{}, err
		}
		defer cleanup()
	}
	// A real OpenID provider process: its RS256 tokens are what the service
	// verifies and caches in production, header size included.
	prov, err := oidcprovider.Run()
	if err != nil {
		return results{}, err
	}
	defer prov.Stop()
	hour := time.Hour
	provToken, err := prov.MintToken(oidcprovider.TokenOptions{Subject: "00uada", Email: "ada@example.com",
		Groups: []string{"Everyone", "amundsen-users", "data-platform"}, Scopes: []string{"openid", "profile", "email"},
		ClientID: "0oaamundsenfrontend", ExpiresIn: &hour})
	if err != nil {
		return results{}, err
	}
	// The org authorization server's stand-in, minting opaque tokens.
	op, err := introspector.Launch(introspector.Options{})
	if err != nil {
		return results{}, err
	}
	defer op.Stop()
	opaqueToken, err := op.Mint(introspector.TokenOptions{Email: "ada@example.com"})
	if err != nil {
		return results{}, err
	}
	iss, err := issuer.New()
	if err != nil {
		return results{}, err
	}
	defer iss.Close()
	issToken, err := issuer.SignToken(iss.Keys()[0], iss.Claims(time.Now().Add(time.Hour), "ada@example.com"), true)
	if err != nil {
		return results{}, err
	}

	// Okta's documented limits: 600 searches and 1,200 user GETs a minute.
	org := oktaapi.NewServer(oktaapi.WithSSWSToken("00loadgen"), oktaapi.WithRateLimits(1200, 600))
	defer org.Close()
	addFirstRequestPeople(org, o.cold)
	for i := range o.unknown {
		email := fmt.Sprintf("person%05d@example.com", i)
		login := email
		if i%2 == 1 {
			login = fmt.Sprintf("p%05d", i) // found by the email search, not the login GET
		}
		org.AddUsers(oktaapi.NewUser(fmt.Sprintf("00u%05d", i), login, email, "Person", strconv.Itoa(i), "ACTIVE"))
	}

	dir, err := os.MkdirTemp("", "loadgen-db")
	if err != nil {
		return results{}, err
	}
	defer os.RemoveAll(dir)
	logPath := filepath.Join(dir, "usersvc.log")

	chosen := setups[:1]
	if o.extraRows {
		chosen = setups
	}
	var svcs []*service
	defer func() {
		for _, s := range svcs {
			s.proc.stop()
		}
	}()
	for i, st := range chosen {
		s, err := startService(bin, st, i, dir, logPath, o, idps{prov, op, iss}, org)
		if err != nil {
			return results{}, err
		}
		svcs = append(svcs, s)
		switch {
		case st.Provider:
			s.bearer = "Bearer " + provToken
		case st.Introspected:
			s.bearer = "Bearer " + opaqueToken
		default:
			s.bearer = "Bearer " + issToken
		}
		body, _ := baselineUser.MarshalJSON()
		if code, err := do(http.MethodPut, s.url+"/user", s.bearer, string(body)); err != nil || code != http.StatusCreated {
			return results{}, fmt.Errorf("seeding the user in %s: %d %v", st.Name, code, err)
		}
	}

	base, baseAddr, err := startBaseline()
	if err != nil {
		return results{}, err
	}
	defer base.stop()
	baseURL := "http://" + baseAddr + "/user/ada@example.com"

	// The baseline is measured once per distinct token, in the same rounds.
	var bearers []string
	for _, s := range svcs {
		if !slices.Contains(bearers, s.bearer) {
			bearers = append(bearers, s.bearer)
		}
	}

	var r results
	// Scenario 1: warm authenticated GET, same token, user in the store.
	// Both sides get the same request, bearer token included, so the
	// comparison is of the servers, not of the bytes on the wire.
	for _, b := range bearers {
		if _, err := load("warm-up", baseURL, b, base.pid(), o.conns, time.Second, o.maxRequests); err != nil {
			return results{}, err
		}
	}
	for _, s := range svcs {
		w, err := load("warm-up", s.url+"/user/ada@example.com", s.bearer, s.proc.pid(), o.conns, time.Second, o.maxRequests)
		if err != nil {
			return results{}, err
		}
		s.sent += w.Requests
	}
	per := o.duration / time.Duration(max(o.rounds, 1))
	// Alternating rounds, so a noisy moment of the machine hits every side.
	// Each round starts one slot later than the one before: what runs right
	// after what (the kernel writing back the log file, a child's idle GC)
	// then falls on every side alike.
	baseRounds := map[string][]sample{}
	svcRounds := make([][]sample, len(svcs))
	var slots []func() error
	for _, b := range bearers {
		slots = append(slots, func() error {
			s, err := load("baseline gin", baseURL, b, base.pid(), o.conns, per, o.maxRequests)
			baseRounds[b] = append(baseRounds[b], s)
			return err
		})
		for i, s := range svcs {
			if s.bearer != b {
				continue
			}
			slots = append(slots, func() error {
				m, err := load("usersvc", s.url+"/user/ada@example.com", s.bearer, s.proc.pid(), o.conns, per, o.maxRequests)
				s.sent += m.Requests
				svcRounds[i] = append(svcRounds[i], m)
				return err
			})
		}
	}
	introBefore, err := op.ReadStats()
	if err != nil {
		return results{}, err
	}
	for round := range max(o.rounds, 1) {
		for j := range slots {
			if err := slots[(round+j)%len(slots)](); err != nil {
				return results{}, err
			}
		}
	}
	introAfter, err := op.ReadStats()
	if err != nil {
		return results{}, err
	}
	r.IntroCalls = introAfter.Introspections - introBefore.Introspections
	for i, s := range svcs {
		rw := row{Setup: s.setup, TokenBytes: len(strings.TrimPrefix(s.bearer, "Bearer ")),
			Baseline: merge(baseRounds[s.bearer]), Service: merge(svcRounds[i])}
		rw.Ratio = rw.Service.rate() / rw.Baseline.rate()
		if b := rw.Baseline.cpuPerRequest(); b > 0 {
			rw.CPURatio = float64(rw.Service.cpuPerRequest()) / float64(b)
		}
		if rw.PeakRSSBytes, err = procStatus(s.proc.pid(), "VmHWM"); err != nil {
			return results{}, err
		}
		r.Rows = append(r.Rows, rw)
	}
	if o.cpuProfile != "" {
		// A load of its own, after the measured rounds, so the profiler's
		// overhead never touches the figures.
		seconds := min(max(int(o.duration.Seconds()), 1), 50) // below the metrics listener's 60 s WriteTimeout
		profile := make(chan error, 1)
		go func() { profile <- fetchProfile(svcs[0].metrics, seconds, o.cpuProfile) }()
		p, err := load("profiled", svcs[0].url+"/user/ada@example.com", svcs[0].bearer, svcs[0].proc.pid(), o.conns, time.Duration(seconds)*time.Second, o.maxRequests)
		if err != nil {
			return results{}, err
		}
		svcs[0].sent += p.Requests
		if err := <-profile; err != nil {
			return results{}, fmt.Errorf("cpu profile: %w", err)
		}
	}
	// The extra services are done; only the representative one goes on.
	for _, s := range svcs[1:] {
		s.proc.stop()
	}
	svc := svcs[0]
	svcs = svcs[:1]
	// Lines reach the file within the service's flush interval (200 ms).
	time.Sleep(500 * time.Millisecond)
	r.AccessLogRequests = svc.sent
	if r.AccessLogRecords, err = countRecords(logPath, `"msg":"request"`); err != nil {
		return results{}, err
	}

	// Scenario 2: a herd of first requests for one unknown person.
	r.HerdRequests = o.herd
	r.HerdOK, r.HerdOktaCalls = herdScenario(org, svc.url, svc.bearer, o.herd)
	r.HerdStored = countListed(svc.url, svc.bearer, herdEmail)

	// Scenario 3: cold resolution latency.
	r.Cold, r.ColdOktaCalls, r.Directory = coldScenario(org, svc.url, svc.bearer, o)

	// Scenario 4: many distinct unknown people against Okta's limits and
	// latency: no 429 may reach Okta, every answer is 200 or a 503 with
	// Retry-After, none slower than 3 s.
	org.SetLatency(o.oktaLatency)
	org.Reset()
	org.RestartWindows()
	r.BudgetRequests = o.unknown
	r.Budget = resolveAll(svc.url, svc.bearer, "person", o.unknown, o.conns)
	r.OktaCalls = org.Count(oktaapi.IsAPI)
	r.Okta429 = org.Count(func(q oktaapi.Request) bool { return q.Status == http.StatusTooManyRequests })

	return r, nil
}

// startService starts usersvc the way st says: the n-th service, with its
// own store file and listeners.
// idps are the token issuers a setup can use.
type idps struct {
	prov *oidcprovider.Provider
	op   *introspector.Provider
	iss  *issuer.Issuer
}

func startService(bin string, st setup, n int, dir, logPath string, o options, id idps, org *oktaapi.Server) (*service, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	s := &service{setup: st, url: "http://" + addr}
	metrics := "off"
	if st.Metrics {
		if s.metrics, err = freeAddr(); err != nil {
			return nil, err
		}
		metrics = s.metrics
	}
	env := []string{
		"LISTEN_ADDR=" + addr, "METRICS_ADDR=" + metrics, "LOG_LEVEL=info",
		"OKTA_CLIENT_ORGURL=" + org.URL(), "OKTA_CLIENT_TOKEN=00loadgen", "OKTA_TESTING_DISABLE_HTTPS_CHECK=true",
		"EMBEDDED_DB_PATH=" + filepath.Join(dir, fmt.Sprintf("usersvc%d.db", n)),
	}
	switch {
	case st.Provider:
		env = append(env, "FLASK_OIDC_CONFIG_URL="+id.prov.DiscoveryURL(), "OIDC_AUDIENCE=api://default")
	case st.Introspected:
		env = append(env, "FLASK_OIDC_CONFIG_URL="+id.op.DiscoveryURL(), "FLASK_OIDC_CLIENT_ID="+introspector.ResourceServer,
			"FLASK_OIDC_CLIENT_SECRET="+id.op.Secret(introspector.ResourceServer))
	default:
		env = append(env, "FLASK_OIDC_CONFIG_URL="+id.iss.DiscoveryURL(), "OIDC_AUDIENCE="+issuer.Audience)
	}
	if n == 0 && o.cpuProfile != "" {
		env = append(env, "PPROF_ENABLED=true")
	}
	if o.serviceEnv != "" {
		env = append(env, strings.Split(o.serviceEnv, ",")...)
	}
	var out *os.File
	if st.LogFile {
		if out, err = os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600); err != nil {
			return nil, err
		}
		defer out.Close() // the child holds its own descriptor
	}
	if s.proc, err = start(bin, nil, env, addr, out); err != nil {
		return nil, err
	}
	if err := waitReady(s.url); err != nil {
		s.proc.stop()
		return nil, fmt.Errorf("%s: %w", st.Name, err)
	}
	return s, nil
}

// fetchProfile takes a CPU profile of seconds from the service's metrics
// listener (PPROF_ENABLED) into path.
func fetchProfile(metricsAddr string, seconds int, path string) error {
	client := &http.Client{Timeout: time.Duration(seconds+30) * time.Second}
	resp, err := client.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", metricsAddr, seconds))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile: status %d", resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// countRecords counts the lines of path holding marker.
func countRecords(path, marker string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n := 0
	for line := range bytes.Lines(data) {
		if bytes.Contains(line, []byte(marker)) {
			n++
		}
	}
	return n, nil
}

func do(method, url, bearer, body string) (int, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", bearer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

func waitReady(base string) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("usersvc did not become ready")
}

// herdEmail is the person of the herd scenario: in the directory only.
const herdEmail = "herd@example.com"

// addFirstRequestPeople adds to org the people the herd and cold scenarios
// ask for: the herd's person and cold people cold00000@example.com on,
// each found by the login GET with the email search beside it.
func addFirstRequestPeople(org *oktaapi.Server, cold int) {
	org.AddUsers(oktaapi.NewUser("00uherd", herdEmail, herdEmail, "Herd", "Person", "ACTIVE"))
	for i := range cold {
		email := fmt.Sprintf("cold%05d@example.com", i)
		org.AddUsers(oktaapi.NewUser(fmt.Sprintf("00ucold%05d", i), email, email, "Cold", strconv.Itoa(i), "ACTIVE"))
	}
}

// herdScenario releases n simultaneous first requests for the herd's
// person and returns how many answered 200 and the Okta calls they made.
func herdScenario(org *oktaapi.Server, base, bearer string, n int) (ok, calls int) {
	org.Reset()
	codes := herd(base+"/user/"+herdEmail, bearer, n)
	return codes[http.StatusOK], org.Count(oktaapi.IsAPI)
}

// coldScenario resolves the cold people, each once, from fewer clients than
// OKTA_MAX_CONCURRENT so no lookup queues: what the service adds to the
// directory's latency. It returns their answers, the Okta calls they made,
// and the directory's own latency as a client on this machine sees it (the
// test server's sleep overshoots, more so when the machine is busy): the
// same number of user GETs straight to it, from as many clients.
func coldScenario(org *oktaapi.Server, base, bearer string, o options) (cold resolveResult, calls int, direct resolveResult) {
	org.SetLatency(o.coldLatency)
	org.Reset()
	org.RestartWindows()
	cold = resolveAll(base, bearer, "cold", o.cold, o.coldConns)
	calls = org.Count(oktaapi.IsAPI)
	direct = resolveAll(org.URL(), "SSWS 00loadgen", "/api/v1/users/cold", o.cold, o.coldConns)
	return cold, calls, direct
}

// herd releases n simultaneous requests for one URL.
func herd(url, bearer string, n int) map[int]int {
	client := newClient(n)
	defer client.CloseIdleConnections()
	var mu sync.Mutex
	codes := map[int]int{}
	startGate := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-startGate
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			req.Header.Set("Authorization", bearer)
			code := 0
			if resp, err := client.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				code = resp.StatusCode
			}
			mu.Lock()
			codes[code]++
			mu.Unlock()
		}()
	}
	close(startGate)
	wg.Wait()
	return codes
}

// countListed counts the users GET /user lists with email. It reads both
// shapes of the answer: Amundsen's bare array and the earlier {"users": [...]}.
func countListed(base, bearer, email string) int {
	req, _ := http.NewRequest(http.MethodGet, base+"/user", nil)
	req.Header.Set("Authorization", bearer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return -1
	}
	var users []map[string]any
	if json.Unmarshal(data, &users) != nil {
		var wrapped struct {
			Users []map[string]any `json:"users"`
		}
		if json.Unmarshal(data, &wrapped) != nil {
			return -1
		}
		users = wrapped.Users
	}
	n := 0
	for _, u := range users {
		if u["email"] == email {
			n++
		}
	}
	return n
}

// resolveResult counts the answers to first requests for unknown people.
type resolveResult struct {
	OK          int           `json:"ok"`
	Unavailable int           `json:"unavailable_with_retry_after"`
	Other       int           `json:"other"`
	P50         time.Duration `json:"p50_ns"`
	P99         time.Duration `json:"p99_ns"`
	Slowest     time.Duration `json:"slowest_ns"`
}

// resolveAll asks once for each of n distinct unknown people
// <base>/user/<prefix>NNNNN@example.com (a prefix starting with a slash
// replaces /user/), from conns clients.
func resolveAll(base, auth, prefix string, n, conns int) resolveResult {
	if !strings.HasPrefix(prefix, "/") {
		prefix = "/user/" + prefix
	}
	client := newClient(conns)
	defer client.CloseIdleConnections()
	var next atomic.Int64
	var mu sync.Mutex
	var res resolveResult
	var lat []time.Duration
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s%s%05d@example.com", base, prefix, i), nil)
				req.Header.Set("Authorization", auth)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				elapsed := time.Since(t0)
				mu.Lock()
				lat = append(lat, elapsed)
				switch {
				case err != nil:
					res.Other++
				case resp.StatusCode == http.StatusOK:
					res.OK++
				case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "":
					res.Unavailable++
				default:
					res.Other++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	if k := len(lat); k > 0 {
		res.P50, res.P99, res.Slowest = lat[k/2], lat[k*99/100], lat[k-1]
	}
	return res
}

func µs(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Microsecond)) }

func report(out io.Writer, o options, r results) bool {
	per := o.duration / time.Duration(max(o.rounds, 1))
	fmt.Fprintf(out, "warm GET /user/<id>, %d connections, %d alternating rounds of %s per server, LOG_LEVEL=info\n", o.conns, max(o.rounds, 1), per)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "setup\tserver\tCPU µs/req\treq/s\tp50\tp99\tmax\terrors\t")
	for _, rw := range r.Rows {
		for _, s := range []sample{rw.Baseline, rw.Service} {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f\t%s\t%s\t%s\t%d\t\n", rw.Setup.Name, s.Name, µs(s.cpuPerRequest()), s.rate(),
				s.P50.Round(time.Microsecond), s.P99.Round(time.Microsecond), s.Max.Round(time.Microsecond), s.Errors)
		}
	}
	_ = tw.Flush()
	fmt.Fprintln(out)
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "setup\tlogs\ttoken\tmetrics\tCPU/req vs baseline\treq/s vs baseline\tpeak RSS\tof it anonymous\t")
	for _, rw := range r.Rows {
		logs, tok, met := "discarded", fmt.Sprintf("in-process issuer, %d B", rw.TokenBytes), "off"
		if rw.Setup.LogFile {
			logs = "file"
		}
		switch {
		case rw.Setup.Provider:
			tok = fmt.Sprintf("OIDC provider process, %d B", rw.TokenBytes)
		case rw.Setup.Introspected:
			tok = fmt.Sprintf("opaque, introspected, %d B", rw.TokenBytes)
		}
		if rw.Setup.Metrics {
			met = "on"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.2fx\t%.3fx\t%.1f MiB\t%.1f MiB\t\n", rw.Setup.Name, logs, tok, met, rw.CPURatio, rw.Ratio,
			float64(rw.PeakRSSBytes)/(1<<20), float64(rw.Service.PeakAnon)/(1<<20))
	}
	_ = tw.Flush()
	head := r.Rows[0]
	fmt.Fprintf(out, "\nheadline (representative): usersvc %s µs CPU per request, baseline %s µs (%.2fx); req/s %.3fx baseline\n",
		µs(head.Service.cpuPerRequest()), µs(head.Baseline.cpuPerRequest()), head.CPURatio, head.Ratio)
	fmt.Fprintf(out, "cold resolution (%d people, %d clients, Okta test server sleeping %s): p50 %s, p99 %s; %d Okta calls; the Okta server asked directly: p50 %s, p99 %s\n",
		o.cold, o.coldConns, o.coldLatency, r.Cold.P50.Round(10*time.Microsecond), r.Cold.P99.Round(10*time.Microsecond), r.ColdOktaCalls,
		r.Directory.P50.Round(10*time.Microsecond), r.Directory.P99.Round(10*time.Microsecond))
	fmt.Fprintf(out, "budget: %d Okta calls (GET and search, %s latency)\n\n", r.OktaCalls, o.oktaLatency)

	warmErrors := 0
	for _, rw := range r.Rows {
		warmErrors += rw.Service.Errors + rw.Baseline.Errors
	}
	checks := []struct {
		name string
		ok   bool
		got  string
	}{
		{fmt.Sprintf("1. warm req/s >= %.2fx baseline (representative)", minRatio), head.Ratio >= minRatio,
			fmt.Sprintf("%.3fx (CPU/req %.2fx)", head.Ratio, head.CPURatio)},
		{"1. warm errors = 0", warmErrors == 0, strconv.Itoa(warmErrors)},
		{"1. no introspection call during the warm rounds (cached opaque token)", r.IntroCalls == 0, strconv.Itoa(r.IntroCalls)},
		{"1. one access-log record per request", r.AccessLogRecords >= r.AccessLogRequests,
			fmt.Sprintf("%d records, %d requests", r.AccessLogRecords, r.AccessLogRequests)},
		{fmt.Sprintf("1. service peak RSS <= %d MiB", maxRSS>>20), head.PeakRSSBytes <= maxRSS, fmt.Sprintf("%.1f MiB", float64(head.PeakRSSBytes)/(1<<20))},
		{"2. herd: all 200", r.HerdOK == r.HerdRequests, fmt.Sprintf("%d of %d", r.HerdOK, r.HerdRequests)},
		{"2. herd: exactly 1 Okta lookup (GET by login + the shared-email search)", r.HerdOktaCalls == 2, strconv.Itoa(r.HerdOktaCalls)},
		{"2. herd: exactly 1 stored user", r.HerdStored == 1, strconv.Itoa(r.HerdStored)},
		{"3. cold: all 200, one Okta lookup each (2 calls)", r.Cold.OK == o.cold && r.ColdOktaCalls == 2*o.cold,
			fmt.Sprintf("%d ok of %d, %d Okta calls", r.Cold.OK, o.cold, r.ColdOktaCalls)},
		{fmt.Sprintf("3. cold p99 <= directory p99 + %s", coldMargin), r.Directory.OK == o.cold && r.Cold.P99 <= r.Directory.P99+coldMargin,
			fmt.Sprintf("%s (limit %s)", r.Cold.P99.Round(10*time.Microsecond), (r.Directory.P99 + coldMargin).Round(10*time.Microsecond))},
		{"4. budget: no 429 reaches Okta", r.Okta429 == 0, strconv.Itoa(r.Okta429)},
		{"4. budget: only 200 or 503+Retry-After", r.Budget.Other == 0, fmt.Sprintf("%d ok, %d 503, %d other", r.Budget.OK, r.Budget.Unavailable, r.Budget.Other)},
		{"4. budget: none slower than 3s", r.Budget.Slowest < 3*time.Second, r.Budget.Slowest.Round(time.Millisecond).String()},
	}
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "target\tmeasured\tresult")
	pass := true
	for _, c := range checks {
		verdict := "PASS"
		if !c.ok {
			verdict, pass = "FAIL", false
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.name, c.got, verdict)
	}
	_ = tw.Flush()
	return pass
}
