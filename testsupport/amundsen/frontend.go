package amundsen

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// frontendVenv is Amundsen's frontend service (amundsen-frontend,
// requirements-frontend.txt).
var frontendVenv = venv{"frontend-venv", "requirements-frontend.txt",
	"import gunicorn, amundsen_application, amundsen_application.oidc_config, amundsen_application.api.metadata.v0",
	"amundsen-frontend"}

// FrontendVenvDir is where EnsureFrontendVenv keeps its virtualenv:
// os.UserCacheDir()/usersvc/frontend-venv-<hash of
// requirements-frontend.txt>.
func FrontendVenvDir() (string, error) { return frontendVenv.dir() }

// EnsureFrontendVenv is EnsureVenv for the frontend virtualenv
// (requirements-frontend.txt).
func EnsureFrontendVenv(ctx context.Context) (python string, err error) {
	return frontendVenv.ensure(ctx)
}

// FrontendOptions configure StartFrontend.
type FrontendOptions struct {
	// MetadataURL is the frontend's METADATASERVICE_BASE: where it sends
	// every metadata call (usersvc's base URL, no trailing slash).
	MetadataURL string
	// Workers is gunicorn's --workers; 0 means 1.
	Workers int
	// RequestTimeout is the frontend's REQUEST_SESSION_TIMEOUT_SEC, its
	// timeout for each call to the metadata service, in whole seconds; 0
	// keeps Amundsen's default, 3 s (which Amundsen's own first table read
	// on a cold Neo4j 4.4 can exceed on a 2-core machine).
	RequestTimeout time.Duration
	// StartTimeout bounds the wait for the first answer; 0 means 60 s.
	StartTimeout time.Duration
}

// Frontend is a running gunicorn serving Amundsen's frontend Flask app
// (frontend_app.py).
type Frontend struct {
	// URL is the frontend's base URL, http://127.0.0.1:PORT; its metadata
	// API is under /api/metadata/v0/.
	URL string
	*gunicornProc
}

// LoginPath is frontend_app.py's stand-in for flaskoidc's login callback:
// POST {"token": {"access_token": ..., "expires_at": ...}, "user": {...}}
// keeps both in the client's session cookie; the frontend then sends
// Authorization: Bearer <json of token> to the metadata service and takes
// the current user from "user".
const LoginPath = "/_usersvc_test/login"

// Environment variables that would change what frontend_app.py runs if
// inherited from the test's environment.
var frontendScrubbed = []string{
	"FRONTEND_SVC_CONFIG_MODULE_CLASS", "APP_WRAPPER", "APP_WRAPPER_CLASS", "APP_WRAPPER_ARGS",
	"METADATASERVICE_BASE", "SEARCHSERVICE_BASE", "FRONTEND_BASE", "STATIC_ROOT",
	"JS_CONFIG_OVERRIDE_ENABLED", "PREVIEW_CLIENT_ENABLED", "ANNOUNCEMENT_CLIENT_ENABLED",
	"USERSVC_FRONTEND_SECRET_KEY", "USERSVC_FRONTEND_REQUEST_TIMEOUT_SEC", "REQUESTS_CA_BUNDLE", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
	"http_proxy", "https_proxy", "all_proxy",
}

// StartFrontend builds the frontend virtualenv if needed
// (EnsureFrontendVenv), starts
//
//	gunicorn -c gunicorn_conf.py --bind fd://3 --workers N frontend_app:app
//
// on a loopback listener it opened itself, and returns once GET
// /healthcheck (the frontend's own, which calls no other service) answers
// 200. Like StartMetadata: its own process group, Pdeathsig on the master
// and (gunicorn_conf.py) on the workers; Stop ends it.
func StartFrontend(ctx context.Context, opts FrontendOptions) (*Frontend, error) {
	python, err := EnsureFrontendVenv(ctx)
	if err != nil {
		return nil, err
	}
	if opts.MetadataURL == "" {
		return nil, fmt.Errorf("FrontendOptions.MetadataURL is empty")
	}
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	p, err := startGunicorn(ctx, gunicornSpec{
		what: "the Amundsen frontend", python: python, driver: "frontend_app.py",
		workers: opts.Workers, timeout: opts.StartTimeout,
		env: func(addr, _ string) []string {
			var env []string
			for _, kv := range baseEnv() {
				k, _, _ := strings.Cut(kv, "=")
				if !slices.Contains(frontendScrubbed, k) {
					env = append(env, kv)
				}
			}
			env = append(env,
				"METADATASERVICE_BASE="+strings.TrimSuffix(opts.MetadataURL, "/"),
				"FRONTEND_BASE=http://"+addr,
				"USERSVC_FRONTEND_SECRET_KEY="+hex.EncodeToString(secret),
				"NO_PROXY=*",
			)
			if opts.RequestTimeout > 0 {
				env = append(env, "USERSVC_FRONTEND_REQUEST_TIMEOUT_SEC="+strconv.Itoa(int(max(opts.RequestTimeout.Round(time.Second), time.Second)/time.Second)))
			}
			return env
		},
		// The frontend's own /healthcheck calls no other service.
		ready: answers(http.MethodGet, "/healthcheck", ""),
	})
	if err != nil {
		return nil, err
	}
	return &Frontend{URL: p.url, gunicornProc: p}, nil
}

// Routes is every routing decision metadata_app.py has logged so far, one
// per request that reached Amundsen's Flask app, in arrival order (with or
// without an X-Usersvc-Probe header): a test counts them to show that a
// request did not reach the metadata service.
func (m *Metadata) Routes() ([]Route, error) {
	b, err := os.ReadFile(filepath.Join(m.dir, "routes.jsonl"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var routes []Route
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var r Route
		if err := json.Unmarshal(line, &r); err != nil {
			return nil, fmt.Errorf("route log line %q: %w", line, err)
		}
		routes = append(routes, r)
	}
	return routes, nil
}
