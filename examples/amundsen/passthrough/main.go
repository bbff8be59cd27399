// Command passthrough is `make run-passthrough`: usersvc in pass-through
// mode in front of Amundsen's real metadata service, both on one real
// Neo4j, all on loopback.
//
//   - Neo4j Community, embedded in a JVM (testsupport/neo4jserver; its jars
//     come from Maven Central on first use), seeded with the example
//     catalog (examples/catalog.json) by usersvc's own catalog loader;
//   - Amundsen's metadata service, amundsen-metadata 3.13.0 under gunicorn,
//     from a pinned virtualenv (testsupport/amundsen; built from PyPI on
//     first use);
//   - the usersvc binary (built by `make build`), which serves the user API
//     and passes every other metadata route to Amundsen, so one base URL
//     serves both. Auth is off, so everything binds loopback only.
//
// Each request Amundsen's service receives is printed as it saw it (the
// target as it arrived, and the Flask route that took it). Ctrl-C or
// SIGTERM stops usersvc, then Amundsen, then Neo4j.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	usersvcneo4j "github.com/usersvc/usersvc/proxy/neo4j"
	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/amundsen"
	"github.com/usersvc/usersvc/testsupport/neo4jserver"
)

func main() {
	bin := flag.String("usersvc", "bin/usersvc", "the usersvc binary to run (make build)")
	listen := flag.String("listen", "127.0.0.1:5002", "usersvc's LISTEN_ADDR")
	metrics := flag.String("metrics", "127.0.0.1:9102", "usersvc's METRICS_ADDR")
	catalog := flag.String("catalog", "examples/catalog.json", "catalog loaded into Neo4j before Amundsen starts")
	directory := flag.String("directory", "examples/directory.json", "usersvc's DIRECTORY_FILE")
	flag.Parse()
	exitWithParent()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err := run(ctx, *bin, *listen, *metrics, *catalog, *directory)
	switch {
	case err != nil && ctx.Err() != nil:
		say("interrupted while starting; everything started is stopped")
	case err != nil:
		fmt.Fprintln(os.Stderr, "run-passthrough:", err)
		os.Exit(1)
	default:
		say("stopped")
	}
}

func say(format string, args ...any) { fmt.Printf("run-passthrough: "+format+"\n", args...) }

func run(ctx context.Context, bin, listen, metrics, catalogFile, directory string) error {
	for _, f := range []string{bin, catalogFile, directory} {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("%w (run from the repository root, after make build)", err)
		}
	}
	cat, err := schema.ReadCatalogFile(catalogFile)
	if err != nil {
		return err
	}
	began := time.Now()

	say("starting Neo4j (the first start fetches its jars from Maven Central)")
	// The series is $USERSVC_NEO4J_VERSION (the Makefile's NEO4J_VERSION),
	// else 5.26.
	srv, err := neo4jserver.Start(ctx, neo4jserver.Options{})
	if err != nil {
		return err
	}
	defer func() { say("stopping Neo4j"); srv.Stop() }()
	say("Neo4j %s on %s", srv.Version, srv.URI)

	if err := loadCatalog(ctx, srv, cat); err != nil {
		return fmt.Errorf("load %s into Neo4j: %w", catalogFile, err)
	}
	say("%s loaded into Neo4j (%d tables, %d dashboards, %d features, %d reads)",
		catalogFile, len(cat.Tables), len(cat.Dashboards), len(cat.Features), len(cat.Reads))

	say("starting Amundsen's metadata service (the first start builds its virtualenv from PyPI)")
	m, err := amundsen.StartMetadata(ctx, amundsen.Options{Neo4jURI: srv.URI, User: srv.User, Password: srv.Password})
	if err != nil {
		return err
	}
	defer func() { say("stopping Amundsen's metadata service"); m.Stop() }()
	say("Amundsen's metadata service (amundsen-metadata 3.13.0) on %s", m.URL)

	bolt, err := url.Parse(srv.URI) // bolt://127.0.0.1:PORT
	if err != nil {
		return err
	}
	u, err := startUsersvc(bin,
		"LISTEN_ADDR="+listen, "METRICS_ADDR="+metrics, "LOG_FORMAT=text",
		"AUTH_DISABLED=true", "FLASK_OIDC_CONFIG_URL=",
		"PROXY_CLIENT=neo4j", "PROXY_HOST="+bolt.Scheme+"://"+bolt.Hostname(), "PROXY_PORT="+bolt.Port(),
		"CREDENTIALS_PROXY_USER="+srv.User, "CREDENTIALS_PROXY_PASSWORD="+srv.Password,
		"METADATA_UPSTREAM_URL="+m.URL, "DIRECTORY_FILE="+directory)
	if err != nil {
		return err
	}
	defer u.stop()
	if err := u.waitReady(ctx, "http://"+listen+"/readyz"); err != nil {
		return err
	}
	say("everything up in %s", time.Since(began).Round(100*time.Millisecond))
	printCalls(listen, srv.Version)

	go printRoutes(ctx, m, len(mustRoutes(m)))
	select {
	case <-ctx.Done():
		fmt.Println()
		say("signal received; stopping usersvc, Amundsen's metadata service and Neo4j")
		return nil
	case <-u.done:
		return fmt.Errorf("usersvc exited: %v", u.cmd.ProcessState)
	}
}

