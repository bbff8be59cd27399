package amundsen

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Options configure StartMetadata.
type Options struct {
	// Neo4jURI is where Amundsen's Neo4jProxy connects, e.g.
	// bolt://127.0.0.1:7687 (neo4j:// works too; no port means 7687).
	// Nothing connects until a request queries Neo4j, so an unreachable
	// address is fine for routing tests.
	Neo4jURI string
	// User and Password are Neo4j's credentials.
	User, Password string
	// Encrypted asks the neo4j driver for TLS on a bolt:// or neo4j:// URI
	// (Amundsen's LocalConfig defaults to true; false here, for a plain
	// local Neo4j).
	Encrypted bool
	// Workers is gunicorn's --workers; 0 means 1.
	Workers int
	// NoTransactionRetry sets the neo4j driver's max_transaction_retry_time
	// to 0 for the driver Amundsen builds, so managed reads against an
	// unreachable Neo4j fail at once instead of retrying for the driver's
	// default 30 s (which races gunicorn's 30 s worker timeout). Amundsen
	// itself has no such setting: leave it false to see its real timing.
	NoTransactionRetry bool
	// StartTimeout bounds the wait for the first answer; 0 means 60 s.
	StartTimeout time.Duration
}

// Metadata is a running gunicorn serving Amundsen's metadata service.
type Metadata struct {
	// URL is the service's base URL, http://127.0.0.1:PORT.
	URL string
	*gunicornProc
}

// Route is the routing decision metadata_app.py logged for one request that
// carried an X-Usersvc-Probe header: what gunicorn put in the WSGI environ
// and which of Amundsen's Flask rules matched ("" for none). It is logged
// before the view runs, so it is there also when the view raises and
// gunicorn answers its own bare 500 without the X-Amundsen-* headers.
type Route struct {
	Probe    string `json:"probe"`
	Method   string `json:"method"`
	RawURI   string `json:"raw_uri"`
	PathInfo string `json:"path_info"`
	Path     string `json:"path"`
	Endpoint string `json:"endpoint"`
}

// ProbeHeader is the request header whose value keys Route lookups.
const ProbeHeader = "X-Usersvc-Probe"

// Environment variables that would change what metadata_app.py or gunicorn
// run if inherited from the test's environment.
var scrubbed = []string{
	"METADATA_SVC_CONFIG_MODULE_CLASS", "FLASK_APP_MODULE_NAME", "FLASK_APP_CLASS_NAME",
	"FLASK_APP_KWARGS_DICT", "CORS_ENABLED", "SWAGGER_ENABLED", "PROXY_CLIENT", "IS_STATSD_ON",
	"PROXY_VALIDATE_SSL", "GUNICORN_CMD_ARGS", "PYTHONPATH", "PYTHONHOME",
	"USERSVC_NEO4J_MAX_TRANSACTION_RETRY_TIME", "USERSVC_ROUTE_LOG",
}

// StartMetadata builds the virtualenv if needed (EnsureVenv), starts
//
//	gunicorn -c gunicorn_conf.py --bind fd://3 --workers N --access-logfile - metadata_app:app
//
// on a loopback listener it opened itself (so no other process can take the
// port in between), and returns once the service answers. Readiness is
// OPTIONS /healthcheck (Flask answers it from Amundsen's route table without
// touching Neo4j) rather than GET /healthcheck, which queries Neo4j: against
// an unreachable one it answers 503 {"status": "fail"} only after the
// driver's 30 s of retries (or not at all when gunicorn's worker timeout
// fires first). gunicorn runs in its own process group with Pdeathsig, and
// its workers get Pdeathsig from gunicorn_conf.py, so a killed test binary
// leaves nothing behind. Stop ends it.
func StartMetadata(ctx context.Context, opts Options) (*Metadata, error) {
	python, err := EnsureVenv(ctx)
	if err != nil {
		return nil, err
	}
	host, port, err := splitNeo4jURI(opts.Neo4jURI)
	if err != nil {
		return nil, err
	}
	p, err := startGunicorn(ctx, gunicornSpec{
		what: "the Amundsen metadata service", python: python, driver: "metadata_app.py",
		workers: opts.Workers, timeout: opts.StartTimeout,
		env: func(_, dir string) []string {
			env := append(baseEnv(),
				"PROXY_HOST="+host,
				"PROXY_PORT="+port,
				"CREDENTIALS_PROXY_USER="+opts.User,
				"CREDENTIALS_PROXY_PASSWORD="+opts.Password,
				"PROXY_ENCRYPTED="+strconv.FormatBool(opts.Encrypted),
				"USERSVC_ROUTE_LOG="+filepath.Join(dir, "routes.jsonl"),
			)
			if opts.NoTransactionRetry {
				env = append(env, "USERSVC_NEO4J_MAX_TRANSACTION_RETRY_TIME=0")
			}
			return env
		},
		ready: answers(http.MethodOptions, "/healthcheck", "X-Amundsen-Endpoint"),
	})
	if err != nil {
		return nil, err
	}
	return &Metadata{URL: p.url, gunicornProc: p}, nil
}

// Route returns the routing decision logged for the request whose
// X-Usersvc-Probe header was probe.
func (m *Metadata) Route(probe string) (Route, error) {
	f, err := os.Open(filepath.Join(m.dir, "routes.jsonl"))
	if err != nil {
		return Route{}, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var r Route
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return Route{}, fmt.Errorf("route log line %q: %w", sc.Text(), err)
		}
		if r.Probe == probe {
			return r, nil
		}
	}
	if err := sc.Err(); err != nil {
		return Route{}, err
	}
	return Route{}, fmt.Errorf("no request with %s: %s reached the Flask app", ProbeHeader, probe)
}

// splitNeo4jURI turns bolt://host:port into Amundsen's PROXY_HOST
// ("bolt://host") and PROXY_PORT ("port"): Neo4jProxy connects to
// f'{PROXY_HOST}:{PROXY_PORT}'.
func splitNeo4jURI(raw string) (host, port string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("Neo4jURI: %w", err)
	}
	switch u.Scheme {
	case "bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc":
	default:
		return "", "", fmt.Errorf("Neo4jURI %q: want a bolt:// or neo4j:// URI", raw)
	}
	if u.Hostname() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return "", "", fmt.Errorf("Neo4jURI %q: want scheme://host[:port] only", raw)
	}
	port = u.Port()
	if port == "" {
		port = "7687"
	}
	h := u.Hostname()
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	return u.Scheme + "://" + h, port, nil
}
