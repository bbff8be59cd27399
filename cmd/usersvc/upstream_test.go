package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usersvc/usersvc/testsupport/issuer"
)

func TestUpstreamConfig(t *testing.T) {
	c, err := loadConfig(envMap("AUTH_DISABLED", "true"))
	if err != nil {
		t.Fatal(err)
	}
	if u := c.Upstream; u.URL != nil || u.Timeout != 10*time.Second || u.MaxBody != 10<<20 || !u.ForwardAuth {
		t.Fatalf("defaults = %+v (DESIGN §4: off, 10s, 10MiB, true)", u)
	}
	c, err = loadConfig(envMap("AUTH_DISABLED", "true", "METADATA_UPSTREAM_URL", "http://amundsen-metadata:5002/",
		"UPSTREAM_TIMEOUT", "3s", "UPSTREAM_MAX_BODY", "512KiB", "UPSTREAM_FORWARD_AUTH", "false"))
	if err != nil {
		t.Fatal(err)
	}
	if u := c.Upstream; u.URL.String() != "http://amundsen-metadata:5002/" || u.Timeout != 3*time.Second || u.MaxBody != 512<<10 || u.ForwardAuth {
		t.Fatalf("parsed = %+v", u)
	}
	for v, want := range map[string]int64{"1048576": 1 << 20, "1GiB": 1 << 30, "7B": 7, "2MiB": 2 << 20} {
		c, err := loadConfig(envMap("AUTH_DISABLED", "true", "UPSTREAM_MAX_BODY", v))
		if err != nil || c.Upstream.MaxBody != want {
			t.Errorf("UPSTREAM_MAX_BODY=%s: %d, %v", v, c.Upstream.MaxBody, err)
		}
	}
	for _, tc := range []struct{ name, value string }{
		{"METADATA_UPSTREAM_URL", "amundsen-metadata:5002"},
		{"METADATA_UPSTREAM_URL", "ftp://amundsen-metadata"},
		{"METADATA_UPSTREAM_URL", "http://"},
		{"METADATA_UPSTREAM_URL", "http://user:pw@amundsen-metadata"},
		{"METADATA_UPSTREAM_URL", "http://amundsen-metadata/?x=1"},
		{"METADATA_UPSTREAM_URL", "http://amundsen-metadata/#f"},
		{"METADATA_UPSTREAM_URL", "http://amundsen-metadata//api"},
		{"UPSTREAM_TIMEOUT", "0s"},
		{"UPSTREAM_TIMEOUT", "soon"},
		{"UPSTREAM_MAX_BODY", "10MB"},
		{"UPSTREAM_MAX_BODY", "0"},
		{"UPSTREAM_MAX_BODY", "-1"},
		{"UPSTREAM_MAX_BODY", "2TiB"},
		{"UPSTREAM_FORWARD_AUTH", "maybe"},
	} {
		var stderr bytes.Buffer
		code := run(context.Background(), nil, envMap("AUTH_DISABLED", "true", tc.name, tc.value), io.Discard, &stderr)
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		if code != exitConfig || len(lines) != 1 || !strings.Contains(lines[0], tc.name) {
			t.Errorf("%s=%q: exit %d, stderr %q; want 2 and one line naming it", tc.name, tc.value, code, stderr.String())
		}
	}
}

// slowUpstream answers every request after delay, counting arrivals and
// echoing the body's length.
type slowUpstream struct {
	srv     *httptest.Server
	arrived atomic.Int64
}

