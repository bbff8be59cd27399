package main

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usersvc/usersvc/testsupport/neo4jserver"
	"github.com/usersvc/usersvc/testsupport/syncbuffer"
	"github.com/usersvc/usersvc/testsupport/tcpproxy"
)

// TestBinaryNeo4jProcessStoppedUnderLoad: the Neo4j process itself stops
// while the binary serves user reads from 8 clients. Readiness turns 503
// within one probe, reads answer 503 and never 500; a new Neo4j process
// behind the same address brings readiness and reads back without
// restarting usersvc, and no goroutines are left over.
func TestBinaryNeo4jProcessStoppedUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two Neo4j processes and the binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	first, err := neo4jserver.Start(ctx, neo4jserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Stop()
	// The relay is Neo4j's address as usersvc knows it (a Kubernetes
	// service name, say): the process behind it changes.
	relay := tcpproxy.Start(t, boltAddr(first))
	metricsAddr := freePort(t)
	addr := startLoggedBinary(t, &syncbuffer.Buffer{}, append([]string{"AUTH_DISABLED=true", "METRICS_ADDR=" + metricsAddr,
		"DIRECTORY_FILE=../../examples/directory.json"}, proxyEnv(first, relay.Addr())...)...)
	base := "http://" + addr
	people := []string{"marie.curie@example.com", "alan.turing@example.com", "grace.hopper@example.com", "ada.lovelace@example.com"}
	// Warm up (on a loaded CI machine the first writes may take a while).
	for _, p := range people {
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, body := call(t, http.MethodGet, base+"/user/"+p, "", "")
			if resp.StatusCode == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s = %d %s", p, resp.StatusCode, body)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	families, _ := scrape(t, metricsAddr)
	goroutinesBefore := value(families, "go_goroutines", nil)

	const (
		up = iota
		down
		back
	)
	var phase atomic.Int32
	var mu sync.Mutex
	codes := map[int32]map[int]int{up: {}, down: {}, back: {}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ph := phase.Load()
				code := 0
				if resp, err := client.Get(base + "/user/" + people[(w+i)%len(people)]); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					code = resp.StatusCode
				}
				// A read in flight when the phase changed overlapped the
				// outage (phases run up, down, back): count it there.
				if phase.Load() != ph {
					ph = down
				}
				mu.Lock()
				codes[ph][code]++
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()
	time.Sleep(time.Second)

	phase.Store(down)
	first.Stop()
	readyFailedAfter := waitReadyz(t, base, http.StatusServiceUnavailable, 5*time.Second, "Neo4j stopped")
	// With the store known to be down, a user read answers 503 within 1s
	// (the frontend's whole page has 3s).
	var slowest time.Duration
	for i := range 10 {
		start := time.Now()
		resp, body := call(t, http.MethodGet, base+"/user/"+people[i%len(people)], "", "")
		if took := time.Since(start); took > slowest {
			slowest = took
		}
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("read with Neo4j down = %d %s (Retry-After %q), want 503 with Retry-After", resp.StatusCode, body, resp.Header.Get("Retry-After"))
		}
	}
	if slowest > time.Second {
		t.Errorf("the slowest of 10 reads with Neo4j down took %s, want at most 1s", slowest)
	}
	time.Sleep(time.Second)

	second, err := neo4jserver.Start(ctx, neo4jserver.Options{Password: first.Password})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Stop()
	relay.SetTarget(boltAddr(second))
	waitReadyz(t, base, http.StatusOK, 30*time.Second, "a Neo4j process was back")
	phase.Store(back)
	// Reads that began during the outage are still waiting out their
	// connection attempts (issue 27 bounds that to 1s); give new ones room.
	time.Sleep(10 * time.Second)
	close(stop)
	wg.Wait()
	stop = make(chan struct{})

	t.Logf("readiness 503 %s after the stop; reads while known down answered within %s; answers while up %v, down %v, back %v",
		readyFailedAfter.Round(time.Millisecond), slowest.Round(time.Millisecond), codes[up], codes[down], codes[back])
	// A probe gives the store 2s; the chart probes readiness every 5s (values.yaml probes.readiness).
	if readyFailedAfter > 5*time.Second {
		t.Errorf("readiness turned 503 %s after the stop, want within one probe (2s timeout, 5s period)", readyFailedAfter)
	}
	for ph, name := range map[int32]string{up: "up", down: "down", back: "back"} {
		for code, n := range codes[ph] {
			ok := code == http.StatusOK || ph == down && code == http.StatusServiceUnavailable
			if !ok {
				t.Errorf("while Neo4j was %s: %d answers %d", name, n, code)
			}
		}
	}
	if codes[down][http.StatusServiceUnavailable] == 0 {
		t.Error("no 503 while Neo4j was down")
	}
	if codes[back][http.StatusOK] == 0 {
		t.Error("no reads served once Neo4j was back")
	}
	client.CloseIdleConnections()
	time.Sleep(time.Second)
	families, _ = scrape(t, metricsAddr)
	if after := value(families, "go_goroutines", nil); after > goroutinesBefore+5 {
		t.Errorf("goroutines %v before the outage, %v after recovery: a leak", goroutinesBefore, after)
	}
}

// waitReadyz polls /readyz until it answers status, failing the test past
// within, and returns how long that took (since the event named).
func waitReadyz(t *testing.T, base string, status int, within time.Duration, since string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		resp, _ := call(t, http.MethodGet, base+"/readyz", "", "")
		if resp.StatusCode == status {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("/readyz still %d %s after %s, want %d", resp.StatusCode, within, since, status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
