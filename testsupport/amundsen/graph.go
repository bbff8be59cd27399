package amundsen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Neo4j is a Neo4j server Amundsen's code connects to: a bolt:// URI with
// host and port, and its credentials. Connections are plain Bolt.
type Neo4j struct {
	URI, User, Password string
}

// DatabuilderJob is one job of databuilder_load.py: CsvExtractor with a
// databuilder model class (Model and CSV), or CsvTableColumnExtractor
// (TableCSV and ColumnCSV), then FsNeo4jCSVLoader and Neo4jCsvPublisher,
// as databuilder's sample loader runs them.
type DatabuilderJob struct {
	// Name names the loader's folder; unique within one Publish.
	Name string `json:"name"`
	// Tag is the publisher's job_publish_tag (published_tag on every node
	// and relationship the job writes).
	Tag   string `json:"tag"`
	Model string `json:"model,omitempty"`
	CSV   string `json:"csv,omitempty"`

	TableCSV  string `json:"table_csv,omitempty"`
	ColumnCSV string `json:"column_csv,omitempty"`
}

// Publish runs the jobs, in order, with Amundsen's databuilder (its own
// virtualenv, EnsureDatabuilderVenv) against n. The loader's files go under
// a temporary directory, removed afterwards. The error carries the
// publisher's output (a Neo4j error names its code and message there).
func Publish(ctx context.Context, n Neo4j, jobs ...DatabuilderJob) error {
	python, err := EnsureDatabuilderVenv(ctx)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "usersvc-databuilder-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	spec, err := json.Marshal(map[string]any{"work_dir": filepath.Join(dir, "work"), "jobs": jobs})
	if err != nil {
		return err
	}
	env := append(baseEnv(), "NEO4J_URI="+n.URI, "NEO4J_USER="+n.User, "NEO4J_PASSWORD="+n.Password)
	stdout, stderr, err := runDriver(ctx, python, dir, "databuilder_load.py", spec, env)
	if err != nil {
		return fmt.Errorf("databuilder publish: %w\n--- stdout ---\n%s\n--- stderr ---\n%s", err, stdout, tail(stderr, 8000))
	}
	return nil
}

// ProxyCall is one call of neo4jproxy_call.py: a Neo4jProxy method and its
// keyword arguments (see that file for the methods it knows).
type ProxyCall struct {
	Method string         `json:"method"`
	Args   map[string]any `json:"args,omitempty"`
}

// ProxyResult is one call's answer: Value is the marshmallow dump of what
// the method returned (JSON null for methods returning None), or Error the
// exception it raised.
type ProxyResult struct {
	Value json.RawMessage `json:"value"`
	Error *ProxyError     `json:"error"`
}

// ProxyError is an exception Neo4jProxy raised.
type ProxyError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

func (e *ProxyError) Error() string { return e.Type + ": " + e.Message }

// CallNeo4jProxy runs the calls, in order, on Amundsen metadata's own
// Neo4jProxy against n (one Python process, the metadata virtualenv), with
// USER_OTHER_KEYS set to otherKeys. A call that raised is a ProxyResult with
// Error set; the returned error is for the driver itself failing.
func CallNeo4jProxy(ctx context.Context, n Neo4j, otherKeys []string, calls ...ProxyCall) ([]ProxyResult, error) {
	python, err := EnsureVenv(ctx)
	if err != nil {
		return nil, err
	}
	host, port, err := splitNeo4jURI(n.URI)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "usersvc-neo4jproxy-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	spec, err := json.Marshal(calls)
	if err != nil {
		return nil, err
	}
	env := append(baseEnv(),
		"PROXY_HOST="+host, "PROXY_PORT="+port,
		"CREDENTIALS_PROXY_USER="+n.User, "CREDENTIALS_PROXY_PASSWORD="+n.Password,
		"PROXY_ENCRYPTED=false", "USER_OTHER_KEYS="+strings.Join(otherKeys, ","))
	stdout, stderr, err := runDriver(ctx, python, dir, "neo4jproxy_call.py", spec, env)
	if err != nil {
		return nil, fmt.Errorf("neo4jproxy_call.py: %w\n--- stderr ---\n%s", err, tail(stderr, 8000))
	}
	var out []ProxyResult
	if err := json.Unmarshal(stdout, &out); err != nil {
		return nil, fmt.Errorf("neo4jproxy_call.py printed %q: %w\n--- stderr ---\n%s", tail(stdout, 2000), err, tail(stderr, 8000))
	}
	if len(out) != len(calls) {
		return nil, fmt.Errorf("neo4jproxy_call.py answered %d calls of %d", len(out), len(calls))
	}
	return out, nil
}

// baseEnv is the test's environment without the variables that would change
// what Amundsen's code or gunicorn run.
func baseEnv() []string {
	env := make([]string, 0, len(os.Environ())+10)
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !isScrubbed(k) {
			env = append(env, kv)
		}
	}
	return append(env, "PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1")
}

func isScrubbed(k string) bool {
	return slices.Contains(scrubbed, k) || k == "USER_OTHER_KEYS" || strings.HasPrefix(k, "NEO4J_") ||
		strings.HasPrefix(k, "PROXY_") || strings.HasPrefix(k, "CREDENTIALS_PROXY_")
}

// runDriver writes the embedded script into dir with its input beside it
// and runs python script input in its own process group, killed (the whole
// group) when ctx ends or the test binary dies.
func runDriver(ctx context.Context, python, dir, script string, input []byte, env []string) (stdout, stderr []byte, err error) {
	b, err := files.ReadFile(script)
	if err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, script), b, 0o644); err != nil {
		return nil, nil, err
	}
	in := filepath.Join(dir, "input.json")
	if err := os.WriteFile(in, input, 0o600); err != nil {
		return nil, nil, err
	}
	cmd := exec.CommandContext(ctx, python, script, in)
	cmd.Dir = dir
	cmd.Env = env
	var o, e bytes.Buffer
	cmd.Stdout = &o
	cmd.Stderr = &e
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	if err != nil && ctx.Err() != nil {
		err = errors.Join(err, context.Cause(ctx))
	}
	return o.Bytes(), e.Bytes(), err
}
