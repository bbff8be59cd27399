package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usersvc/usersvc/testsupport/introspector"
	"github.com/usersvc/usersvc/testsupport/syncbuffer"
)

// startLoggedBinary is startBinary keeping the logs.
func startLoggedBinary(t *testing.T, logs *syncbuffer.Buffer, env ...string) string {
	t.Helper()
	addr := freePort(t)
	cmd := exec.Command(buildBinary(t))
	cmd.Env = append([]string{"LISTEN_ADDR=" + addr}, env...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("binary not ready in 10s:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBinaryWithOrgStyleProvider: usersvc configured as Amundsen's Okta
// guide configures the org authorization server (discovery at the issuer
// root, no OIDC_AUDIENCE) plus the client secret, against a real provider
// minting opaque access tokens; everything measured from outside.
func TestBinaryWithOrgStyleProvider(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary and a node process")
	}
	const floodRate = 10
	op := introspector.Start(t, introspector.Options{})
	logs := &syncbuffer.Buffer{}
	metricsAddr := freePort(t)
	addr := startLoggedBinary(t, logs,
		"METRICS_ADDR="+metricsAddr,
		"FLASK_OIDC_CONFIG_URL="+op.DiscoveryURL(),
		"FLASK_OIDC_CLIENT_ID="+introspector.ResourceServer,
		"FLASK_OIDC_CLIENT_SECRET="+op.Secret(introspector.ResourceServer),
		"FLASK_OIDC_USER_ID_FIELD=email",
		"OIDC_REQUIRED_SCOPES=users.read",
		"OIDC_WRITE_GROUPS=data-stewards",
		"OIDC_INTROSPECTION_RATE="+strconv.Itoa(floodRate),
		// Every request here comes from one address: the process-wide
		// bucket is what this test measures (the per-address share has
		// TestBinaryIntrospectionFloodIsFair).
		"OIDC_INTROSPECTION_CLIENT_RATE="+strconv.Itoa(floodRate),
		"LOG_LEVEL=debug",
		"EMBEDDED_DB_PATH="+filepath.Join(t.TempDir(), "usersvc.db"),
	)
	base := "http://" + addr
	before, _ := scrape(t, metricsAddr)

	steward := op.Token(t, introspector.TokenOptions{Username: "steward.login", Email: "steward@example.com", Groups: []string{"data-stewards"}})
	resp, body := call(t, http.MethodPut, base+"/user", steward, `{"email":"ada@example.com","first_name":"Ada","last_name":"Lovelace"}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT /user with an opaque steward token = %d %s", resp.StatusCode, body)
	}
	resp, body = call(t, http.MethodGet, base+"/user/ada@example.com", steward, "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"full_name":"Ada Lovelace"`) {
		t.Fatalf("GET /user with an opaque token = %d %s", resp.StatusCode, body)
	}
	envelope, _ := json.Marshal(map[string]any{"access_token": steward, "expires_at": time.Now().Add(time.Hour).Unix(), "refresh_token": "r"})
	if resp, body := call(t, http.MethodGet, base+"/user/ada@example.com", string(envelope), ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("Amundsen JSON form with an opaque token = %d %s", resp.StatusCode, body)
	}

	garbage := "gArbAgE-tOkEn-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	resp, body = call(t, http.MethodGet, base+"/user/ada@example.com", garbage, "")
	if resp.StatusCode != http.StatusUnauthorized || body != `{"message":"token is not active"}` ||
		!strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("garbage token = %d %q %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
	}
	noScope := op.Token(t, introspector.TokenOptions{Email: "ada@example.com", Scopes: []string{"users.write"}})
	resp, body = call(t, http.MethodGet, base+"/user/ada@example.com", noScope, "")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
		t.Fatalf("token without the scope = %d %q %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
	}

	after, _ := scrape(t, metricsAddr)
	delta := func(name string, labels map[string]string) float64 {
		return value(after, name, labels) - value(before, name, labels)
	}
	for _, w := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		// steward once (then cached), garbage, noScope.
		{"usersvc_introspection_total", map[string]string{"result": "active"}, 2},
		{"usersvc_introspection_total", map[string]string{"result": "inactive"}, 1},
		{"usersvc_auth_total", map[string]string{"outcome": "ok"}, 3},
		{"usersvc_auth_total", map[string]string{"outcome": "inactive"}, 1},
		{"usersvc_auth_total", map[string]string{"outcome": "insufficient_scope"}, 1},
	} {
		if got := delta(w.name, w.labels); got != w.want {
			t.Errorf("%s%v grew by %v, want %v", w.name, w.labels, got, w.want)
		}
	}
	if got := value(after, "usersvc_introspection_duration_seconds", nil); got < 3 {
		t.Errorf("introspection latency histogram count = %v, want ≥ 3", got)
	}

	// A flood of 1,000 random tokens from 50 connections, while one client
	// keeps using its cached token: the provider sees at most the token
	// bucket, the flood gets 401 (introspected: not active) or 503 with
	// Retry-After, and the cached token stays 200.
	callsBefore := op.Introspections(t)
	floodStart := time.Now()
	var (
		mu             sync.Mutex
		codes          = map[int]int{}
		badRetryAfter  int
		cachedLatency  []time.Duration
		cachedFailures int
		tokens         = make(chan string)
		wg             sync.WaitGroup
	)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 5 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	get := func(tok string) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodGet, base+"/user/ada@example.com", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}
	for range 50 {
		wg.Go(func() {
			for tok := range tokens {
				resp, err := get(tok)
				mu.Lock()
				if err != nil {
					codes[0]++
				} else {
					codes[resp.StatusCode]++
					if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); resp.StatusCode == http.StatusServiceUnavailable && (err != nil || ra < 1) {
						badRetryAfter++
					}
				}
				mu.Unlock()
			}
		})
	}
	flooding, measured := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(measured)
		for {
			select {
			case <-flooding:
				return
			default:
			}
			s := time.Now()
			resp, err := get(steward)
			cachedLatency = append(cachedLatency, time.Since(s))
			if err != nil || resp.StatusCode != http.StatusOK {
				cachedFailures++
			}
		}
	}()
	for i := range 1000 {
		tokens <- fmt.Sprintf("flood-%d-%d", i, time.Now().UnixNano())
	}
	close(tokens)
	wg.Wait()
	close(flooding)
	<-measured
	floodElapsed := time.Since(floodStart)
	floodCalls := op.Introspections(t) - callsBefore
	slices.Sort(cachedLatency)
	p99 := cachedLatency[len(cachedLatency)*99/100]
	t.Logf("flood from outside: %d requests in %s, answers %v, %d introspection calls (bound %d); cached token: %d requests, p99 %s",
		1000, floodElapsed.Round(time.Millisecond), codes, floodCalls, int(floodRate*floodElapsed.Seconds())+floodRate+1, len(cachedLatency), p99)
	if floodCalls > int(floodRate*floodElapsed.Seconds())+floodRate+1 {
		t.Errorf("%d introspection calls in %s exceed the token bucket", floodCalls, floodElapsed)
	}
	if codes[http.StatusUnauthorized]+codes[http.StatusServiceUnavailable] != 1000 || badRetryAfter > 0 {
		t.Errorf("flood answers %v (%d 503s without a valid Retry-After), want only 401 and 503", codes, badRetryAfter)
	}
	if cachedFailures > 0 || p99 > time.Second {
		t.Errorf("cached token during the flood: %d failures, p99 %s", cachedFailures, p99)
	}

	// Let the token bucket refill, so the outage below is met by a real
	// call and not by the rate cap.
	time.Sleep(time.Second + 100*time.Millisecond) // burst = rate: full in 1s

	// Provider gone: the cached token keeps working, a fresh one is 503
	// with Retry-After, inside the frontend's 3s.
	fresh := op.Token(t, introspector.TokenOptions{Email: "bob@example.com"})
	op.Stop()
	if resp, body := call(t, http.MethodGet, base+"/user/ada@example.com", steward, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("cached token with the provider down = %d %s", resp.StatusCode, body)
	}
	start := time.Now()
	resp, body = call(t, http.MethodGet, base+"/user/ada@example.com", fresh, "")
	elapsed := time.Since(start)
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); resp.StatusCode != http.StatusServiceUnavailable || err != nil || ra < 1 || elapsed > 3*time.Second {
		t.Fatalf("fresh token with the provider down = %d Retry-After %q after %s: %s", resp.StatusCode, resp.Header.Get("Retry-After"), elapsed, body)
	}
	if resp, _ := call(t, http.MethodGet, base+"/readyz", "", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz with the introspection endpoint down = %d, want 200 (keys are loaded)", resp.StatusCode)
	}

	time.Sleep(2 * flushEvery) // info lines are batched
	out := logs.String()
	for name, tok := range map[string]string{"steward": steward, "garbage": garbage, "no-scope": noScope, "fresh": fresh} {
		if strings.Contains(out, tok) {
			t.Errorf("the %s token appears in the logs", name)
		}
	}
	// 990 rate-limited answers and the outage produced no warning line each:
	// the authenticator warns once per failed call it makes.
	if n := strings.Count(out, `"msg":"dependency failure"`); n != 0 {
		t.Errorf("%d per-request warning lines for authentication 503s", n)
	}
	if n := strings.Count(out, `"msg":"token introspection failed"`); n != 1 {
		t.Errorf("%d introspection failure lines for one failed call, want 1", n)
	}
	if strings.Contains(out, op.Secret(introspector.ResourceServer)) {
		t.Error("the client secret appears in the logs")
	}
	if !strings.Contains(out, `"token_validation":"auto"`) {
		t.Errorf("start-up log does not name the validation mode:\n%s", out)
	}
}

