package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/issuer"
	"github.com/usersvc/usersvc/testsupport/oktaapi"
)

// soakOptions shape a soak run: a steady mixed load for a bounded time with
// Okta outages injected on a schedule.
type soakOptions struct {
	duration    time.Duration
	rate        int           // requests per second, all workers together
	faultEvery  time.Duration // an Okta outage starts this often
	faultFor    time.Duration // and lasts this long
	sampleEvery time.Duration
	usersvc     string
}

type soakSample struct {
	At         time.Duration
	RSS        int64
	Goroutines int
	Requests   int64
}

type soakResult struct {
	Samples          []soakSample
	Requests         int64
	ByStatus         map[int]int64
	Unexpected5xx    int64 // 5xx outside injected outages
	FaultWindow5xx   int64
	TransportErrors  int64
	RSSGrowth        float64 // last third vs first third (after warm-up)
	GoroutineGrowth  float64
	FirstRSS, MaxRSS int64
}

func soak(o soakOptions, out io.Writer) (bool, error) {
	bin := o.usersvc
	if bin == "" {
		var cleanup func()
		var err error
		if bin, cleanup, err = buildUsersvc(); err != nil {
			return false, err
		}
		defer cleanup()
	}
	iss, err := issuer.New()
	if err != nil {
		return false, err
	}
	defer iss.Close()
	// The population is bounded and resolved before the measured window (see
	// prewarm), so memory growth can only be a leak, not new data.
	org := oktaapi.NewServer(oktaapi.WithSSWSToken("00soak"), oktaapi.WithRateLimits(1_000_000, 1_000_000))
	defer org.Close()
	const (
		oktaPeople = 600  // resolved from Okta, then graph hits
		strangers  = 2000 // not in Okta: negative cache, re-asked as entries expire
	)
	for i := range oktaPeople {
		email := fmt.Sprintf("o%06d@example.com", i)
		login := email
		if i%2 == 1 {
			login = fmt.Sprintf("o%06d", i)
		}
		org.AddUsers(oktaapi.NewUser(fmt.Sprintf("00u%06d", i), login, email, "O", strconv.Itoa(i), "ACTIVE"))
	}
	dir, err := os.MkdirTemp("", "soak")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(dir)
	catalog := schema.Catalog{}
	for i := range 20 {
		catalog.Tables = append(catalog.Tables, schema.TableRecord{Key: fmt.Sprintf("hive://gold.soak/t%02d", i), Database: "hive", Cluster: "gold", Schema: "soak", Name: fmt.Sprintf("t%02d", i)})
	}
	catFile := filepath.Join(dir, "catalog.json")
	data, _ := json.Marshal(catalog)
	if err := os.WriteFile(catFile, data, 0o600); err != nil {
		return false, err
	}
	svcAddr, err := freeAddr()
	if err != nil {
		return false, err
	}
	metricsAddr, err := freeAddr()
	if err != nil {
		return false, err
	}
	svc, err := start(bin, nil, []string{
		"LISTEN_ADDR=" + svcAddr, "METRICS_ADDR=" + metricsAddr, "NEGATIVE_CACHE_TTL=2m",
		"FLASK_OIDC_CONFIG_URL=" + iss.DiscoveryURL(), "OIDC_AUDIENCE=" + issuer.Audience,
		"OKTA_CLIENT_ORGURL=" + org.URL(), "OKTA_CLIENT_TOKEN=00soak", "OKTA_TESTING_DISABLE_HTTPS_CHECK=true",
		"EMBEDDED_DB_PATH=" + filepath.Join(dir, "usersvc.db"), "EMBEDDED_CATALOG_FILE=" + catFile,
	}, svcAddr, nil)
	if err != nil {
		return false, err
	}
	defer svc.stop()
	base := "http://" + svcAddr
	if err := waitReady(base); err != nil {
		return false, err
	}
	token, err := issuer.SignToken(iss.Keys()[0], iss.Claims(time.Now().Add(o.duration+time.Hour), "soak@example.com"), true)
	if err != nil {
		return false, err
	}
	bearer := "Bearer " + token
	const known = 100
	for i := range known {
		body := fmt.Sprintf(`{"email":"k%03d@example.com","first_name":"K","last_name":"%d"}`, i, i)
		if code, err := do(http.MethodPut, base+"/user", bearer, body); err != nil || code >= 300 {
			return false, fmt.Errorf("seeding: %d %v", code, err)
		}
	}

	if err := prewarm(base, bearer, oktaPeople, strangers); err != nil {
		return false, err
	}

	var (
		inFault atomic.Bool
		res     = soakResult{ByStatus: map[int]int64{}}
		mu      sync.Mutex
	)
	record := func(code int, faultWindow bool) {
		mu.Lock()
		defer mu.Unlock()
		res.Requests++
		res.ByStatus[code]++
		switch {
		case code == http.StatusNotFound:
			// strangers: the expected answer
		case code == 0:
			res.TransportErrors++
		case code >= 500 && faultWindow:
			res.FaultWindow5xx++
		case code >= 500:
			res.Unexpected5xx++
		}
	}
	client := newClient(16)
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(o.duration)
	start := time.Now()
	stop := make(chan struct{})

	// Okta outages on a schedule; a request counts as inside one while it
	// started during it or within the lookup deadline after it.
	go func() {
		t := time.NewTicker(o.faultEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				inFault.Store(true)
				org.FailNext(1<<30, http.StatusInternalServerError)
				time.Sleep(o.faultFor)
				org.FailNext(0, 0)
				time.Sleep(3 * time.Second)
				inFault.Store(false)
			}
		}
	}()

	var wg sync.WaitGroup
	interval := time.Second / time.Duration(max(o.rate, 1))
	ticks := time.NewTicker(interval)
	defer ticks.Stop()
	jobs := make(chan struct{}, 64)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
			for range jobs {
				fault := inFault.Load()
				var req *http.Request
				switch p := rng.IntN(100); {
				case p < 70: // known user, the frontend's hot path
					req, _ = http.NewRequest(http.MethodGet, fmt.Sprintf("%s/user/k%03d@example.com", base, rng.IntN(known)), nil)
				case p < 73: // someone resolved from Okta earlier
					req, _ = http.NewRequest(http.MethodGet, fmt.Sprintf("%s/user/o%06d@example.com", base, rng.IntN(oktaPeople)), nil)
				case p < 75: // someone Okta does not know: negative cache, or Okta again once it expires
					req, _ = http.NewRequest(http.MethodGet, fmt.Sprintf("%s/user/stranger%05d@example.com", base, rng.IntN(strangers)), nil)
				case p < 82:
					req, _ = http.NewRequest(http.MethodGet, fmt.Sprintf("%s/user/k%03d@example.com/follow/", base, rng.IntN(known)), nil)
				case p < 90:
					method := http.MethodPut
					if rng.IntN(2) == 0 {
						method = http.MethodDelete
					}
					req, _ = http.NewRequest(method, fmt.Sprintf("%s/user/k%03d@example.com/follow/table/hive://gold.soak/t%02d", base, rng.IntN(known), rng.IntN(20)), nil)
				default:
					req, _ = http.NewRequest(http.MethodPut, base+"/user", strings.NewReader(fmt.Sprintf(`{"email":"k%03d@example.com","team_name":"T%d"}`, rng.IntN(known), rng.IntN(10))))
				}
				req.Header.Set("Authorization", bearer)
				code := 0
				if resp, err := client.Do(req); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					code = resp.StatusCode
				}
				record(code, fault || inFault.Load())
			}
		}()
	}

	sampleTicker := time.NewTicker(o.sampleEvery)
	defer sampleTicker.Stop()
	sample := func() {
		rss, _ := procStatus(svc.cmd.Process.Pid, "VmRSS")
		mu.Lock()
		n := res.Requests
		mu.Unlock()
		res.Samples = append(res.Samples, soakSample{At: time.Since(start).Round(time.Second), RSS: rss, Goroutines: goroutines(metricsAddr), Requests: n})
	}
