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
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/usersvc/usersvc/testsupport/syncbuffer"
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

	cmd      *exec.Cmd
	out      *syncbuffer.Buffer
	dir      string
	done     chan struct{}
	stopOnce sync.Once
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
	workers := opts.Workers
	if workers <= 0 {
		workers = 1
	}
	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}

	dir, err := os.MkdirTemp("", "usersvc-amundsen-frontend-")
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"frontend_app.py", "gunicorn_conf.py"} {
		b, _ := files.ReadFile(name)
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	lnFile, err := ln.(*net.TCPListener).File()
	_ = ln.Close() // the duplicate in lnFile keeps the socket listening
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	defer lnFile.Close()
	addr := ln.Addr().String()

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

	gunicorn := filepath.Join(filepath.Dir(python), "gunicorn")
	cmd := exec.Command(gunicorn,
		"-c", filepath.Join(dir, "gunicorn_conf.py"),
		"--bind", "fd://3",
		"--workers", strconv.Itoa(workers),
		"--access-logfile", "-",
		"--chdir", dir,
		"frontend_app:app")
	cmd.Dir = dir
	cmd.Env = env
	cmd.ExtraFiles = []*os.File{lnFile} // fd 3
	out := &syncbuffer.Buffer{Limit: 4 << 20}
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", gunicorn, err)
	}
	f := &Frontend{URL: "http://" + addr, cmd: cmd, out: out, dir: dir, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(f.done) }()

	if err := f.waitReady(ctx, timeout); err != nil {
		f.Stop()
		return nil, fmt.Errorf("the Amundsen frontend (%s) did not start: %w\n--- gunicorn output ---\n%s", strings.Join(cmd.Args, " "), err, out.String())
	}
	return f, nil
}

func (f *Frontend) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: 5 * time.Second}
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.URL+"/healthcheck", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("GET /healthcheck: %s", resp.Status)
		} else {
			last = err
		}
		select {
		case <-f.done:
			return fmt.Errorf("gunicorn exited: %v", f.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", context.Cause(ctx), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Output is what gunicorn and the frontend have printed so far (the first
// 4 MiB): its access log and Amundsen's logging, tracebacks included.
func (f *Frontend) Output() string { return f.out.String() }

// Pid is the gunicorn master's process id (also its process group id).
func (f *Frontend) Pid() int { return f.cmd.Process.Pid }

// Stop sends SIGTERM to gunicorn's process group, waits up to 10 s, then
// SIGKILLs the group, and removes the driver's directory. Safe to call more
// than once.
func (f *Frontend) Stop() {
	f.stopOnce.Do(func() {
		pgid := f.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-f.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-f.done
		}
		_ = os.RemoveAll(f.dir)
	})
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
