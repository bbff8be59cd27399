package main

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/usersvc/usersvc/proxy/proxytest"
	"github.com/usersvc/usersvc/testsupport/amundsen"
)

func roleOf(t *testing.T, base, key string) string {
	t.Helper()
	return userAs[struct {
		RoleName string `json:"role_name"`
	}](t, base, key).RoleName
}

// TestBinaryGraphCacheStalenessBoundOnNeo4j: a change another writer makes
// in Neo4j (here Cypher, as databuilder writes) shows through usersvc
// within GRAPH_CACHE_TTL, on the clock. The exact bound is checked with a
// test clock in proxy/neo4j (TestReadCacheStalenessBoundAgainstRealNeo4j);
// this checks that the binary honours the setting.
func TestBinaryGraphCacheStalenessBoundOnNeo4j(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary and Neo4j")
	}
	srv := cleanNeo4j(t)
	const ttl = 1500 * time.Millisecond
	p := startOnNeo4j(t, srv, "GRAPH_CACHE_TTL="+ttl.String())
	const key = "grace@example.com"
	if resp, _ := call(t, http.MethodPut, p.base+"/user", "", `{"user_id":"grace@example.com","email":"grace@example.com","first_name":"Grace"}`); resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT /user = %d", resp.StatusCode)
	}
	read := time.Now()
	if r := roleOf(t, p.base, key); r != "" {
		t.Fatalf("role = %q", r)
	}
	cypher(t, srv, "MATCH (u:User {key: $key}) SET u.role_name = 'Admiral'", map[string]any{"key": key})
	written := time.Now()
	stale := roleOf(t, p.base, key) == ""
	for roleOf(t, p.base, key) != "Admiral" {
		if time.Since(written) > ttl+time.Second {
			t.Fatalf("the other writer's change not shown %s after it was written (GRAPH_CACHE_TTL=%s)", time.Since(written).Round(time.Millisecond), ttl)
		}
		time.Sleep(20 * time.Millisecond)
	}
	shown := time.Since(written)
	t.Logf("shown %s after the write, %s after the cached read", shown.Round(time.Millisecond), time.Since(read).Round(time.Millisecond))
	// Shown at once would mean nothing was cached; only a slow machine
	// (more than the TTL between the reads) excuses it.
	if !stale && written.Sub(read) < ttl/2 {
		t.Fatalf("the change showed at once: the answer was not cached")
	}
}

// TestBinaryPassThroughWriteDropsTheReadCache: a write usersvc passes to
// Amundsen's metadata service changes the graph usersvc reads; the next
// read through usersvc must show it at once, however long the TTL. The
// same write sent to Amundsen directly shows only after the TTL, which
// proves the cache was in the way.
func TestBinaryPassThroughWriteDropsTheReadCache(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Neo4j, Amundsen's metadata service and the binary")
	}
	if _, err := amundsen.Python(); errors.Is(err, amundsen.ErrNoPython) {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	srv := cleanNeo4j(t)
	loader := graphLoader(t, srv)
	if err := loader.LoadCatalog(ctx, proxytest.Catalog()); err != nil {
		t.Fatal(err)
	}
	m := startMetadataOn(ctx, t, srv)
	p := startOnNeo4j(t, srv, "GRAPH_CACHE_TTL=1m", "METADATA_UPSTREAM_URL="+m.URL)
	const ada = "ada@example.com"
	if resp, _ := call(t, http.MethodPut, p.base+"/user", "", `{"user_id":"ada@example.com","email":"ada@example.com","first_name":"Ada"}`); resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT /user = %d", resp.StatusCode)
	}
	owned := func() string {
		resp, body := call(t, http.MethodGet, p.base+"/user/"+ada+"/own/", "", "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET own = %d %s", resp.StatusCode, body)
		}
		return body
	}
	if b := owned(); strings.Contains(b, `"orders"`) || strings.Contains(b, `"accounts"`) {
		t.Fatalf("owns before any write: %s", b)
	}
	// Amundsen's TableOwnerAPI: PUT /table/<table_uri>/owner/<owner>.
	ownerPath := func(table string) string { return "/table/" + table + "/owner/" + url.PathEscape(ada) }
	if resp, _ := call(t, http.MethodPut, m.URL+ownerPath(proxytest.TableOrders), "", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT owner to Amundsen directly = %d\n%s", resp.StatusCode, m.Output())
	}
	if b := owned(); strings.Contains(b, `"orders"`) {
		t.Fatalf("a write around usersvc showed at once (%s): nothing is cached, so the next check proves nothing", b)
	}
	if resp, _ := call(t, http.MethodPut, p.base+ownerPath(proxytest.TableAccounts), "", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT owner through usersvc = %d\n%s", resp.StatusCode, p.logs)
	}
	if b := owned(); !strings.Contains(b, `"accounts"`) || !strings.Contains(b, `"orders"`) {
		t.Fatalf("owns after a write passed through usersvc = %s, want both tables (the cache was not dropped)", b)
	}
}
