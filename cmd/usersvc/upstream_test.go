package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usersvc/usersvc/proxy/proxytest"
	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/amundsen"
	"github.com/usersvc/usersvc/testsupport/issuer"
	"github.com/usersvc/usersvc/testsupport/syncbuffer"
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

// TestBinaryOneBaseURLOverAmundsenMetadata is the pass-through demo (make
// run-passthrough) as Amundsen's frontend uses it, in front of Amundsen's
// real metadata service (amundsen-metadata 3.13.0) on a real Neo4j: one
// METADATASERVICE_BASE, a bearer token on every call
// (amundsen_application/api/utils/request_utils.py), users from usersvc
// (resolved from the directory file) and every other metadata route from
// Amundsen, all of it authenticated by usersvc. Amundsen's answers are the
// ones its code gives (metadata_service/api/table.py,
// api/popular_tables.py, proxy/neo4j_proxy.py in the venv), run on Neo4j
// 5.26 and 4.4; where the two differ each is asserted.
func TestBinaryOneBaseURLOverAmundsenMetadata(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Neo4j, Amundsen's metadata service and the binary")
	}
	if _, err := amundsen.Python(); errors.Is(err, amundsen.ErrNoPython) {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const (
		person   = "katherine.johnson@example.com" // in examples/directory.json
		orders   = proxytest.TableOrders           // "hive://gold.sales/orders"
		accounts = proxytest.TableAccounts         // no description
		unknown  = "hive://gold.sales/nope"
	)
	srv := cleanNeo4j(t)
	// Amundsen 3.13.0's table detail query (_exec_col_query: a map built
	// from grouping keys beside collect() in one WITH) is refused by Neo4j
	// 5 with Neo.ClientError.Statement.SyntaxError; on 4.4 it runs.
	onNeo4j4 := strings.HasPrefix(srv.Version, "4.")

	loader := graphLoader(t, srv)
	// The fixture catalog and ten readers of orders: Amundsen's popular
	// tables are those with at least POPULAR_RESOURCES_MINIMUM_READER_COUNT
	// (10, metadata_service/config.py) distinct READ_BY readers
	// (_get_global_popular_resources_uris); events, read by one, is not.
	cat := proxytest.Catalog()
	for i := 1; i <= 10; i++ {
		cat.Reads = append(cat.Reads, schema.ReadRecord{User: fmt.Sprintf("reader%02d@example.com", i), Table: orders, ReadCount: int64(i)})
	}
	cat.Reads = append(cat.Reads, schema.ReadRecord{User: "reader01@example.com", Table: proxytest.TableEvents, ReadCount: 50})
	if err := loader.LoadCatalog(ctx, cat); err != nil {
		t.Fatal(err)
	}
	addOrdersColumns(t, srv)

	m := startMetadataOn(ctx, t, srv)
	iss := issuer.Start(t)
	logs := &syncbuffer.Buffer{}
	addr := startLoggedBinary(t, logs, append([]string{
		"METRICS_ADDR=127.0.0.1:0",
		"FLASK_OIDC_CONFIG_URL=" + iss.DiscoveryURL(),
		"OIDC_AUDIENCE=" + issuer.Audience,
		"DIRECTORY_FILE=" + exampleDirectory(t),
		"METADATA_UPSTREAM_URL=" + m.URL,
		// Amundsen's first table detail on a cold Neo4j 4.4 plans a dozen
		// queries (over 4s on a loaded machine): room beyond the 10s default.
		"UPSTREAM_TIMEOUT=60s",
	}, proxyEnv(srv, boltAddr(srv))...)...)
	defer func() {
		if t.Failed() {
			t.Logf("Neo4j %s\n--- usersvc output ---\n%s\n--- metadata output ---\n%s", srv.Version, logs.String(), m.Output())
		}
	}()

	base := "http://" + addr
	token := "Bearer " + iss.Token(t, iss.Claims(time.Now(), person))
	client := &http.Client{Timeout: 90 * time.Second}
	defer client.CloseIdleConnections()
	type answer struct {
		status int
		header http.Header
		body   string
	}
	probes := 0
	// call sends one request through usersvc's base URL; it carries a
	// fresh X-Usersvc-Probe, returned, under which Amundsen logs the
	// request if it gets there. A body goes as JSON, as the frontend
	// sends it, unless contentType says otherwise.
	call := func(method, path, body, contentType, auth string) (answer, string) {
		t.Helper()
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, base+path, r)
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			if contentType == "" {
				contentType = "application/json"
			}
			req.Header.Set("Content-Type", contentType)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		probes++
		probe := fmt.Sprintf("one-base-url-%d", probes)
		req.Header.Set(amundsen.ProbeHeader, probe)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return answer{resp.StatusCode, resp.Header, string(b)}, probe
	}
	decode := func(a answer) any {
		t.Helper()
		var v any
		if err := json.Unmarshal([]byte(a.body), &v); err != nil {
			t.Fatalf("not JSON (%d): %q", a.status, a.body)
		}
		return v
	}
	// amundsenSays sends a request with the token and checks that it
	// reached Amundsen's Flask app with its target untouched ("//" in keys
	// included) and that the named route took it, then that usersvc
	// answered with Amundsen's status and JSON body, want (nil for JSON
	// null).
	amundsenSays := func(method, path, body, endpoint string, status int, want any) answer {
		t.Helper()
		a, probe := call(method, path, body, "", token)
		if r, err := m.Route(probe); err != nil || r.RawURI != path || r.Path != path || r.Endpoint != endpoint || r.Method != method {
			t.Errorf("%s %s reached Amundsen as %+v (%v), want the target untouched and endpoint %s", method, path, r, err, endpoint)
		}
		if a.status != status {
			t.Errorf("%s %s = %d %s, want %d", method, path, a.status, a.body, status)
			return a
		}
		if got := decode(a); !reflect.DeepEqual(got, want) {
			t.Errorf("%s %s = %d %s, want %#v", method, path, a.status, a.body, want)
		}
		return a
	}
	// amundsenRaises: the view raised and gunicorn answered its own bare
	// 500 (LocalConfig sets DEBUG, so Flask propagates the exception and
	// Amundsen's after_request header is missing); usersvc passes it on
	// unchanged. reason must be in Amundsen's output, checked once it has
	// stopped and all of its output is in.
	var reasons []string
	amundsenRaises := func(method, path, body, contentType, endpoint, reason string) {
		t.Helper()
		a, probe := call(method, path, body, contentType, token)
		if r, err := m.Route(probe); err != nil || r.RawURI != path || r.Endpoint != endpoint {
			t.Errorf("%s %s reached Amundsen as %+v (%v), want endpoint %s", method, path, r, err, endpoint)
		}
		if a.status != http.StatusInternalServerError || a.header.Get("X-Amundsen-Endpoint") != "" || !strings.Contains(a.body, "<title>Internal Server Error</title>") {
			t.Errorf("%s %s = %d %v %q, want gunicorn's bare 500 passed through", method, path, a.status, a.header, a.body)
		}
		reasons = append(reasons, reason)
	}
	usersvcSays := func(method, path string, status int, contains string) {
		t.Helper()
		a, _ := call(method, path, "", "", token)
		if a.status != status || !strings.Contains(a.body, contains) {
			t.Errorf("%s %s = %d %s, want %d containing %q", method, path, a.status, a.body, status, contains)
		}
	}

	// usersvc: a person unknown to the graph is resolved from the
	// directory file, written, served; a follow written and listed.
	usersvcSays("GET", "/user/"+person, 200, `"full_name":"Katherine Johnson"`)
	usersvcSays("PUT", "/user/"+person+"/follow/table/"+orders, 200, "is added successfully")
	usersvcSays("GET", "/user/"+person+"/follow/", 200, `"name":"orders"`)

	// Amundsen, TableDescriptionAPI (api/table.py): GET answers
	// {"description": ...} (get_resource_description), PUT answers
	// None, 200 (JSON null) after put_resource_description.
	amundsenSays("GET", "/table/"+orders+"/description", "", "api.tabledescriptionapi", 200, map[string]any{"description": "One row per order."})
	amundsenSays("PUT", "/table/"+orders+"/description", `{"description":"Orders, one per row."}`, "api.tabledescriptionapi", 200, nil)
	amundsenSays("GET", "/table/"+orders+"/description", "", "api.tabledescriptionapi", 200, map[string]any{"description": "Orders, one per row."})
	// The PUT reads json.loads(request.data); a form-typed body (curl -d
	// without -H 'Content-Type: application/json') is parsed into
	// request.form by Werkzeug, request.data is empty, json.loads raises,
	// and only NotFoundException is caught: a 500, nothing written.
	amundsenRaises("PUT", "/table/"+orders+"/description", `{"description":"form-typed"}`, "application/x-www-form-urlencoded",
		"api.tabledescriptionapi", "json.decoder.JSONDecodeError: Expecting value")
	amundsenSays("GET", "/table/"+orders+"/description", "", "api.tabledescriptionapi", 200, map[string]any{"description": "Orders, one per row."})

	// TableOwnerAPI.put (api/table.py): add_resource_owner MERGEs the
	// User node and both edges. usersvc then lists the table as owned.
	amundsenSays("PUT", "/table/"+orders+"/owner/"+person, "", "api.tableownerapi", 200,
		map[string]any{"message": "The owner " + person + " for table_uri " + orders + " is added successfully"})
	usersvcSays("GET", "/user/"+person+"/own/", 200, `"table":[{"database":"hive","cluster":"gold","schema":"sales","name":"orders","description":"Orders, one per row."}]`)
	if n := countNodes(t, srv, "MATCH (u:User {key: $user})-[r:OWNER_OF]->(:Table {key: $table})-[:OWNER]->(u) RETURN count(r)",
		map[string]any{"user": person, "table": orders}); n != 1 {
		t.Errorf("%d owner edge pairs after Amundsen's owner PUT, want 1", n)
	}

	// PopularTablesAPI (api/popular_tables.py): PopularTableSchema of the
	// tables with ten readers or more, description included.
	amundsenSays("GET", "/popular_tables/", "", "api.populartablesapi", 200, map[string]any{"popular_tables": []any{
		map[string]any{"database": "hive", "cluster": "gold", "schema": "sales", "name": "orders", "description": "Orders, one per row."},
	}})

	// An unknown table. The description GET finds no record and answers
	// null (get_single_record returns None; no NotFoundException); the PUT
	// finds no node to link (put_resource_description raises
	// NotFoundException): 404. The owner PUT's RuntimeError is caught: 500.
	amundsenSays("GET", "/table/"+unknown+"/description", "", "api.tabledescriptionapi", 200, map[string]any{"description": nil})
	amundsenSays("PUT", "/table/"+unknown+"/description", `{"description":"x"}`, "api.tabledescriptionapi", 404,
		map[string]any{"message": "table_uri " + unknown + " does not exist"})
	amundsenSays("PUT", "/table/"+unknown+"/owner/"+person, "", "api.tableownerapi", 500,
		map[string]any{"message": "The owner " + person + " for table_uri " + unknown + " is not added successfully"})

	// TableDetailAPI (api/table.py, get_table in proxy/neo4j_proxy.py).
	if onNeo4j4 {
		amundsenSays("GET", "/table/"+unknown, "", "api.tabledetailapi", 404, map[string]any{"message": "table_uri " + unknown + " does not exist"})
		a, probe := call("GET", "/table/"+orders, "", "", token)
		if r, err := m.Route(probe); err != nil || r.RawURI != "/table/"+orders || r.Endpoint != "api.tabledetailapi" {
			t.Errorf("GET /table/%s reached Amundsen as %+v (%v)", orders, r, err)
		}
		td, _ := decode(a).(map[string]any)
		if a.status != 200 {
			t.Fatalf("GET /table/%s on Neo4j %s = %d %s", orders, srv.Version, a.status, a.body)
		}
		// get_table builds its Table without key (amundsen_common's
		// models/table.py leaves it None): "key" is null.
		for field, want := range map[string]any{"key": nil, "database": "hive", "cluster": "gold", "schema": "sales",
			"name": "orders", "description": "Orders, one per row."} {
			if td[field] != want {
				t.Errorf("table detail %s = %#v, want %#v", field, td[field], want)
			}
		}
		if cols := keysOf(td["columns"], "name"); !slices.Equal(cols, []string{"order_id", "amount"}) {
			t.Errorf("table detail columns = %v", cols)
		}
		if owners := keysOf(td["owners"], "email"); !slices.Equal(owners, []string{person}) {
			t.Errorf("table detail owners = %v", owners)
		}
		// _exec_usage_query: the top five READ edges by read_count.
		if readers, _ := jsonAt(td, "table_readers").([]any); len(readers) != 5 || jsonAt(td, "table_readers", 0, "read_count") != 10.0 ||
			jsonAt(td, "table_readers", 0, "user", "email") != "reader10@example.com" {
			t.Errorf("table detail table_readers = %v", td["table_readers"])
		}
	} else {
		const refused = "Aggregation column contains implicit grouping expressions"
		amundsenRaises("GET", "/table/"+orders, "", "", "api.tabledetailapi", refused)
		amundsenRaises("GET", "/table/"+unknown, "", "", "api.tabledetailapi", refused)
	}

	// Without a token, or with an expired one, usersvc answers 401 on both
	// sides and nothing reaches Amundsen.
	before, err := m.Routes()
	if err != nil {
		t.Fatal(err)
	}
	expired := "Bearer " + iss.Token(t, iss.Claims(time.Now().Add(-time.Hour), person))
	for _, auth := range []string{"", expired} {
		for _, r := range []struct{ method, path, body string }{
			{"GET", "/user/" + person, ""},
			{"PUT", "/user/" + person + "/follow/table/" + accounts, ""},
			{"GET", "/table/" + orders + "/description", ""},
			{"GET", "/table/" + orders, ""},
			{"GET", "/popular_tables/", ""},
			{"PUT", "/table/" + accounts + "/description", `{"description":"mallory"}`},
			{"PUT", "/table/" + accounts + "/owner/mallory@example.com", ""},
		} {
			if a, _ := call(r.method, r.path, r.body, "", auth); a.status != http.StatusUnauthorized {
				t.Errorf("%s %s with Authorization %.20q = %d %s, want 401", r.method, r.path, auth, a.status, a.body)
			}
		}
	}
	after, err := m.Routes()
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("%d unauthenticated requests reached Amundsen: %+v", len(after)-len(before), after[len(before):])
	}
	amundsenSays("GET", "/table/"+accounts+"/description", "", "api.tabledescriptionapi", 200, map[string]any{"description": nil})
	if n := countNodes(t, srv, "MATCH (u:User) WHERE u.key = 'mallory@example.com' OR (u)-[:FOLLOW]->(:Table {key: $accounts}) RETURN count(u)",
		map[string]any{"accounts": accounts}); n != 0 {
		t.Errorf("%d users written by the refused requests", n)
	}

	// The user routes never reached Amundsen.
	if got := routesTo(t, m, "/user"); len(got) != 0 {
		t.Errorf("user routes reached Amundsen: %+v", got)
	}
	// usersvc's /healthcheck (open) asks Amundsen's.
	a, _ := call("GET", "/healthcheck", "", "", "")
	if got := jsonAt(decode(a), "checks", "upstream", "status"); a.status != 200 || got != "ok" {
		t.Errorf("/healthcheck = %d %s", a.status, a.body)
	}
	if got := routesTo(t, m, "/healthcheck"); len(got) == 0 || got[len(got)-1].Endpoint != "api.healthcheckapi" || got[len(got)-1].Method != "GET" {
		t.Errorf("usersvc's health check reached Amundsen as %+v", got)
	}
	m.Stop() // its output is complete once it has exited
	out := m.Output()
	for _, reason := range reasons {
		if !strings.Contains(out, reason) {
			t.Errorf("Amundsen answered 500 but its output has no %q", reason)
		}
	}
}