// loadCatalog writes the catalog with usersvc's Neo4j store, as databuilder
// would publish it (Database, Cluster, Schema, Table, Description nodes,
// dashboards, features, READ/READ_BY edges).
func loadCatalog(ctx context.Context, srv *neo4jserver.Server, c schema.Catalog) error {
	s, err := usersvcneo4j.Open(usersvcneo4j.Config{URI: srv.URI, Username: srv.User, Password: srv.Password})
	if err != nil {
		return err
	}
	defer s.Close()
	return s.LoadCatalog(ctx, c)
}

type usersvc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// startUsersvc runs bin with the demo's environment added to this
// process's (the demo's settings win), output to this terminal.
func startUsersvc(bin string, env ...string) (*usersvc, error) {
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	// Its own process group: a Ctrl-C at the terminal reaches the demo,
	// which stops usersvc first. Pdeathsig: the kernel kills it should the
	// thread that started it end, i.e. should the demo die.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	u := &usersvc{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: Pdeathsig watches this thread
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(u.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	return u, nil
}

func (u *usersvc) waitReady(ctx context.Context, url string) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.After(60 * time.Second)
	for {
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-u.done:
			return fmt.Errorf("usersvc exited before it was ready: %v", u.cmd.ProcessState)
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return errors.New("usersvc not ready after 60s")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop sends usersvc SIGTERM (it drains in-flight requests) and kills it
// if it has not exited after 20s.
func (u *usersvc) stop() {
	say("stopping usersvc")
	_ = u.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-u.done:
	case <-time.After(20 * time.Second):
		_ = u.cmd.Process.Kill()
		<-u.done
	}
}

// mustRoutes is what Amundsen's service has received so far (its own
// readiness probe, at first); nil if the log cannot be read.
func mustRoutes(m *amundsen.Metadata) []amundsen.Route {
	routes, _ := m.Routes()
	return routes
}

// printRoutes prints each request Amundsen's metadata service receives
// after the first seen: the target exactly as gunicorn got it and the Flask
// endpoint that took it (amundsen.Metadata.Routes).
func printRoutes(ctx context.Context, m *amundsen.Metadata, seen int) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		routes, err := m.Routes()
		if err != nil || len(routes) < seen {
			continue
		}
		for _, r := range routes[seen:] {
			endpoint := r.Endpoint
			if endpoint == "" {
				endpoint = "no route (404)"
			}
			say("Amundsen received %s %s -> %s", r.Method, r.RawURI, endpoint)
		}
		seen = len(routes)
	}
}

// printCalls prints the demo's calls with what Amundsen 3.13.0 answers
// (metadata_service/api/table.py, api/popular_tables.py, and
// proxy/neo4j_proxy.py); cmd/usersvc's
// TestBinaryOneBaseURLOverAmundsenMetadata checks the same answers on both
// Neo4j series.
func printCalls(listen, neo4jVersion string) {
	tableDetail := "# 500: Amundsen 3.13.0's table query is refused by Neo4j 5 (run on 4.4: NEO4J_VERSION=4.4)"
	if strings.HasPrefix(neo4jVersion, "4.") {
		tableDetail = "# 404: Amundsen finds a table through its columns; the example catalog has none"
	}
	fmt.Printf(`
usersvc on http://%[1]s (auth disabled) in front of Amundsen's metadata
service on Neo4j %[2]s. One base URL for everything; try:

  # usersvc: a person unknown to the graph, resolved from the directory, written to Neo4j
  curl -s %[1]s/user/katherine.johnson@example.com
  curl -s -X PUT %[1]s/user/katherine.johnson@example.com/follow/table/hive://gold.sales/orders
  # Amundsen, the key's "//" untouched: "One row per customer order."
  curl -s %[1]s/table/hive://gold.sales/orders/description
  # Amundsen answers null; it reads the body as JSON only with this Content-Type (curl -d alone: 500)
  curl -s -X PUT -H 'Content-Type: application/json' -d '{"description":"Orders."}' %[1]s/table/hive://gold.sales/orders/description
  curl -s -X PUT %[1]s/table/hive://gold.sales/orders/owner/katherine.johnson@example.com
  # usersvc: the table Amundsen just gave her
  curl -s %[1]s/user/katherine.johnson@example.com/own/
  # Amundsen: [] (a table is popular from 10 distinct readers; the example has 1)
  curl -s %[1]s/popular_tables/
  # Amundsen: 404 "table_uri ... does not exist"
  curl -s -X PUT -H 'Content-Type: application/json' -d '{"description":"x"}' %[1]s/table/hive://gold.sales/nope/description
  %[3]s
  curl -s -o /dev/null -w '%%{http_code}\n' %[1]s/table/hive://gold.sales/orders
  curl -s %[1]s/healthcheck   # usersvc's, with Amundsen's as checks.upstream

Ctrl-C stops usersvc, Amundsen's metadata service and Neo4j.

`, listen, neo4jVersion, tableDetail)
}

// exitWithParent asks the kernel to send this process SIGTERM when its
// parent dies. `go run`, which the Makefile runs, ignores SIGINT (Ctrl-C is
// for the program) but dies of SIGTERM without passing it on, and make
// forwards a SIGTERM to `go run` only: without this, the demo, its JVM and
// its gunicorn would carry on as orphans.
func exitWithParent() {
	ppid := os.Getppid()
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0); errno != 0 {
		return
	}
	if os.Getppid() != ppid { // the parent died before prctl
		_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
	}
}
