package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"

	usersvcneo4j "github.com/usersvc/usersvc/proxy/neo4j"
	"github.com/usersvc/usersvc/proxy/proxytest"
	"github.com/usersvc/usersvc/testsupport/neo4jserver"
	"github.com/usersvc/usersvc/testsupport/oidcprovider"
	"github.com/usersvc/usersvc/testsupport/oktaapi"
)

// The production path (issue 31, first rows): usersvc on a real Neo4j
// against Amundsen's own metadata service on the same Neo4j and the same
// graph, and the bare gin handler, on loopback, with the same client, token
// and connections. Opt-in (-neo4j): it needs a JDK (Neo4j is built from
// Maven jars on first use) and python3 <= 3.11 (Amundsen's virtualenv).

// Issue 31's first target: usersvc on Neo4j serves at least this many
// times Amundsen's req/s, at most 1/this of its CPU per request, the Neo4j
// JVM's CPU counted on both sides.
const neoFactor = 10

// neoUser is the person of the token, in the sample graph.
const neoUser = "ada@example.com"

// neoRequests are the requests both services get: the user, and their
// follow, own and read lists (Amundsen metadata's user routes).
var neoRequests = []struct{ Name, Path string }{
	{"user", "/user/" + neoUser},
	{"follow list", "/user/" + neoUser + "/follow/"},
	{"own list", "/user/" + neoUser + "/own/"},
	{"read list", "/user/" + neoUser + "/read/"},
}

// neoSample is one row: a sample whose CPU is the server's plus Neo4j's.
type neoSample struct {
	Request string `json:"request"`
	Path    string `json:"path"`
	sample
	// ServerCPU is the server's share of CPU (usersvc; gunicorn's master
	// and workers; the gin process), Neo4jCPU the JVM's.
	ServerCPU time.Duration `json:"server_cpu_ns"`
	Neo4jCPU  time.Duration `json:"neo4j_cpu_ns"`
}

func (s neoSample) perRequest(d time.Duration) time.Duration {
	if s.Requests == 0 {
		return 0
	}
	return d / time.Duration(s.Requests)
}

// neoCheck is the first target for one request.
type neoCheck struct {
	Request      string  `json:"request"`
	RateRatio    float64 `json:"rate_ratio"`    // usersvc req/s ÷ Amundsen req/s
	CPURatio     float64 `json:"cpu_ratio"`     // usersvc CPU/req ÷ Amundsen CPU/req
	Errors       int     `json:"errors"`        // on either side
	RateOK       bool    `json:"rate_met"`      // RateRatio ≥ neoFactor
	CPUOK        bool    `json:"cpu_met"`       // CPURatio ≤ 1/neoFactor
	ErrorsOK     bool    `json:"no_errors"`     // a row with errors measures nothing
	Neo4jVersion string  `json:"neo4j_version"` // the server both used
	Workers      int     `json:"gunicorn_workers"`
}

// neoResults is what the -neo4j run measured.
type neoResults struct {
	Neo4jVersion string      `json:"neo4j_version"`
	Rounds       int         `json:"rounds"`
	Rows         []neoSample `json:"rows"`
	Checks       []neoCheck  `json:"checks"`
	// GinRatio is usersvc's warm GET /user req/s on Neo4j ÷ the gin
	// handler's, GinCPURatio the same for CPU per request (Neo4j counted).
	GinRatio    float64 `json:"gin_ratio"`
	GinCPURatio float64 `json:"gin_cpu_ratio"`
	// The herd and cold scenarios of the default run, on Neo4j: people the
	// graph does not hold, resolved from the Okta test server.
	HerdRequests  int           `json:"herd_requests"`
	HerdOK        int           `json:"herd_200"`
	HerdOktaCalls int           `json:"herd_okta_calls"`
	HerdNodes     int64         `json:"herd_user_nodes"`
	Cold          resolveResult `json:"cold"`
	ColdOktaCalls int           `json:"cold_okta_calls"`
	ColdNodes     int64         `json:"cold_user_nodes"`
	Directory     resolveResult `json:"directory"`
}

// neoGinFactor is issue 31's second target: usersvc's warm GET /user on
// Neo4j reaches this share of the bare gin handler's req/s.
const neoGinFactor = 0.85

// cpuParts is the last measurement of a neoMeter, split.
type cpuParts struct{ server, neo4j time.Duration }

