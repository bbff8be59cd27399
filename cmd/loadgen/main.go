// Command loadgen measures usersvc against a bare gin baseline on loopback,
// in one run: it starts an in-process OIDC issuer and Okta Users API test
// server, the baseline and the real service as child processes, drives both
// with the same client for the same time, and prints one table. Every loop
// is bounded by a duration and a request count; everything it starts, it
// stops.
package main

import (
	"bufio"
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
	jsonOut     string
	serviceEnv  string
	rounds      int
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "-serve-baseline" {
		serveBaseline(os.Args[2])
		return
	}
	var o options
	flag.DurationVar(&o.duration, "duration", 12*time.Second, "load time per side in the warm scenario (split into alternating rounds)")
	flag.IntVar(&o.rounds, "rounds", 4, "alternating baseline/service rounds in the warm scenario")
	flag.IntVar(&o.conns, "conns", 32, "concurrent connections in the warm scenario")
	flag.IntVar(&o.maxRequests, "max-requests", 2_000_000, "request cap per side in the warm scenario")
	flag.StringVar(&o.usersvc, "usersvc", "", "usersvc binary (default: build ./cmd/usersvc)")
	flag.DurationVar(&o.oktaLatency, "okta-latency", 100*time.Millisecond, "latency of the Okta test server in the budget scenario")
	flag.IntVar(&o.unknown, "unknown", 2000, "distinct unknown users in the budget scenario")
	flag.IntVar(&o.herd, "herd", 500, "concurrent first requests for one unknown user")
	flag.StringVar(&o.jsonOut, "json", "", "also write the results as JSON to this file")
	flag.StringVar(&o.serviceEnv, "service-env", "", "extra NAME=value settings for usersvc, comma separated")
	soakFor := flag.Duration("soak", 0, "run the soak instead: a mixed load for this long (make soak: 10m)")
	soakRate := flag.Int("soak-rate", 150, "soak request rate per second")
	flag.Parse()
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
	r, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	pass := report(os.Stdout, o, r)
	if o.jsonOut != "" {
		data, _ := json.MarshalIndent(r, "", "  ")
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

func start(path string, args, env []string, addr string) (*child, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = env
	// Straight to /dev/null: a pipe would make this process copy the
	// service's logs, stealing CPU from the measurement.
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	cmd.Stdout, cmd.Stderr = devnull, os.Stderr
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

// peakRSS reads the process's resident-set high-water mark (Linux).
func peakRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmHWM")
}

func buildUsersvc() (string, func(), error) {
	dir, err := os.MkdirTemp("", "loadgen")
	if err != nil {
		return "", nil, err
	}
	bin := filepath.Join(dir, "usersvc")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/usersvc/usersvc/cmd/usersvc")
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
}

func (s sample) rate() float64 { return float64(s.Requests) / s.Elapsed.Seconds() }

func newClient(conns int) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, IdleConnTimeout: time.Minute,
	}}
}

// load sends GET url with header from conns workers until duration passes
// or maxRequests are sent.
func load(name, url, header string, conns int, duration time.Duration, maxRequests int) sample {
	client := newClient(conns)
	defer client.CloseIdleConnections()
	var sent atomic.Int64
	var errs atomic.Int64
	lat := make([][]time.Duration, conns)
	deadline := time.Now().Add(duration)
	start := time.Now()
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
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	s := sample{Name: name, Requests: len(all), Errors: int(errs.Load()), Elapsed: time.Since(start)}
	if n := len(all); n > 0 {
		s.P50, s.P99, s.Max = all[n/2], all[n*99/100], all[n-1]
	}
	return s
}

// merge sums rounds; latency percentiles are the rounds' medians.
func merge(rounds []sample) sample {
	m := sample{Name: rounds[0].Name}
	var p50, p99 []time.Duration
	for _, r := range rounds {
		m.Requests += r.Requests
		m.Errors += r.Errors
		m.Elapsed += r.Elapsed
		m.Max = max(m.Max, r.Max)
		p50, p99 = append(p50, r.P50), append(p99, r.P99)
	}
	slices.Sort(p50)
	slices.Sort(p99)
	m.P50, m.P99 = p50[len(p50)/2], p99[len(p99)/2]
	return m
}

