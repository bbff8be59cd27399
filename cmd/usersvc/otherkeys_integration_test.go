package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/usersvc/usersvc/testsupport/boltserver"
	"github.com/usersvc/usersvc/testsupport/neo4jgraph"
)

// TestBinaryPassesUserOtherKeysToBothStores: USER_OTHER_KEYS reaches the
// store the binary opens; a configured key reads back, an unconfigured one
// is written (as a node property) but not returned.
func TestBinaryPassesUserOtherKeysToBothStores(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	graph := neo4jgraph.New()
	bolt := boltserver.New(t, graph.Executor(), boltserver.WithAuth("neo4j", "s3cret")).Start(t)
	stores := map[string][]string{
		"embedded": {"EMBEDDED_DB_PATH=" + filepath.Join(t.TempDir(), "usersvc.db")},
		"neo4j": {"PROXY_HOST=bolt://127.0.0.1", "PROXY_PORT=" + bolt.Addr()[strings.LastIndex(bolt.Addr(), ":")+1:],
			"CREDENTIALS_PROXY_USER=neo4j", "CREDENTIALS_PROXY_PASSWORD=s3cret"},
	}
	for name, env := range stores {
		t.Run(name, func(t *testing.T) {
			_, addr := startBinary(t, append([]string{"AUTH_DISABLED=true", "USER_OTHER_KEYS=okta_id, location"}, env...)...)
			base := "http://" + addr
			waitBinaryReady(t, base)
			resp, body := call(t, http.MethodPut, base+"/user", "", `{"email":"kim@example.com","display_name":"Kim","other_key_values":{"location":"Oslo","shoe_size":"44"}}`)
			if resp.StatusCode != http.StatusCreated || !strings.Contains(body, `"other_key_values":{"location":"Oslo"}`) {
				t.Fatalf("PUT /user = %d %s", resp.StatusCode, body)
			}
			resp, body = call(t, http.MethodGet, base+"/user/kim@example.com", "", "")
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"other_key_values":{"location":"Oslo"}`) {
				t.Fatalf("GET /user = %d %s", resp.StatusCode, body)
			}
		})
	}
	nodes, _ := graph.Snapshot()
	found := false
	for _, n := range nodes {
		if n.Props["key"] == "kim@example.com" {
			found = true
			if n.Props["location"] != "Oslo" || n.Props["shoe_size"] != "44" {
				t.Fatalf("neo4j node = %v, want both entries as properties", n.Props)
			}
		}
	}
	if !found {
		t.Fatal("no user node in the graph")
	}
}

// waitBinaryReady polls /readyz: the Neo4j store becomes ready once its schema
// step has run.
func waitBinaryReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if resp, _ := call(t, http.MethodGet, base+"/readyz", "", ""); resp.StatusCode == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("not ready within 20s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