// TestIntrospectionWithoutSecretExits2: OIDC_TOKEN_VALIDATION=introspection
// cannot work without client credentials.
func TestIntrospectionWithoutSecretExits2(t *testing.T) {
	var stderr strings.Builder
	code := run(context.Background(), nil, envMap(
		"FLASK_OIDC_CONFIG_URL", "https://org.okta.com/.well-known/openid-configuration",
		"FLASK_OIDC_CLIENT_ID", "0oa-client", "OIDC_TOKEN_VALIDATION", "introspection",
	), io.Discard, &stderr)
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if code != exitConfig || len(lines) != 1 || !strings.Contains(lines[0], "OIDC_TOKEN_VALIDATION") {
		t.Fatalf("exit %d, stderr %q: want 2 and one line naming OIDC_TOKEN_VALIDATION", code, stderr.String())
	}
}

// TestBinaryOpaqueCallerWritesOwnData: Okta's org authorization server
// answers introspection with the login as username and no email claim
// (developer.okta.com, "Introspect a token": sub and username are the
// login). A caller outside OIDC_WRITE_GROUPS may still write their own
// data, by login or by email, since both name the node keyed by their email;
// another person's data stays refused.
func TestBinaryOpaqueCallerWritesOwnData(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary and a node process")
	}
	op := introspector.Start(t, introspector.Options{})
	addr := startLoggedBinary(t, &syncbuffer.Buffer{}, append(orgServerEnv(op),
		"OIDC_WRITE_GROUPS=admins",
		"DIRECTORY_FILE=../../examples/directory.json", "EMBEDDED_CATALOG_FILE=../../examples/catalog.json",
		"EMBEDDED_DB_PATH="+filepath.Join(t.TempDir(), "usersvc.db"),
	)...)
	base := "http://" + addr
	grace := op.Token(t, introspector.TokenOptions{Username: "ghopper", UID: "00u1grace0000000003"})
	for _, tc := range []struct {
		id   string
		want int
	}{
		{"ghopper", http.StatusOK},
		{"grace.hopper@example.com", http.StatusOK},
		{"GHopper", http.StatusOK},
		{"alan.turing@example.com", http.StatusForbidden},
	} {
		resp, body := call(t, http.MethodPut, base+"/user/"+tc.id+"/follow/table/hive://gold.sales/orders", grace, "")
		if resp.StatusCode != tc.want {
			t.Errorf("PUT follow as %s with ghopper's opaque token = %d %s, want %d", tc.id, resp.StatusCode, body, tc.want)
		}
	}
	resp, body := call(t, http.MethodGet, base+"/user/grace.hopper@example.com/follow/", grace, "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"name":"orders"`) {
		t.Fatalf("grace's follows = %d %s", resp.StatusCode, body)
	}
}