// results is what a run measured.
type results struct {
	Baseline       sample        `json:"baseline"`
	Service        sample        `json:"service"`
	Ratio          float64       `json:"ratio"`
	Introspected   sample        `json:"service_introspected"`
	IntroRatio     float64       `json:"introspected_to_jwt_ratio"`
	IntroCalls     int           `json:"warm_introspection_calls"`
	PeakRSSBytes   int64         `json:"service_peak_rss_bytes"`
	HerdRequests   int           `json:"herd_requests"`
	HerdOK         int           `json:"herd_200"`
	HerdOktaCalls  int           `json:"herd_okta_calls"`
	HerdStored     int           `json:"herd_stored_users"`
	BudgetRequests int           `json:"budget_requests"`
	BudgetOK       int           `json:"budget_200"`
	Budget503      int           `json:"budget_503_with_retry_after"`
	BudgetOther    int           `json:"budget_other"`
	BudgetSlowest  time.Duration `json:"budget_slowest_ns"`
	Okta429        int           `json:"okta_429s"`
	OktaCalls      int           `json:"budget_okta_calls"`
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
	iss, err := issuer.New()
	if err != nil {
		return results{}, err
	}
	defer iss.Close()
	// Okta's documented limits: 600 searches and 1,200 user GETs a minute.
	org := oktaapi.NewServer(oktaapi.WithSSWSToken("00loadgen"), oktaapi.WithRateLimits(1200, 600))
	defer org.Close()
	herdEmail := "herd@example.com"
	org.AddUsers(oktaapi.NewUser("00uherd", herdEmail, herdEmail, "Herd", "Person", "ACTIVE"))
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
	svcAddr, err := freeAddr()
	if err != nil {
		return results{}, err
	}
	env := []string{
		"LISTEN_ADDR=" + svcAddr, "METRICS_ADDR=off",
		"FLASK_OIDC_CONFIG_URL=" + iss.DiscoveryURL(), "OIDC_AUDIENCE=" + issuer.Audience,
		"OKTA_CLIENT_ORGURL=" + org.URL(), "OKTA_CLIENT_TOKEN=00loadgen", "OKTA_TESTING_DISABLE_HTTPS_CHECK=true",
		"EMBEDDED_DB_PATH=" + filepath.Join(dir, "usersvc.db"),
	}
	if o.serviceEnv != "" {
		env = append(env, strings.Split(o.serviceEnv, ",")...)
	}
	svc, err := start(bin, nil, env, svcAddr)
	if err != nil {
		return results{}, err
	}
	defer svc.stop()
	self, err := os.Executable()
	if err != nil {
		return results{}, err
	}
	baseAddr, err := freeAddr()
	if err != nil {
		return results{}, err
	}
	base, err := start(self, []string{"-serve-baseline", baseAddr}, nil, baseAddr)
	if err != nil {
		return results{}, err
	}
	defer base.stop()

	token, err := issuer.SignToken(iss.Keys()[0], iss.Claims(time.Now().Add(time.Hour), "ada@example.com"), true)
	if err != nil {
		return results{}, err
	}
	bearer := "Bearer " + token
	svcURL := "http://" + svcAddr
	if err := waitReady(svcURL); err != nil {
		return results{}, err
	}
	body, _ := baselineUser.MarshalJSON()
	if code, err := do(http.MethodPut, svcURL+"/user", bearer, string(body)); err != nil || code != http.StatusCreated {
		return results{}, fmt.Errorf("seeding the user: %d %v", code, err)
	}

	// Scenario 1b's service: configured like Okta's org authorization
	// server (opaque access tokens, introspection), against a real provider.
	intro, err := startIntrospected(bin, dir)
	if err != nil {
		return results{}, err
	}
	defer intro.stop()

	var r results
	// Scenario 1: warm authenticated GET, same token, user in the store.
	// Both sides get the same request, bearer token included, so the
	// comparison is of the servers, not of the bytes on the wire.
	_ = load("warm-up", "http://"+baseAddr+"/user/ada@example.com", bearer, o.conns, time.Second, o.maxRequests)
	_ = load("warm-up", svcURL+"/user/ada@example.com", bearer, o.conns, time.Second, o.maxRequests)
	_ = load("warm-up", intro.url+"/user/ada@example.com", intro.bearer, o.conns, time.Second, o.maxRequests)
	callsBefore, err := intro.provider.ReadStats()
	if err != nil {
		return results{}, err
	}
	// Alternating rounds, so a noisy moment of the machine hits every side.
	var bs, ss, is []sample
	per := o.duration / time.Duration(max(o.rounds, 1))
	for range max(o.rounds, 1) {
		bs = append(bs, load("baseline gin", "http://"+baseAddr+"/user/ada@example.com", bearer, o.conns, per, o.maxRequests))
		ss = append(ss, load("usersvc", svcURL+"/user/ada@example.com", bearer, o.conns, per, o.maxRequests))
		is = append(is, load("usersvc, introspected token", intro.url+"/user/ada@example.com", intro.bearer, o.conns, per, o.maxRequests))
	}
	r.Baseline, r.Service, r.Introspected = merge(bs), merge(ss), merge(is)
	r.Ratio = r.Service.rate() / r.Baseline.rate()
	r.IntroRatio = r.Introspected.rate() / r.Service.rate()
	callsAfter, err := intro.provider.ReadStats()
	if err != nil {
		return results{}, err
	}
	r.IntroCalls = callsAfter.Introspections - callsBefore.Introspections
	if r.PeakRSSBytes, err = peakRSS(svc.cmd.Process.Pid); err != nil {
		return results{}, err
	}

	// Scenario 2: a herd of first requests for one unknown person.
	r.HerdRequests = o.herd
	org.Reset()
	codes := herd(svcURL+"/user/"+herdEmail, bearer, o.herd)
	r.HerdOK = codes[http.StatusOK]
	r.HerdOktaCalls = org.Count(oktaapi.IsAPI)
	r.HerdStored = countListed(svcURL, bearer, herdEmail)

	// Scenario 3: many distinct unknown people against Okta's limits and
	// latency: no 429 may reach Okta, every answer is 200 or a 503 with
	// Retry-After, none slower than 3 s.
	org.SetLatency(o.oktaLatency)
	org.Reset()
	org.RestartWindows()
	b := budget(svcURL, bearer, o.unknown, o.conns)
	r.BudgetRequests, r.BudgetOK, r.Budget503, r.BudgetOther = o.unknown, b.ok, b.unavailable, b.other
	r.BudgetSlowest = b.slowest
	r.OktaCalls = org.Count(oktaapi.IsAPI)
	r.Okta429 = org.Count(func(q oktaapi.Request) bool { return q.Status == http.StatusTooManyRequests })

	return r, nil
}

