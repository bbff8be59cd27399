package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/usersvc/usersvc/testsupport/oktaapi"
)

// TestSIGTERMWith200InFlight: 200 slow requests (each resolving a person
// from an Okta that answers in 1s, some writing) are in flight when SIGTERM
// arrives. All of them complete, the process exits within its grace period,
// and every write it acknowledged is there after a restart.
func TestSIGTERMWith200InFlight(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	org := oktaapi.New(t, oktaapi.WithSSWSToken("00ssws"))
	for i := range 200 {
		email := fmt.Sprintf("p%03d@example.com", i)
		org.AddUsers(oktaapi.NewUser(fmt.Sprintf("00u%03d", i), email, email, "P", fmt.Sprint(i), "ACTIVE"))
	}
	// One lookup is a GET by login and the email search that tells whether
	// the email is shared: 300 calls through 75 slots must fit the 2.5s
	// lookup timeout.
	org.SetLatency(400 * time.Millisecond)
	db := "EMBEDDED_DB_PATH=" + filepath.Join(t.TempDir(), "usersvc.db")
	env := []string{"AUTH_DISABLED=true", db, "SHUTDOWN_TIMEOUT=10s", "OKTA_MAX_CONCURRENT=75", "OKTA_REQUEST_TIMEOUT=2500ms",
		"OKTA_CLIENT_ORGURL=" + org.URL(), "OKTA_CLIENT_TOKEN=00ssws", "OKTA_TESTING_DISABLE_HTTPS_CHECK=true", "OKTA_EVENTS_POLL_INTERVAL=off"}
	cmd, addr := startBinary(t, env...)
	base := "http://" + addr

	paths := make([]string, 200)
	answers := sigtermWith200InFlight(t, cmd, func(i int) *http.Request {
		if i%4 == 0 { // a quarter are writes
			paths[i] = fmt.Sprintf("/user/w%03d@example.com", i)
			req, _ := http.NewRequest(http.MethodPut, base+"/user", strings.NewReader(fmt.Sprintf(`{"email":"w%03d@example.com","display_name":"W"}`, i)))
			return req
		}
		paths[i] = fmt.Sprintf("/user/p%03d@example.com", i)
		req, _ := http.NewRequest(http.MethodGet, base+paths[i], nil)
		return req
	}, func() bool { return org.Count(oktaapi.IsAPI) >= 100 }) // the GETs are waiting on Okta
	var acknowledged []string
	for i, a := range answers {
		switch {
		case a.err != nil:
			t.Errorf("%s: %v (in-flight requests must complete)", paths[i], a.err)
		case a.code == http.StatusOK || a.code == http.StatusCreated:
			acknowledged = append(acknowledged, paths[i])
		case a.code != http.StatusServiceUnavailable:
			t.Errorf("%s: %d", paths[i], a.code)
		}
	}
	if len(acknowledged) < 150 {
		t.Fatalf("only %d of 200 requests succeeded", len(acknowledged))
	}

	// Restart: every acknowledged write is there, served without Okta.
	org.Close()
	_, addr = startBinary(t, env...)
	for _, path := range acknowledged {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("after restart %s = %d: an acknowledged write was lost", path, resp.StatusCode)
		}
	}
}

// inFlightAnswer is what one of the 200 requests got back.
type inFlightAnswer struct {
	code int
	body string
	err  error
}

// sigtermWith200InFlight sends newRequest(0..199) at once from one client.
// Once all 200 are on the wire (the client trace's WroteRequest) and busy
// reports the server working on them, it sends cmd SIGTERM: 200 requests
// in flight, none still to be sent. It returns every answer after the
// process has exited 0 within its 10s grace period.
func sigtermWith200InFlight(t *testing.T, cmd *exec.Cmd, newRequest func(i int) *http.Request, busy func() bool) []inFlightAnswer {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 200}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	answers := make([]inFlightAnswer, 200)
	var written atomic.Int64
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { written.Add(1) }}
	var wg sync.WaitGroup
	for i := range answers {
		req := newRequest(i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Do(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
			if err != nil {
				answers[i].err = err
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			answers[i] = inFlightAnswer{resp.StatusCode, string(b), err}
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); written.Load() < 200 || !busy(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 10s only %d of 200 requests were written, busy=%v", written.Load(), busy())
		}
	}
	sigterm := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if took := time.Since(sigterm); took > 10*time.Second {
		t.Fatalf("took %s to exit, beyond the 10s grace period", took)
	}
	return answers
}