// TestBinaryIntrospectionFloodIsFair: one source sending random opaque
// tokens (with forged X-Forwarded-For values, which no trusted proxy vouches
// for) spends only its own share of the introspection rate; fresh valid
// tokens from another address keep getting 200 throughout, and the flood
// causes no more calls than its share allows. Loopback has every 127/8
// address, so the two sources are real peers.
func TestBinaryIntrospectionFloodIsFair(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary and a node process")
	}
	const rate, share = 20, 5 // OIDC_INTROSPECTION_RATE and its default per-client quarter
	op := introspector.Start(t, introspector.Options{})
	addr := startLoggedBinary(t, &syncbuffer.Buffer{}, append(orgServerEnv(op),
		"OIDC_INTROSPECTION_RATE="+strconv.Itoa(rate),
		"EMBEDDED_DB_PATH="+filepath.Join(t.TempDir(), "usersvc.db"),
		"EMBEDDED_CATALOG_FILE=../../examples/catalog.json",
	)...)
	base := "http://" + addr
	from := func(ip string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
		c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 16}, Timeout: 5 * time.Second}
		t.Cleanup(c.CloseIdleConnections)
		return c
	}
	flooder, member := from("127.0.0.2"), from("127.0.0.1")
	get := func(c *http.Client, tok, forwarded string) int {
		req, _ := http.NewRequest(http.MethodGet, base+"/user", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		if forwarded != "" {
			req.Header.Set("X-Forwarded-For", forwarded)
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	// Mint the member's tokens first: the provider's own token endpoint is
	// not what is measured.
	fresh := make([]string, 6)
	for i := range fresh {
		fresh[i] = op.Token(t, introspector.TokenOptions{Username: fmt.Sprintf("member%d", i)})
	}
	callsBefore := op.Introspections(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var floodMu sync.Mutex
	floodCodes := map[int]int{}
	start := time.Now()
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				code := get(flooder, fmt.Sprintf("flood-%d-%d-%d", w, i, time.Now().UnixNano()), fmt.Sprintf("10.%d.%d.%d", w, i%250, i/250%250))
				floodMu.Lock()
				floodCodes[code]++
				floodMu.Unlock()
			}
		})
	}
	time.Sleep(500 * time.Millisecond) // the flood has spent every bucket it can
	var memberCodes []int
	for _, tok := range fresh {
		memberCodes = append(memberCodes, get(member, tok, ""))
		time.Sleep(400 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)
	calls := op.Introspections(t) - callsBefore
	t.Logf("flood for %s: answers %v; member answers %v; %d introspection calls", elapsed.Round(time.Millisecond), floodCodes, memberCodes, calls)
	for i, code := range memberCodes {
		if code != http.StatusOK {
			t.Errorf("fresh valid token %d from another address during the flood = %d, want 200", i, code)
		}
	}
	// The flood's share (burst, then the rate) plus the member's 6 calls.
	if bound := share + int(share*elapsed.Seconds()) + 1 + len(fresh); calls > bound {
		t.Errorf("%d introspection calls in %s: the flooding source spent more than its share (bound %d)", calls, elapsed, bound)
	}
	if floodCodes[http.StatusUnauthorized] == 0 || floodCodes[http.StatusServiceUnavailable] == 0 {
		t.Errorf("flood answers %v: want some introspected (401) and some over the share (503)", floodCodes)
	}
}