// neoMeter measures server plus the JVM jvmPID, and leaves the split in parts.
func neoMeter(server cpuMeter, jvmPID int, parts *cpuParts) cpuMeter {
	return func() (func() (time.Duration, error), error) {
		stopServer, err := server()
		if err != nil {
			return nil, err
		}
		stopJVM, err := pidMeter(jvmPID)()
		if err != nil {
			return nil, err
		}
		return func() (time.Duration, error) {
			s, err := stopServer()
			if err != nil {
				return 0, err
			}
			n, err := stopJVM()
			if err != nil {
				return 0, err
			}
			*parts = cpuParts{s, n}
			return s + n, nil
		}, nil
	}
}

// seedNeo4jGraph writes the sample graph both services read: the catalog
// of proxy/proxytest (tables, a dashboard, read edges) through usersvc's
// catalog loader, and the people as databuilder's User model writes them
// (keyed by email, MANAGE_BY/MANAGE), the token's person following a table
// and a dashboard, owning a table and reading one, in both directions.
func seedNeo4jGraph(ctx context.Context, srv *neo4jserver.Server, d neo4j.DriverWithContext) error {
	loader, err := usersvcneo4j.Open(usersvcneo4j.Config{URI: srv.URI, Username: srv.User, Password: srv.Password})
	if err != nil {
		return err
	}
	defer loader.Close()
	if err := loader.LoadCatalog(ctx, proxytest.Catalog()); err != nil {
		return fmt.Errorf("load the catalog: %w", err)
	}
	_, err = neo4j.ExecuteQuery(ctx, d, `CREATE (boss:User {key: $boss, email: $boss, first_name: 'Charles', last_name: 'Babbage',
  full_name: 'Charles Babbage', is_active: true, published_tag: 'loadgen'})
CREATE (u:User {key: $user, email: $user, user_id: $user, first_name: 'Ada', last_name: 'Lovelace', full_name: 'Ada Lovelace',
  display_name: 'Ada Lovelace', team_name: 'Data', role_name: 'Analyst', manager_email: $boss, is_active: true,
  published_tag: 'loadgen'})
CREATE (u)-[:MANAGE_BY]->(boss), (boss)-[:MANAGE]->(u)
WITH u
MATCH (o:Table {key: $orders}), (a:Table {key: $accounts}), (e:Table {key: $events}), (s:Dashboard {key: $sales})
CREATE (u)-[:FOLLOW]->(o), (o)-[:FOLLOWED_BY]->(u),
  (u)-[:FOLLOW]->(s), (s)-[:FOLLOWED_BY]->(u),
  (u)-[:OWNER_OF]->(a), (a)-[:OWNER]->(u),
  (u)-[:READ {read_count: 5, published_tag: 'loadgen'}]->(e), (e)-[:READ_BY {read_count: 5, published_tag: 'loadgen'}]->(u)`,
		map[string]any{"boss": "charles@example.com", "user": neoUser, "orders": proxytest.TableOrders,
			"accounts": proxytest.TableAccounts, "events": proxytest.TableEvents, "sales": proxytest.DashboardSales},
		neo4j.EagerResultTransformer)
	if err != nil {
		return fmt.Errorf("seed the people: %w", err)
	}
	return nil
}

