package amundsen

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/usersvc/usersvc/testsupport/syncbuffer"
)

// gunicornProc is one of Amundsen's Flask apps under gunicorn, as its
// images run them: on a loopback listener opened here and handed over as
// fd 3 (so no other process can take the port in between), in its own
// process group with Pdeathsig, its workers given Pdeathsig by
// gunicorn_conf.py, so a killed test binary leaves nothing behind.
type gunicornProc struct {
	url      string
	cmd      *exec.Cmd
	out      *syncbuffer.Buffer
	dir      string
	done     chan struct{}
	stopOnce sync.Once
}

// gunicornSpec says what to run: the driver file and its WSGI app, the
// environment (given the listener's address), and how to tell it is up.
type gunicornSpec struct {
	what    string // for errors: "the Amundsen metadata service"
	python  string // the venv's interpreter
	driver  string // metadata_app.py, frontend_app.py (embedded in files)
	workers int
	env     func(addr, dir string) []string
	ready   func(ctx context.Context, client *http.Client, url string) error
	timeout time.Duration
}

// startGunicorn starts spec's app and returns once spec.ready passes.
func startGunicorn(ctx context.Context, spec gunicornSpec) (*gunicornProc, error) {
	if spec.workers <= 0 {
		spec.workers = 1
	}
	if spec.timeout <= 0 {
		spec.timeout = 60 * time.Second
	}
	dir, err := os.MkdirTemp("", "usersvc-amundsen-")
	if err != nil {
		return nil, err
	}
	for _, name := range []string{spec.driver, "gunicorn_conf.py"} {
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

	gunicorn := filepath.Join(filepath.Dir(spec.python), "gunicorn")
	cmd := exec.Command(gunicorn,
		"-c", filepath.Join(dir, "gunicorn_conf.py"),
		"--bind", "fd://3",
		"--workers", strconv.Itoa(spec.workers),
		"--access-logfile", "-",
		"--chdir", dir,
		strings.TrimSuffix(spec.driver, ".py")+":app")
	cmd.Dir = dir
	cmd.Env = spec.env(addr, dir)
	cmd.ExtraFiles = []*os.File{lnFile} // fd 3
	out := &syncbuffer.Buffer{Limit: 4 << 20}
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", gunicorn, err)
	}
	p := &gunicornProc{url: "http://" + addr, cmd: cmd, out: out, dir: dir, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	if err := p.waitReady(ctx, spec); err != nil {
		p.Stop()
		return nil, fmt.Errorf("%s (%s) did not start: %w\n--- gunicorn output ---\n%s", spec.what, strings.Join(cmd.Args, " "), err, out.String())
	}
	return p, nil
}

func (p *gunicornProc) waitReady(ctx context.Context, spec gunicornSpec) error {
	ctx, cancel := context.WithTimeout(ctx, spec.timeout)
	defer cancel()
	client := &http.Client{Timeout: 5 * time.Second}
	var last error
	for {
		if last = spec.ready(ctx, client, p.url); last == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("gunicorn exited: %v", p.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", context.Cause(ctx), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Output is what gunicorn and the app have printed so far (the first 4 MiB):
// the access log and Amundsen's logging, tracebacks included.
func (p *gunicornProc) Output() string { return p.out.String() }

// Pid is the gunicorn master's process id (also its process group id).
func (p *gunicornProc) Pid() int { return p.cmd.Process.Pid }

// Stop sends SIGTERM to gunicorn's process group (master and workers),
// waits up to 10 s, then SIGKILLs the group, and removes the driver's
// directory. Safe to call more than once.
func (p *gunicornProc) Stop() {
	p.stopOnce.Do(func() {
		pgid := p.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.done
		}
		_ = os.RemoveAll(p.dir)
	})
}

// answers is a ready check: method path answers 200 (and, when header is
// set, carries it).
func answers(method, path, header string) func(context.Context, *http.Client, string) error {
	return func(ctx context.Context, client *http.Client, url string) error {
		req, err := http.NewRequestWithContext(ctx, method, url+path, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || header != "" && resp.Header.Get(header) == "" {
			return fmt.Errorf("%s %s: %s, %s %q", method, path, resp.Status, header, resp.Header.Get(header))
		}
		return nil
	}
}
