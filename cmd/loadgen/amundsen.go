package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/usersvc/usersvc/testsupport/amundsen"
	"github.com/usersvc/usersvc/testsupport/neo4jserver"
)

//go:embed amundsen_app.py
var amundsenApp []byte

//go:embed amundsen_gunicorn.py
var amundsenGunicornConf []byte

// metadataServer is a running Amundsen metadata service.
type metadataServer struct {
	url  string
	pid  int // gunicorn's master
	stop func()
}

// startMetadata starts Amundsen's metadata service on srv under gunicorn
// with workers sync workers. debug: as Amundsen ships it (LocalConfig,
// through testsupport/amundsen); else with Flask's debug off and INFO
// logging (amundsen_app.py), its access log in a file under dir.
func startMetadata(ctx context.Context, srv *neo4jserver.Server, workers int, debug bool, dir string) (*metadataServer, error) {
	if debug {
		m, err := amundsen.StartMetadata(ctx, amundsen.Options{Neo4jURI: srv.URI, User: srv.User, Password: srv.Password, Workers: workers})
		if err != nil {
			return nil, err
		}
		return &metadataServer{url: m.URL, pid: m.Pid(), stop: m.Stop}, nil
	}
	python, err := amundsen.EnsureVenv(ctx)
	if err != nil {
		return nil, err
	}
	for name, data := range map[string][]byte{"amundsen_app.py": amundsenApp, "amundsen_gunicorn.py": amundsenGunicornConf} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return nil, err
		}
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	bolt := strings.TrimPrefix(srv.URI, "bolt://")
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "METADATA_SVC_CONFIG_MODULE_CLASS" || k == "GUNICORN_CMD_ARGS" || k == "PYTHONPATH" || k == "PYTHONHOME" ||
			strings.HasPrefix(k, "PROXY_") || strings.HasPrefix(k, "CREDENTIALS_PROXY_") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "PYTHONDONTWRITEBYTECODE=1",
		"PROXY_HOST=bolt://127.0.0.1", "PROXY_PORT="+bolt[strings.LastIndex(bolt, ":")+1:],
		"CREDENTIALS_PROXY_USER="+srv.User, "CREDENTIALS_PROXY_PASSWORD="+srv.Password, "PROXY_ENCRYPTED=false")
	logFile, err := os.Create(filepath.Join(dir, "amundsen.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // gunicorn holds its own descriptor
	cmd := exec.Command(filepath.Join(filepath.Dir(python), "gunicorn"), "-c", filepath.Join(dir, "amundsen_gunicorn.py"), "--bind", addr, "--workers", strconv.Itoa(workers),
		"--access-logfile", "-", "--chdir", dir, "amundsen_app:app")
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group, so stop ends the workers too; Pdeathsig ends
	// the master if loadgen is killed, and the workers with it
	// (amundsen_gunicorn.py).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	m := &metadataServer{url: "http://" + addr, pid: cmd.Process.Pid}
	m.stop = func() {
		_ = syscall.Kill(-m.pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-m.pid, syscall.SIGKILL)
			<-done
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodOptions, m.url+"/healthcheck", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return m, nil
			}
		}
		select {
		case <-done:
			log, _ := os.ReadFile(logFile.Name())
			return nil, fmt.Errorf("the Amundsen metadata service exited (%v):\n%s", cmd.ProcessState, tailOf(log, 4000))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			m.stop()
			return nil, errors.New("the Amundsen metadata service did not answer within 60 s")
		}
	}
}

func tailOf(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