// runNeo4j measures the production path. Everything it starts is stopped
// before it returns, on error too.
func runNeo4j(o options) (neoResults, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute) // builds, starts and seeding
	defer cancel()
	bin := o.usersvc
	if bin == "" {
		var cleanup func()
		var err error
		if bin, cleanup, err = buildUsersvc(); err != nil {
			return neoResults{}, err
		}
		defer cleanup()
	}
	var jvmFlags []string
	if o.neoJVMFlags != "" {
		jvmFlags = strings.Split(o.neoJVMFlags, ",")
	}
	// A JVM of its own even when NEO4J_TEST_URI names a server: an
	// external server's CPU cannot be counted.
	srv, err := neo4jserver.StartLocal(ctx, neo4jserver.Options{Version: o.neoVersion, JVMFlags: jvmFlags})
	if err != nil {
		return neoResults{}, err
	}
	defer srv.Stop()
	// The harness's own driver: seeding and counting nodes.
	d, err := neo4j.NewDriverWithContext(srv.URI, neo4j.BasicAuth(srv.User, srv.Password, ""))
	if err != nil {
		return neoResults{}, err
	}
	defer d.Close(context.WithoutCancel(ctx))
	if err := seedNeo4jGraph(ctx, srv, d); err != nil {
		return neoResults{}, err
	}

	prov, err := oidcprovider.Run()
	if err != nil {
		return neoResults{}, err
	}
	defer prov.Stop()
	hour := time.Hour
	token, err := prov.MintToken(oidcprovider.TokenOptions{Subject: "00uada", Email: neoUser,
		Groups: []string{"Everyone", "amundsen-users", "data-platform"}, Scopes: []string{"openid", "profile", "email"},
		ClientID: "0oaamundsenfrontend", ExpiresIn: &hour})
	if err != nil {
		return neoResults{}, err
	}
	bearer := "Bearer " + token
	// The token's person is in the graph, so the warm rows never ask the
	// directory; the herd and cold people are only in the directory.
	org := oktaapi.NewServer(oktaapi.WithSSWSToken("00loadgen"))
	defer org.Close()
	addFirstRequestPeople(org, o.cold)

	dir, err := os.MkdirTemp("", "loadgen-neo4j")
	if err != nil {
		return neoResults{}, err
	}
	defer os.RemoveAll(dir)
	addr, err := freeAddr()
	if err != nil {
		return neoResults{}, err
	}
	metrics, err := freeAddr()
	if err != nil {
		return neoResults{}, err
	}
	bolt := strings.TrimPrefix(srv.URI, "bolt://")
	env := []string{
		"LISTEN_ADDR=" + addr, "METRICS_ADDR=" + metrics, "LOG_LEVEL=info",
		"OKTA_CLIENT_ORGURL=" + org.URL(), "OKTA_CLIENT_TOKEN=00loadgen", "OKTA_TESTING_DISABLE_HTTPS_CHECK=true",
		"PROXY_HOST=bolt://127.0.0.1", "PROXY_PORT=" + bolt[strings.LastIndex(bolt, ":")+1:],
		"CREDENTIALS_PROXY_USER=" + srv.User, "CREDENTIALS_PROXY_PASSWORD=" + srv.Password,
		"FLASK_OIDC_CONFIG_URL=" + prov.DiscoveryURL(), "OIDC_AUDIENCE=api://default",
	}
	if o.cpuProfile != "" {
		env = append(env, "PPROF_ENABLED=true")
	}
	if o.serviceEnv != "" {
		env = append(env, strings.Split(o.serviceEnv, ",")...)
	}
	// Logs to a regular file at info, as the representative warm row.
	logFile, err := os.OpenFile(filepath.Join(dir, "usersvc.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return neoResults{}, err
	}
	svc, err := start(bin, nil, env, addr, logFile)
	logFile.Close() // the child holds its own descriptor
	if err != nil {
		return neoResults{}, err
	}
	defer svc.stop()
	svcURL := "http://" + addr
	if err := waitReady(svcURL); err != nil {
		return neoResults{}, err
	}

	meta, err := startMetadata(ctx, srv, o.neoWorkers, o.neoDebug, dir)
	if err != nil {
		return neoResults{}, err
	}
	defer meta.stop()

	base, baseAddr, err := startBaseline()
	if err != nil {
		return neoResults{}, err
	}
	defer base.stop()

	// The rows: each request on usersvc and on Amundsen, and the gin
	// handler. They run in rounds, each round starting one row later than
	// the one before, so a noisy moment of the shared machine, or what runs
	// right after what, falls on every row alike.
	type row struct {
		request, path, name, url string
		meter                    cpuMeter
		rssPid                   int
		parts                    *cpuParts
	}
	amundsenName := fmt.Sprintf("Amundsen metadata (gunicorn -w %d, %s) on Neo4j", o.neoWorkers, amundsenConfig(o.neoDebug))
	var rows []*row
	for _, q := range neoRequests {
		u := &row{request: q.Name, path: q.Path, name: "usersvc on Neo4j", url: svcURL, rssPid: svc.pid(), parts: &cpuParts{}}
		u.meter = neoMeter(pidMeter(svc.pid()), srv.PID, u.parts)
		a := &row{request: q.Name, path: q.Path, name: amundsenName, url: meta.url, parts: &cpuParts{}}
		a.meter = neoMeter(treeMeter(meta.pid), srv.PID, a.parts)
		rows = append(rows, u, a)
	}
	gin := &row{request: neoRequests[0].Name, path: neoRequests[0].Path, name: "baseline gin (no Neo4j)", url: "http://" + baseAddr,
		meter: pidMeter(base.pid()), rssPid: base.pid()}
	rows = append(rows, gin)

	// Each service answers each request with 200 before anything is
	// measured.
	for _, rw := range rows[:len(rows)-1] {
		code, body, err := get(rw.url+rw.path, bearer)
		if err != nil || code != http.StatusOK {
			return neoResults{}, fmt.Errorf("%s: GET %s: %d %v %.300s", rw.name, rw.path, code, err, body)
		}
	}
	// Warm-up: pools, caches, the JVM's compiler.
	for _, rw := range rows {
		if _, err := loadWith("warm-up", rw.url+rw.path, bearer, rw.meter, 0, o.conns, time.Second, o.maxRequests); err != nil {
			return neoResults{}, err
		}
	}

	rounds := max(o.neoRounds, 1)
	per := o.neoDuration / time.Duration(rounds)
	samples := make([][]sample, len(rows))
	server, neo := make([]time.Duration, len(rows)), make([]time.Duration, len(rows))
	for round := range rounds {
		for k := range rows {
			i := (k + round) % len(rows)
			rw := rows[i]
			m, err := loadWith(rw.name, rw.url+rw.path, bearer, rw.meter, rw.rssPid, o.conns, per, o.maxRequests)
			if err != nil {
				return neoResults{}, err
			}
			samples[i] = append(samples[i], m)
			if rw.parts != nil {
				server[i] += rw.parts.server
				neo[i] += rw.parts.neo4j
			} else {
				server[i] += m.CPU
			}
		}
	}
	r := neoResults{Neo4jVersion: srv.Version, Rounds: rounds}
	for i, rw := range rows {
		r.Rows = append(r.Rows, neoSample{Request: rw.request, Path: rw.path, sample: merge(samples[i]), ServerCPU: server[i], Neo4jCPU: neo[i]})
	}
	r.Checks = neoChecks(r.Rows, srv.Version, o.neoWorkers)
	if u, g := r.Rows[0], r.Rows[len(r.Rows)-1]; g.rate() > 0 && g.cpuPerRequest() > 0 {
		r.GinRatio = u.rate() / g.rate()
		r.GinCPURatio = float64(u.cpuPerRequest()) / float64(g.cpuPerRequest())
	}

	if o.cpuProfile != "" {
		// A load of its own after the rows, so the profiler's overhead never
		// touches the figures (-service-env GRAPH_CACHE_TTL=0 profiles the
		// reads Neo4j answers).
		profile := make(chan error, 1)
		go func() { profile <- fetchProfile(metrics, 5, o.cpuProfile) }()
		if _, err := load("profiled", svcURL+neoRequests[0].Path, bearer, svc.pid(), o.conns, 5*time.Second, o.maxRequests); err != nil {
			return neoResults{}, err
		}
		if err := <-profile; err != nil {
			return neoResults{}, fmt.Errorf("cpu profile: %w", err)
		}
	}

	// The herd: concurrent first requests for one person the graph does not
	// hold make one directory lookup and one node.
	r.HerdRequests = o.herd
	r.HerdOK, r.HerdOktaCalls = herdScenario(org, svcURL, bearer, o.herd)
	if r.HerdNodes, err = countUserNodes(ctx, d, herdEmail); err != nil {
		return neoResults{}, err
	}
	// Cold resolution, each person written to Neo4j as one node.
	r.Cold, r.ColdOktaCalls, r.Directory = coldScenario(org, svcURL, bearer, o)
	if r.ColdNodes, err = countUserNodes(ctx, d, "cold%"); err != nil {
		return neoResults{}, err
	}
	return r, nil
}

