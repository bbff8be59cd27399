package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/usersvc/usersvc/proxy/proxytest"
	"github.com/usersvc/usersvc/testsupport/tcpproxy"
)

// TestBinaryAgainstNeo4jDownAtStart: the binary, pointed with Amundsen's
// PROXY_* names at a Neo4j that is down, stays up and not ready, answers 503
// JSON on store routes, then serves once Neo4j appears.
func TestBinaryAgainstNeo4jDownAtStart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	srv := cleanNeo4j(t)
	// A relay in front of the real Neo4j stands for its network: stopped,
	// the server is unreachable; resumed, it is back.
	relay := tcpproxy.Start(t, boltAddr(srv))
	relay.Stop()
	_, addr := startBinary(t, append([]string{"AUTH_DISABLED=true", "PROXY_CONNECT_TIMEOUT=1s"}, proxyEnv(srv, relay.Addr())...)...)
	base := "http://" + addr

	for _, path := range []string{"/readyz", "/healthcheck"} {
		if resp, body := call(t, http.MethodGet, base+path, "", ""); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `"status":"fail"`) {
			t.Fatalf("%s with Neo4j down = %d %s", path, resp.StatusCode, body)
		}
	}
	if resp, body := call(t, http.MethodGet, base+"/user/ada@example.com", "", ""); resp.StatusCode != http.StatusServiceUnavailable || !strings.HasPrefix(body, `{"message":`) {
		t.Fatalf("store route with Neo4j down = %d %s", resp.StatusCode, body)
	}
	if resp, _ := call(t, http.MethodGet, base+"/livez", "", ""); resp.StatusCode != http.StatusOK {
		t.Fatal("liveness must not depend on Neo4j")
	}

	relay.Resume(t)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if resp, _ := call(t, http.MethodGet, base+"/readyz", "", ""); resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not ready 20s after Neo4j came up")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n, _ := cypher(t, srv, "SHOW CONSTRAINTS YIELD labelsOrTypes, properties, type WHERE labelsOrTypes = ['User'] AND properties = ['key'] AND type CONTAINS 'UNIQUE' RETURN count(*)", nil)[0].Values[0].(int64); n != 1 {
		t.Fatal("ready before the uniqueness constraint was created")
	}
	if resp, body := call(t, http.MethodPut, base+"/user", "", `{"email":"Ada@Example.com","first_name":"Ada","last_name":"Lovelace"}`); resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT /user = %d %s", resp.StatusCode, body)
	}
	if resp, body := call(t, http.MethodGet, base+"/user/ada@example.com", "", ""); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"full_name":"Ada Lovelace"`) {
		t.Fatalf("GET /user = %d %s", resp.StatusCode, body)
	}

	// Resources come from databuilder; load the fixture catalog through Bolt.
	loader := graphLoader(t, srv)
	if err := loader.LoadCatalog(context.Background(), proxytest.Catalog()); err != nil {
		t.Fatal(err)
	}
	if resp, body := call(t, http.MethodPut, base+"/user/ada@example.com/follow/table/"+proxytest.TableOrders, "", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("follow = %d %s", resp.StatusCode, body)
	}
	if resp, body := call(t, http.MethodPut, base+"/user/ada@example.com/follow/table/hive://gold.sales/missing", "", ""); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("follow of a missing table = %d %s", resp.StatusCode, body)
	}
	if resp, body := call(t, http.MethodGet, base+"/user/ada@example.com/follow/", "", ""); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"name":"orders"`) {
		t.Fatalf("GET follow = %d %s", resp.StatusCode, body)
	}

	// Neo4j goes away mid-flight: 503, then recovery without a restart.
	// The read is one not answered before, so the read cache
	// (GRAPH_CACHE_TTL) cannot answer it.
	relay.Stop()
	if resp, body := call(t, http.MethodGet, base+"/user/ada@example.com/own/", "", ""); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("GET with Neo4j stopped = %d %s", resp.StatusCode, body)
	}
	relay.Resume(t)
	deadline = time.Now().Add(20 * time.Second)
	for {
		resp, _ := call(t, http.MethodGet, base+"/user/ada@example.com", "", "")
		if resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery after Neo4j came back: %d", resp.StatusCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestBinaryHoldsNoTestFixtures: the statements that write test data or
// wipe the graph live in test files only, so the production binary cannot
// run them.
func TestBinaryHoldsNoTestFixtures(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin, err := os.ReadFile(buildBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(bin, []byte("MERGE (u:User {key: $key})")) {
		t.Fatal("the binary holds none of the store's statements: this check cannot see them")
	}
	for _, banned := range []string{"DETACH DELETE", "FixtureWipe", "FixtureDatabuilderUser", "RunFixture"} {
		if bytes.Contains(bin, []byte(banned)) {
			t.Errorf("the production binary holds %q", banned)
		}
	}
}