func newSlowUpstream(t *testing.T, delay time.Duration) *slowUpstream {
	u := &slowUpstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.arrived.Add(1)
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			return
		}
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"path":%q,"bytes":%d}`, r.RequestURI, n)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// TestBinaryPassThroughSIGTERMWith200InFlight: 200 proxied requests (a
// quarter with bodies) wait on an upstream that answers in 1s when SIGTERM
// arrives; every one completes with the upstream's answer.
func TestBinaryPassThroughSIGTERMWith200InFlight(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	up := newSlowUpstream(t, time.Second)
	cmd, addr := startBinary(t, "AUTH_DISABLED=true", "SHUTDOWN_TIMEOUT=10s", "METADATA_UPSTREAM_URL="+up.srv.URL,
		"EMBEDDED_DB_PATH="+filepath.Join(t.TempDir(), "usersvc.db"))
	answers := sigtermWith200InFlight(t, cmd, func(i int) *http.Request {
		target := fmt.Sprintf("http://%s/table/hive://gold.sales/t%03d/description", addr, i)
		if i%4 == 0 {
			req, _ := http.NewRequest(http.MethodPut, target, strings.NewReader(`{"description":"x"}`))
			return req
		}
		req, _ := http.NewRequest(http.MethodGet, target, nil)
		return req
	}, func() bool { return up.arrived.Load() >= 150 })
	for i, a := range answers {
		wantBytes := 0
		if i%4 == 0 {
			wantBytes = len(`{"description":"x"}`)
		}
		want := fmt.Sprintf(`{"path":"/table/hive://gold.sales/t%03d/description","bytes":%d}`, i, wantBytes)
		if a.err != nil || a.code != http.StatusOK || a.body != want {
			t.Errorf("request %d: %d %q %v, want the upstream's answer %s", i, a.code, a.body, a.err, want)
		}
	}
}

// peakRSS is the process's high-water resident set (VmHWM) in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// TestBinaryPassThroughStreamsInBoundedMemory moves 256 MiB each way
// through the binary; its peak RSS stays far below that, so neither body
// is buffered.
func TestBinaryPassThroughStreamsInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	const size = 256 << 20
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	var received atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			n, _ := io.Copy(io.Discard, r.Body)
			received.Store(n)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(size))
		for sent := 0; sent < size; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(up.Close)
	cmd, addr := startBinary(t, "AUTH_DISABLED=true", "METADATA_UPSTREAM_URL="+up.URL, "UPSTREAM_MAX_BODY=1GiB",
		"EMBEDDED_DB_PATH="+filepath.Join(t.TempDir(), "usersvc.db"))
	before := peakRSS(t, cmd.Process.Pid)
	bound := before + 32<<20
	client := &http.Client{Timeout: 60 * time.Second}
	defer client.CloseIdleConnections()

	resp, err := client.Get("http://" + addr + "/table/hive://gold.sales/orders/dump")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || n != size {
		t.Fatalf("downloaded %d bytes, %v", n, err)
	}
	req, _ := http.NewRequest(http.MethodPut, "http://"+addr+"/table/hive://gold.sales/orders/upload",
		io.LimitReader(repeatReader(chunk), size))
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || received.Load() != size {
		t.Fatalf("upload: %d, upstream received %d bytes", resp.StatusCode, received.Load())
	}
	peak := peakRSS(t, cmd.Process.Pid)
	t.Logf("peak RSS %d MiB before, %d MiB after moving 2×%d MiB", before>>20, peak>>20, size>>20)
	if peak > bound {
		t.Fatalf("peak RSS %d MiB over %d MiB: a body was buffered", peak>>20, bound>>20)
	}
}

type repeatReader []byte

func (r repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		n += copy(p[n:], r)
	}
	return n, nil
}

// TestBinaryPassThroughMetrics: proxied requests count under route
// "upstream" and by code class; raw paths never appear as labels.
func TestBinaryPassThroughMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "missing") {
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(up.Close)
	metricsAddr := freePort(t)
	_, addr := startBinary(t, "AUTH_DISABLED=true", "METADATA_UPSTREAM_URL="+up.URL, "METRICS_ADDR="+metricsAddr,
		"EMBEDDED_DB_PATH="+filepath.Join(t.TempDir(), "usersvc.db"))
	for _, p := range []string{"/table/hive://gold.sales/secret-name", "/table/missing", "/popular_tables/"} {
		resp, err := http.Get("http://" + addr + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	families, text := scrape(t, metricsAddr)
	classes := map[string]float64{}
	for _, m := range families["usersvc_upstream_requests_total"].GetMetric() {
		classes[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
	}
	if classes["2xx"] != 2 || classes["4xx"] != 1 {
		t.Fatalf("usersvc_upstream_requests_total = %v", classes)
	}
	if h := families["usersvc_upstream_request_duration_seconds"].GetMetric(); len(h) != 1 || h[0].GetHistogram().GetSampleCount() != 3 {
		t.Fatal("latency histogram did not count 3 requests")
	}
	var upstreamRoute float64
	for _, m := range families["usersvc_http_requests_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "route" && l.GetValue() == "upstream" {
				upstreamRoute += m.GetCounter().GetValue()
			}
		}
	}
	if upstreamRoute != 3 {
		t.Fatalf("route=\"upstream\" counted %v requests, want 3", upstreamRoute)
	}
	for _, leak := range []string{"secret-name", "popular_tables", "hive:"} {
		if strings.Contains(text, leak) {
			t.Fatalf("a raw path (%s) became a metric label", leak)
		}
	}
}

// startStandin builds and runs the metadata stand-in of the pass-through
// demo (examples/amundsen/standin) on a loopback port.
func startStandin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "standin")
	if out, err := exec.Command("go", "build", "-o", bin, "../../examples/amundsen/standin").CombinedOutput(); err != nil {
		t.Fatalf("go build standin: %v\n%s", err, out)
	}
	addr := freePort(t)
	startUntilHealthy(t, exec.Command(bin, "-addr", addr), "http://"+addr+"/healthcheck")
	return addr
}

// TestBinaryFrontendThroughOneBaseURL is the two-process demo as the
// Amundsen frontend would use it: one METADATASERVICE_BASE, a bearer token
// on every call (amundsen_application/api/utils/request_utils.py), users
// from usersvc and every other metadata route from the upstream, all of it
// authenticated by usersvc.
func TestBinaryFrontendThroughOneBaseURL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binaries")
	}
	standin := startStandin(t)
	iss := issuer.Start(t)
	_, addr := startBinary(t, "FLASK_OIDC_CONFIG_URL="+iss.DiscoveryURL(), "OIDC_AUDIENCE="+issuer.Audience,
		"METADATA_UPSTREAM_URL=http://"+standin, "DIRECTORY_FILE=../../examples/directory.json",
		"EMBEDDED_CATALOG_FILE=../../examples/catalog.json", "EMBEDDED_DB_PATH="+filepath.Join(t.TempDir(), "usersvc.db"))
	base := "http://" + addr
	token := "Bearer " + iss.Token(t, iss.Claims(time.Now(), "katherine.johnson@example.com"))
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	call := func(method, path, body, auth string) (int, string) {
		t.Helper()
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		req, _ := http.NewRequest(method, base+path, r)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		method, path, body string
		status             int
		contains           string
	}{
		// usersvc: resolved from the directory file, written, served.
		{"GET", "/user/katherine.johnson@example.com", "", 200, `"full_name":"Katherine Johnson"`},
		{"PUT", "/user/katherine.johnson@example.com/follow/table/hive://gold.sales/orders", "", 200, ""},
		{"GET", "/user/katherine.johnson@example.com/follow/", "", 200, `"name":"orders"`},
		// The stand-in: keys with "//" arrive intact, writes land there.
		{"GET", "/table/hive://gold.sales/orders", "", 200, `"key":"hive://gold.sales/orders"`},
		{"PUT", "/table/hive://gold.sales/orders/owner/katherine.johnson@example.com", "", 200, "is added successfully"},
		{"PUT", "/table/hive://gold.sales/orders/description", `{"description":"Orders, one per row."}`, 200, ""},
		{"GET", "/table/hive://gold.sales/orders/description", "", 200, `"description":"Orders, one per row."`},
		{"GET", "/table/hive://gold.sales/orders", "", 200, `"user_id":"katherine.johnson@example.com"`},
		{"GET", "/popular_tables/", "", 200, `"popular_tables":[`},
		{"GET", "/table/hive://gold.sales/nope", "", 404, "does not exist"},
	} {
		status, body := call(tc.method, tc.path, tc.body, token)
		if status != tc.status || !strings.Contains(body, tc.contains) {
			t.Errorf("%s %s = %d %s, want %d containing %q", tc.method, tc.path, status, body, tc.status, tc.contains)
		}
	}
	// Without a token nothing is served or written, on either side.
	for _, p := range []string{"/user/katherine.johnson@example.com", "/table/hive://gold.sales/orders", "/popular_tables/"} {
		if status, _ := call("GET", p, "", ""); status != http.StatusUnauthorized {
			t.Errorf("GET %s without a token = %d", p, status)
		}
	}
	if status, _ := call("PUT", "/table/hive://gold.sales/refunds/description", `{"description":"mallory"}`, ""); status != http.StatusUnauthorized {
		t.Errorf("unauthenticated PUT = %d", status)
	}
	if _, body := call("GET", "/table/hive://gold.sales/refunds/description", "", token); strings.Contains(body, "mallory") {
		t.Fatal("an unauthenticated write reached the upstream")
	}
	if status, body := call("GET", "/healthcheck", "", ""); status != 200 || !strings.Contains(body, `"upstream":{"status":"ok"}`) {
		t.Fatalf("/healthcheck = %d %s", status, body)
	}
}