// countUserNodes counts the (:User) nodes whose key is like pattern (a
// trailing % matches any rest).
func countUserNodes(ctx context.Context, d neo4j.DriverWithContext, pattern string) (int64, error) {
	prefix, wild := strings.CutSuffix(pattern, "%")
	q := "MATCH (u:User) WHERE u.key = $p RETURN count(u)"
	if wild {
		q = "MATCH (u:User) WHERE u.key STARTS WITH $p RETURN count(u)"
	}
	res, err := neo4j.ExecuteQuery(ctx, d, q, map[string]any{"p": prefix}, neo4j.EagerResultTransformer)
	if err != nil {
		return 0, err
	}
	n, _ := res.Records[0].Values[0].(int64)
	return n, nil
}

// neoChecks pairs usersvc's and Amundsen's rows of each request (rows in
// the order runNeo4j makes them: for each request, usersvc then Amundsen).
func neoChecks(rows []neoSample, version string, workers int) []neoCheck {
	var out []neoCheck
	for i := 0; i+1 < len(rows); i += 2 {
		u, a := rows[i], rows[i+1]
		if u.Request != a.Request || strings.HasPrefix(u.Name, "baseline") || strings.HasPrefix(a.Name, "baseline") {
			break
		}
		c := neoCheck{Request: u.Request, Errors: u.Errors + a.Errors, Neo4jVersion: version, Workers: workers}
		if ar := a.rate(); ar > 0 {
			c.RateRatio = u.rate() / ar
		}
		if ac := a.cpuPerRequest(); ac > 0 {
			c.CPURatio = float64(u.cpuPerRequest()) / float64(ac)
		}
		c.RateOK = c.RateRatio >= neoFactor
		c.CPUOK = c.CPURatio > 0 && c.CPURatio <= 1.0/neoFactor
		c.ErrorsOK = c.Errors == 0
		out = append(out, c)
	}
	return out
}