// introspected is a usersvc verifying opaque tokens by introspection at a
// real OpenID provider process (npm oidc-provider).
type introspected struct {
	provider *introspector.Provider
	svc      *child
	url      string
	bearer   string
}

func (i *introspected) stop() {
	if i.svc != nil {
		i.svc.stop()
	}
	i.provider.Stop()
}

func startIntrospected(bin, dir string) (*introspected, error) {
	op, err := introspector.Launch(introspector.Options{})
	if err != nil {
		return nil, err
	}
	i := &introspected{provider: op}
	addr, err := freeAddr()
	if err != nil {
		i.stop()
		return nil, err
	}
	env := []string{
		"LISTEN_ADDR=" + addr, "METRICS_ADDR=off",
		"FLASK_OIDC_CONFIG_URL=" + op.DiscoveryURL(),
		"FLASK_OIDC_CLIENT_ID=" + introspector.ResourceServer,
		"FLASK_OIDC_CLIENT_SECRET=" + op.Secret(introspector.ResourceServer),
		"EMBEDDED_DB_PATH=" + filepath.Join(dir, "introspected.db"),
	}
	if i.svc, err = start(bin, nil, env, addr); err != nil {
		i.stop()
		return nil, err
	}
	i.url = "http://" + addr
	tok, err := op.Mint(introspector.TokenOptions{Email: "ada@example.com"})
	if err != nil {
		i.stop()
		return nil, err
	}
	i.bearer = "Bearer " + tok
	if err := waitReady(i.url); err != nil {
		i.stop()
		return nil, err
	}
	body, _ := baselineUser.MarshalJSON()
	if code, err := do(http.MethodPut, i.url+"/user", i.bearer, string(body)); err != nil || code != http.StatusCreated {
		i.stop()
		return nil, fmt.Errorf("seeding the user with an introspected token: %d %v", code, err)
	}
	return i, nil
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

func countListed(base, bearer, email string) int {
	req, _ := http.NewRequest(http.MethodGet, base+"/user", nil)
	req.Header.Set("Authorization", bearer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	// GET /user is a bare array of users, as Amundsen answers it.
	var list []map[string]any
	if json.NewDecoder(resp.Body).Decode(&list) != nil {
		return -1
	}
	n := 0
	for _, u := range list {
		if u["email"] == email {
			n++
		}
	}
	return n
}

type budgetResult struct {
	ok, unavailable, other int
	slowest                time.Duration
}

// budget asks once for each of n distinct unknown people.
func budget(base, bearer string, n, conns int) budgetResult {
	client := newClient(conns)
	defer client.CloseIdleConnections()
	var next atomic.Int64
	var mu sync.Mutex
	var res budgetResult
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
				req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/user/person%05d@example.com", base, i), nil)
				req.Header.Set("Authorization", bearer)
				t0 := time.Now()
				resp, err := client.Do(req)
				elapsed := time.Since(t0)
				mu.Lock()
				res.slowest = max(res.slowest, elapsed)
				switch {
				case err != nil:
					res.other++
				case resp.StatusCode == http.StatusOK:
					res.ok++
				case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "":
					res.unavailable++
				default:
					res.other++
				}
				mu.Unlock()
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}()
	}
	wg.Wait()
	return res
}

