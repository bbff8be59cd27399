package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usersvc/usersvc/testsupport/oktaapi"
)

var syncStart = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func syncPeople(n int, status string, at time.Time) []oktaapi.User {
	users := make([]oktaapi.User, n)
	for i := range users {
		email := fmt.Sprintf("p%04d@example.com", i)
		users[i] = oktaapi.NewUser(fmt.Sprintf("00u%04d", i), email, email, "P", fmt.Sprint(i), status).With(map[string]any{"department": "Data"})
		users[i].LastUpdated = at.Add(time.Duration(i) * time.Millisecond)
	}
	return users
}

// System Log polling, on by default with Okta, is off: its calls would
// share the injected faults and counted calls of tests about other things
// (syslog_integration_test.go turns it on).
func oktaEnv(org *oktaapi.Server) []string {
	return []string{"OKTA_CLIENT_ORGURL=" + org.URL(), "OKTA_CLIENT_TOKEN=00ssws", "OKTA_TESTING_DISABLE_HTTPS_CHECK=true",
		"OKTA_EVENTS_POLL_INTERVAL=off"}
}

// TestBinarySyncCommand drives `usersvc sync` as an operator would: a full
// import, an incremental one, the guard, the file directory, bad usage.
func TestBinarySyncCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	org := oktaapi.New(t, oktaapi.WithSSWSToken("00ssws"), oktaapi.WithRateLimits(1200, 600))
	org.AddUsers(syncPeople(450, "ACTIVE", syncStart)...)
	db := "EMBEDDED_DB_PATH=" + filepath.Join(t.TempDir(), "usersvc.db")
	env := append([]string{db, "LOG_FORMAT=text"}, oktaEnv(org)...)

	steps := []struct {
		name   string
		change func()
		args   []string
		code   int
		want   string
	}{
		{"full import", nil, nil, exitOK, "sync done\n  fetched 450, created 450, updated 0, unchanged 0, deactivated 0, moved 0, skipped 0\n"},
		{"nothing changed", nil, nil, exitOK, "created 0, updated 0, unchanged 450"},
		{"incremental", func() {
			org.AddUsers(syncPeople(30, "DEPROVISIONED", syncStart.Add(time.Hour))...)
		}, nil, exitOK, "fetched 450, created 0, updated 30, unchanged 420, deactivated 30, moved 0, skipped 0"},
		{"guard trips", func() {
			org.AddUsers(syncPeople(200, "SUSPENDED", syncStart.Add(2*time.Hour))...)
		}, nil, exitGuardTripped, "sync stopped by the mass-change guard; nothing written\n  fetched 200, created 0, updated 0, unchanged 0, deactivated 170"},
		{"guard raised", nil, nil, exitOK, "fetched 200, created 0, updated 170, unchanged 30, deactivated 170"},
		{"full re-read", nil, []string{"--full"}, exitOK, "fetched 450, created 0, updated 0, unchanged 450, deactivated 0"},
		{"bad flag", nil, []string{"--fast"}, exitConfig, ""},
	}
	for _, st := range steps {
		if st.change != nil {
			st.change()
		}
		stepEnv := env
		if st.name == "guard raised" {
			stepEnv = append(stepEnv, "SYNC_MAX_DEACTIVATE_PERCENT=50")
		}
		stdout, stderr, code := runBinary(t, stepEnv, append([]string{"sync"}, st.args...)...)
		if code != st.code || !strings.Contains(stdout, st.want) {
			t.Fatalf("%s: exit %d, stdout %q, stderr %s; want %d and %q", st.name, code, stdout, stderr, st.code, st.want)
		}
		if strings.Contains(stderr, "00ssws") {
			t.Fatalf("%s: the API token reached the log", st.name)
		}
	}

	// The imported people are what the server then serves.
	_, addr := startBinary(t, "AUTH_DISABLED=true", db)
	if resp, body := call(t, http.MethodGet, "http://"+addr+"/user/p0001@example.com", "", ""); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"is_active":false`) {
		t.Fatalf("synced person = %d %s", resp.StatusCode, body)
	}
}

func TestBinarySyncFromDirectoryFile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	env := []string{"EMBEDDED_DB_PATH=" + filepath.Join(t.TempDir(), "usersvc.db"), "DIRECTORY_FILE=" + exampleDirectory(t)}
	stdout, stderr, code := runBinary(t, env, "sync")
	// The two people sharing rosalind@example.com are keyed by their
	// logins, not merged.
	if code != exitOK || !strings.Contains(stdout, "fetched 20, created 20, updated 0, unchanged 0, deactivated 0, moved 0, skipped 0") {
		t.Fatalf("exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}
	if _, stderr, code := runBinary(t, []string{"EMBEDDED_DB_PATH=" + filepath.Join(t.TempDir(), "u.db")}, "sync"); code != exitConfig ||
		!strings.Contains(stderr, "DIRECTORY: no directory to sync from") {
		t.Fatalf("sync without a directory: exit %d, %s", code, stderr)
	}
}

// TestBinarySyncSingleRunner starts two sync processes against one graph
// (the real Neo4j): one does the work, the other exits 4.
func TestBinarySyncSingleRunner(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	org := oktaapi.New(t, oktaapi.WithSSWSToken("00ssws"))
	org.AddUsers(syncPeople(600, "ACTIVE", syncStart)...)
	org.SetLatency(time.Second) // each run takes seconds, so the two overlap
	srv := cleanNeo4j(t)
	env := append(proxyEnv(srv, boltAddr(srv)), oktaEnv(org)...)

	var wg sync.WaitGroup
	codes := make([]int, 2)
	outs := make([]string, 2)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], _, codes[i] = runBinary(t, env, "sync")
		}()
	}
	wg.Wait()
	if !(codes[0] == exitOK && codes[1] == exitLeaseHeld || codes[0] == exitLeaseHeld && codes[1] == exitOK) {
		t.Fatalf("exit codes %v, want one 0 and one 4\n%s\n%s", codes, outs[0], outs[1])
	}
	for i, out := range outs {
		if codes[i] == exitLeaseHeld && !strings.Contains(out, "skipped: another runner holds the sync lease") {
			t.Fatalf("turned-away run said %q", out)
		}
		if codes[i] == exitOK && !strings.Contains(out, "created 600") {
			t.Fatalf("working run said %q", out)
		}
	}
}

// TestBinaryScheduledSync: with SYNC_INTERVAL the server imports the
// directory by itself, picks up later changes, and reports runs in metrics.
func TestBinaryScheduledSync(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	org := oktaapi.New(t, oktaapi.WithSSWSToken("00ssws"))
	org.AddUsers(syncPeople(250, "ACTIVE", syncStart)...)
	metricsAddr := freePort(t)
	_, addr := startBinary(t, append([]string{"AUTH_DISABLED=true", "SYNC_INTERVAL=1s", "METRICS_ADDR=" + metricsAddr,
		"EMBEDDED_DB_PATH=" + filepath.Join(t.TempDir(), "usersvc.db")}, oktaEnv(org)...)...)
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("no %s after 20s", what)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitFor("import of 250 people", func() bool {
		_, body := call(t, http.MethodGet, "http://"+addr+"/user", "", "")
		return strings.Count(body, `"user_id"`) == 250
	})
	org.AddUsers(syncPeople(3, "DEPROVISIONED", syncStart.Add(time.Hour))...)
	waitFor("deactivation of 3 people", func() bool {
		_, body := call(t, http.MethodGet, "http://"+addr+"/user", "", "")
		return strings.Count(body, `"user_id"`) == 247
	})
	families, _ := scrape(t, metricsAddr)
	if n := value(families, "usersvc_sync_users_total", map[string]string{"action": "created"}); n != 250 {
		t.Fatalf("sync created %v users, want 250", n)
	}
	if n := value(families, "usersvc_sync_users_total", map[string]string{"action": "deactivated"}); n != 3 {
		t.Fatalf("sync deactivated %v users, want 3", n)
	}
	if n := value(families, "usersvc_sync_runs_total", map[string]string{"outcome": "ok"}); n < 2 {
		t.Fatalf("%v successful runs, want at least 2", n)
	}
	if n := value(families, "usersvc_sync_last_success_timestamp_seconds", nil); n < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Fatalf("last success at %v", n)
	}
}

// TestBinarySyncFailedPageExitsOne: a page after the first that Okta keeps
// refusing fails `usersvc sync` with exit 1 and a summary naming the page;
// the next run, once Okta is back, imports what changed meanwhile.
func TestBinarySyncFailedPageExitsOne(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	org := oktaapi.New(t, oktaapi.WithSSWSToken("00ssws"))
	org.AddUsers(syncPeople(450, "ACTIVE", syncStart)...)
	env := append([]string{"EMBEDDED_DB_PATH=" + filepath.Join(t.TempDir(), "usersvc.db"), "LOG_FORMAT=text"}, oktaEnv(org)...)
	if stdout, stderr, code := runBinary(t, env, "sync"); code != exitOK {
		t.Fatalf("first import: exit %d %s %s", code, stdout, stderr)
	}
	// During the outage everyone on the last page leaves (15 of 450: the
	// guard allows it once raised).
	org.AddUsers(syncPeople(450, "ACTIVE", syncStart.Add(time.Hour))...)
	for _, u := range syncPeople(450, "SUSPENDED", syncStart.Add(2*time.Hour))[435:] {
		org.AddUsers(u)
	}
	env = append(env, "SYNC_MAX_DEACTIVATE_PERCENT=50")
	org.FailPage(3, oktaapi.PageUnavailable)
	stdout, stderr, code := runBinary(t, env, "sync")
	if code != exitFailure || !strings.Contains(stdout, "sync failed: read the directory: page 3: ") ||
		!strings.Contains(stdout, "created 0, updated 0, unchanged 0, deactivated 0") {
		t.Fatalf("page 3 down: exit %d, stdout %q, stderr %s; want exit 1 naming page 3, nothing written", code, stdout, stderr)
	}
	org.FailPage(0, 0)
	stdout, stderr, code = runBinary(t, env, "sync")
	if code != exitOK || !strings.Contains(stdout, "deactivated 15") {
		t.Fatalf("after recovery: exit %d, stdout %q, stderr %s; want the 15 departures applied", code, stdout, stderr)
	}
}

// TestBinarySyncDryRun: `usersvc sync --dry-run` lists the creations (and,
// after a change in the directory, the updates and deactivations) a run
// would make, with counts, and writes nothing: the real run after it still
// finds everything to do.
func TestBinarySyncDryRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	env := []string{"EMBEDDED_DB_PATH=" + filepath.Join(t.TempDir(), "usersvc.db"), "DIRECTORY_FILE=" + exampleDirectory(t)}
	for range 2 {
		stdout, stderr, code := runBinary(t, env, "sync", "--dry-run")
		if code != exitOK || strings.Count(stdout, "  would create ") != 20 || !strings.Contains(stdout, "  would create katherine.johnson@example.com\n") ||
			!strings.Contains(stdout, "sync dry run, nothing written: done\n  fetched 20, created 20, updated 0") {
			t.Fatalf("dry run: exit %d\n%s\n%s", code, stdout, stderr)
		}
	}
	if stdout, stderr, code := runBinary(t, env, "sync"); code != exitOK || !strings.Contains(stdout, "fetched 20, created 20,") {
		t.Fatalf("the run after two dry runs found %q (exit %d, %s): a dry run wrote something", stdout, code, stderr)
	}
	stdout, _, code := runBinary(t, env, "sync", "--dry-run", "--full")
	if code != exitOK || strings.Contains(stdout, "would create") || !strings.Contains(stdout, "created 0, updated 0, unchanged 20") {
		t.Fatalf("dry run after the sync: exit %d\n%s", code, stdout)
	}
}