loop:
	for time.Now().Before(deadline) {
		select {
		case <-ticks.C:
			select {
			case jobs <- struct{}{}:
			default: // workers saturated: skip rather than queue without bound
			}
		case <-sampleTicker.C:
			sample()
		case <-time.After(time.Until(deadline)):
			break loop
		}
	}
	close(jobs)
	wg.Wait()
	close(stop)
	sample()
	return soakReport(out, o, &res), nil
}

// prewarm resolves every person and stranger once, so the measured window
// starts with all data in place.
func prewarm(base, bearer string, people, strangers int) error {
	client := newClient(32)
	defer client.CloseIdleConnections()
	paths := make(chan string)
	errc := make(chan error, 32)
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range paths {
				req, _ := http.NewRequest(http.MethodGet, base+p, nil)
				req.Header.Set("Authorization", bearer)
				resp, err := client.Do(req)
				if err != nil {
					errc <- err
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotFound {
					errc <- fmt.Errorf("prewarm %s: %d", p, resp.StatusCode)
				}
			}
		}()
	}
	for i := range people {
		paths <- fmt.Sprintf("/user/o%06d@example.com", i)
	}
	for i := range strangers {
		paths <- fmt.Sprintf("/user/stranger%05d@example.com", i)
	}
	close(paths)
	wg.Wait()
	close(errc)
	return <-errc
}