func report(out io.Writer, o options, r results) bool {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(out, "warm GET /user/<id>, %d connections, %s per side\n", o.conns, o.duration)
	fmt.Fprintln(tw, "server\treq/s\tp50\tp99\tmax\terrors\t")
	for _, s := range []sample{r.Baseline, r.Service, r.Introspected} {
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%d\t\n", s.Name, s.rate(), s.P50.Round(time.Microsecond), s.P99.Round(time.Microsecond), s.Max.Round(time.Microsecond), s.Errors)
	}
	_ = tw.Flush()
	checks := []struct {
		name string
		ok   bool
		got  string
	}{
		{"1. warm req/s >= 0.7x baseline", r.Ratio >= 0.7, fmt.Sprintf("%.2fx", r.Ratio)},
		{"1. warm errors = 0", r.Service.Errors == 0 && r.Baseline.Errors == 0, fmt.Sprintf("%d / %d", r.Service.Errors, r.Baseline.Errors)},
		{"1b. introspected-token warm req/s >= 0.8x JWT warm", r.IntroRatio >= 0.8, fmt.Sprintf("%.2fx", r.IntroRatio)},
		{"1b. introspection calls during the warm load = 0, errors = 0", r.IntroCalls == 0 && r.Introspected.Errors == 0, fmt.Sprintf("%d calls, %d errors", r.IntroCalls, r.Introspected.Errors)},
		{"2. herd: all 200", r.HerdOK == r.HerdRequests, fmt.Sprintf("%d of %d", r.HerdOK, r.HerdRequests)},
		// One lookup: GET by login, then the email search that tells
		// whether the email is shared (the keying rule).
		{"2. herd: exactly 1 Okta lookup (2 calls)", r.HerdOktaCalls == 2, strconv.Itoa(r.HerdOktaCalls)},
		{"2. herd: exactly 1 stored user", r.HerdStored == 1, strconv.Itoa(r.HerdStored)},
		{"3. budget: no 429 reaches Okta", r.Okta429 == 0, strconv.Itoa(r.Okta429)},
		{"3. budget: only 200 or 503+Retry-After", r.BudgetOther == 0, fmt.Sprintf("%d ok, %d 503, %d other", r.BudgetOK, r.Budget503, r.BudgetOther)},
		{"3. budget: none slower than 3s", r.BudgetSlowest < 3*time.Second, r.BudgetSlowest.Round(time.Millisecond).String()},
		{"4. service peak RSS <= 64 MB", r.PeakRSSBytes <= 64<<20, fmt.Sprintf("%.1f MB", float64(r.PeakRSSBytes)/(1<<20))},
	}
	fmt.Fprintf(out, "\nOkta calls in the budget scenario: %d (GET and search, %s latency)\n\n", r.OktaCalls, o.oktaLatency)
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
