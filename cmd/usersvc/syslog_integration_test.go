package main

import (
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/usersvc/usersvc/testsupport/oktaapi"
	"github.com/usersvc/usersvc/testsupport/syncbuffer"
)

// startPollingBinary starts the binary with its output in logs and waits
// until it answers; the caller stops it (t.Cleanup kills it otherwise).
func startPollingBinary(t *testing.T, logs *syncbuffer.Buffer, env ...string) (*exec.Cmd, string) {
	t.Helper()
	addr := freePort(t)
	cmd := exec.Command(buildBinary(t))
	cmd.Env = append([]string{"LISTEN_ADDR=" + addr}, env...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitUntil(t, "the binary to answer", func() bool {
		resp, err := http.Get("http://" + addr + "/livez")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	})
	return cmd, addr
}

// TestBinaryOktaSystemLogPolling: with OKTA_EVENTS_POLL_INTERVAL the binary
// follows the org's System Log. A person deactivated in Okta (no hook
// configured) becomes inactive in the graph, with an audit record of source
// syslog and the metrics counting it. The process is stopped, another
// person is deactivated while it is down, and a new process on the same
// graph resumes at the saved cursor: it applies the new event and does not
// re-read the first person.
func TestBinaryOktaSystemLogPolling(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	org := oktaapi.New(t, oktaapi.WithSSWSToken("00ssws"))
	org.AddUsers(oktaapi.NewUser("00uada", "ada@example.com", "ada@example.com", "Ada", "Lovelace", "ACTIVE"),
		oktaapi.NewUser("00ubob", "bob@example.com", "bob@example.com", "Bob", "Kahn", "ACTIVE"))
	logs := &syncbuffer.Buffer{}
	metricsAddr := freePort(t)
	env := append([]string{"AUTH_DISABLED=true", "EMBEDDED_DB_PATH=" + filepath.Join(t.TempDir(), "usersvc.db"),
		"METRICS_ADDR=" + metricsAddr}, oktaEnv(org)...)
	env = append(env, "OKTA_EVENTS_POLL_INTERVAL=1s", "OKTA_EVENTS_POLL_MAX_RATE=600") // after oktaEnv's off: the last wins
	cmd, addr := startPollingBinary(t, logs, env...)
	if !isActive(t, addr, "ada@example.com") || !isActive(t, addr, "bob@example.com") {
		t.Fatal("people not active at first")
	}

	org.Deactivate("00uada")
	waitUntil(t, "ada inactive", func() bool { return !isActive(t, addr, "ada@example.com") })
	// The poll is counted once its page is applied and its cursor saved,
	// a moment after the node changed: wait for it rather than race it.
	waitUntil(t, "the poll counted", func() bool {
		families, _ := scrape(t, metricsAddr)
		return value(families, "usersvc_okta_syslog_polls_total", map[string]string{"outcome": "events"}) >= 1
	})
	families, raw := scrape(t, metricsAddr)
	if v := value(families, "usersvc_okta_syslog_events_total", map[string]string{"event_type": "user.lifecycle.deactivate", "outcome": "applied"}); v != 1 {
		t.Fatalf("applied deactivations = %v, want 1:\n%s", v, grep(raw, "usersvc_okta_syslog"))
	}
	waitUntil(t, "the poller's audit record", func() bool {
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, `"event":"user_deactivated"`) && strings.Contains(line, `"source":"syslog"`) && strings.Contains(line, `"key":"ada@example.com"`) {
				return true
			}
		}
		return false
	})

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
	}
	adaReads := org.Count(func(r oktaapi.Request) bool { return r.Path == "/api/v1/users/00uada" })
	callsBefore := len(org.Requests())
	org.Deactivate("00ubob") // while usersvc is down: a hook delivery would be lost

	_, addr = startPollingBinary(t, logs, env...)
	waitUntil(t, "bob inactive after the restart", func() bool { return !isActive(t, addr, "bob@example.com") })
	if n := org.Count(func(r oktaapi.Request) bool { return r.Path == "/api/v1/users/00uada" }); n != adaReads {
		t.Fatalf("ada was read %d more times after the restart: the first page was applied again", n-adaReads)
	}
	for _, r := range org.Requests()[callsBefore:] {
		if oktaapi.IsLogs(r) {
			if r.Query.Get("after") == "" || r.Query.Has("since") {
				t.Fatalf("the restarted poller's first call %v does not resume at the saved cursor", r.Query)
			}
			break
		}
	}
	if strings.Contains(logs.String(), "00ssws") {
		t.Fatal("the Okta token reached the logs")
	}
}