// goroutines scrapes go_goroutines from the service's metrics listener.
func goroutines(metricsAddr string) int {
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return int(n)
		}
	}
	return -1
}

func soakReport(out io.Writer, o soakOptions, r *soakResult) bool {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(out, "soak: %s at %d req/s, Okta outage of %s every %s\n", o.duration, o.rate, o.faultFor, o.faultEvery)
	fmt.Fprintln(tw, "at\trequests\tRSS MB\tgoroutines\t")
	for _, s := range r.Samples {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%d\t\n", s.At, s.Requests, float64(s.RSS)/(1<<20), s.Goroutines)
	}
	_ = tw.Flush()
	// Growth compares the last third of the samples with the first third
	// after the first minute (warm-up: caches fill, pools grow).
	var warm []soakSample
	for _, s := range r.Samples {
		if s.At >= time.Minute || len(r.Samples) < 6 {
			warm = append(warm, s)
		}
	}
	third := max(len(warm)/3, 1)
	avg := func(ss []soakSample, f func(soakSample) float64) float64 {
		total := 0.0
		for _, s := range ss {
			total += f(s)
		}
		return total / float64(len(ss))
	}
	rss := func(s soakSample) float64 { return float64(s.RSS) }
	gor := func(s soakSample) float64 { return float64(s.Goroutines) }
	if len(warm) >= 2 {
		r.RSSGrowth = avg(warm[len(warm)-third:], rss)/avg(warm[:third], rss) - 1
		r.GoroutineGrowth = avg(warm[len(warm)-third:], gor) - avg(warm[:third], gor)
	}
	fmt.Fprintf(out, "\nrequests %d, by status %v, transport errors %d\n", r.Requests, r.ByStatus, r.TransportErrors)
	checks := []struct {
		name string
		ok   bool
		got  string
	}{
		{"no 5xx outside injected Okta outages", r.Unexpected5xx == 0, fmt.Sprintf("%d (in outages: %d)", r.Unexpected5xx, r.FaultWindow5xx)},
		{"no transport errors", r.TransportErrors == 0, strconv.FormatInt(r.TransportErrors, 10)},
		{"RSS flat (last vs first third after warm-up, < 15%)", r.RSSGrowth < 0.15, fmt.Sprintf("%+.1f%%", 100*r.RSSGrowth)},
		{"goroutines flat (< +10)", r.GoroutineGrowth < 10, fmt.Sprintf("%+.1f", r.GoroutineGrowth)},
	}
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\ncheck\tmeasured\tresult")
	pass := true
	for _, c := range checks {
		v := "PASS"
		if !c.ok {
			v, pass = "FAIL", false
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.name, c.got, v)
	}
	_ = tw.Flush()
	return pass
}