// get sends one GET and returns its status and (the start of) its body.
func get(url, bearer string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", bearer)
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(body), nil
}

// reportNeo4j prints the rows and the first target of issue 31; it returns
// whether every check passed.
func reportNeo4j(out io.Writer, o options, r neoResults) bool {
	fmt.Fprintf(out, "production path: Neo4j %s (JVM CPU counted on both services' rows), %d connections, %s per row in %d alternating rounds, same client and token\n",
		r.Neo4jVersion, o.conns, o.neoDuration, r.Rounds)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "request\tserver\treq/s\tp50\tp99\terrors\tCPU µs/req\tof it server\tof it Neo4j\t")
	for _, s := range r.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%s\t%d\t%s\t%s\t%s\t\n", s.Request, s.Name, s.rate(),
			s.P50.Round(time.Microsecond), s.P99.Round(time.Microsecond), s.Errors,
			µs(s.cpuPerRequest()), µs(s.perRequest(s.ServerCPU)), µs(s.perRequest(s.Neo4jCPU)))
	}
	_ = tw.Flush()
	fmt.Fprintln(out)
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "target (issue 31)\tmeasured\tresult")
	pass := len(r.Checks) > 0
	verdict := func(ok bool) string {
		if !ok {
			pass = false
			return "MISSED"
		}
		return "met"
	}
	for _, c := range r.Checks {
		fmt.Fprintf(tw, "%s: usersvc req/s >= %dx Amundsen's\t%.2fx\t%s\n", c.Request, neoFactor, c.RateRatio, verdict(c.RateOK))
		fmt.Fprintf(tw, "%s: usersvc CPU/req <= 1/%d of Amundsen's (Neo4j counted)\t%.3fx\t%s\n", c.Request, neoFactor, c.CPURatio, verdict(c.CPUOK))
		fmt.Fprintf(tw, "%s: no errors on either side\t%d\t%s\n", c.Request, c.Errors, verdict(c.ErrorsOK))
	}
	fmt.Fprintf(tw, "user: usersvc on Neo4j req/s >= %.2fx the gin handler's (2nd)\t%.3fx (CPU/req %.2fx)\t%s\n",
		neoGinFactor, r.GinRatio, r.GinCPURatio, verdict(r.GinRatio >= neoGinFactor))
	fmt.Fprintf(tw, "herd on Neo4j: all %d answered 200\t%d\t%s\n", r.HerdRequests, r.HerdOK, verdict(r.HerdOK == r.HerdRequests))
	fmt.Fprintf(tw, "herd on Neo4j: 1 Okta lookup (GET by login + the shared-email search)\t%d calls\t%s\n", r.HerdOktaCalls, verdict(r.HerdOktaCalls == 2))
	fmt.Fprintf(tw, "herd on Neo4j: 1 User node\t%d\t%s\n", r.HerdNodes, verdict(r.HerdNodes == 1))
	fmt.Fprintf(tw, "cold on Neo4j: all %d 200, one lookup (2 calls) and one node each\t%d ok, %d calls, %d nodes\t%s\n",
		o.cold, r.Cold.OK, r.ColdOktaCalls, r.ColdNodes,
		verdict(r.Cold.OK == o.cold && r.ColdOktaCalls == 2*o.cold && r.ColdNodes == int64(o.cold)))
	fmt.Fprintf(tw, "cold on Neo4j: p99 <= directory p99 + %s\t%s (directory %s, limit %s)\t%s\n", coldMargin,
		r.Cold.P99.Round(10*time.Microsecond), r.Directory.P99.Round(10*time.Microsecond), (r.Directory.P99 + coldMargin).Round(10*time.Microsecond),
		verdict(r.Directory.OK == o.cold && r.Cold.P99 <= r.Directory.P99+coldMargin))
	_ = tw.Flush()
	return pass
}

// mainNeo4j is the -neo4j mode: exit 2 on a harness error, 1 when a target
// is missed.
func mainNeo4j(o options) {
	started := time.Now()
	r, err := runNeo4j(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	finish(o, reportNeo4j(os.Stdout, o, r), func() chart { return neoChart(o, r, started) }, r)
}

// amundsenConfig names the metadata service's configuration in the rows.
func amundsenConfig(debug bool) string {
	if debug {
		return "LocalConfig as shipped"
	}
	return "debug off"
}