// TestBinaryIntrospectionCachedWithTokenCacheOff: OIDC_TOKEN_CACHE_SIZE
// sizes the verified-JWT cache only; introspection answers are still
// remembered, so one opaque token used 200 times costs one call.
func TestBinaryIntrospectionCachedWithTokenCacheOff(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary and a node process")
	}
	op := introspector.Start(t, introspector.Options{})
	addr := startLoggedBinary(t, &syncbuffer.Buffer{}, append(orgServerEnv(op),
		"OIDC_TOKEN_CACHE_SIZE=0",
		"EMBEDDED_DB_PATH="+filepath.Join(t.TempDir(), "usersvc.db"),
	)...)
	tok := op.Token(t, introspector.TokenOptions{Username: "ghopper"})
	before := op.Introspections(t)
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				resp, _ := call(t, http.MethodGet, "http://"+addr+"/user", tok, "")
				mu.Lock()
				codes[resp.StatusCode]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if calls := op.Introspections(t) - before; codes[http.StatusOK] != 200 || calls != 1 {
		t.Fatalf("one opaque token 200 times with OIDC_TOKEN_CACHE_SIZE=0: answers %v, %d introspection calls; want 200×200 and 1 call", codes, calls)
	}
}

// orgServerEnv configures the binary for op as Okta's org authorization
// server is configured: discovery at the issuer, usersvc's client secret
// for introspection.
func orgServerEnv(op *introspector.Provider) []string {
	return []string{
		"FLASK_OIDC_CONFIG_URL=" + op.DiscoveryURL(),
		"FLASK_OIDC_CLIENT_ID=" + introspector.ResourceServer,
		"FLASK_OIDC_CLIENT_SECRET=" + op.Secret(introspector.ResourceServer),
	}
}
