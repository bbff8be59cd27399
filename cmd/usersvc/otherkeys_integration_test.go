package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBinaryPassesUserOtherKeysToBothStores: USER_OTHER_KEYS reaches the
// store the binary opens; a configured key reads back, an unconfigured one
// is written (as a node property) but not returned.
func TestBinaryPassesUserOtherKeysToBothStores(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	srv := cleanNeo4j(t)
	stores := map[string][]string{
		"embedded": {"EMBEDDED_DB_PATH=" + filepath.Join(t.TempDir(), "usersvc.db")},
		"neo4j":    proxyEnv(srv, boltAddr(srv)),
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
	recs := cypher(t, srv, "MATCH (u:User {key: 'kim@example.com'}) RETURN u.location, u.shoe_size", nil)
	if len(recs) != 1 || recs[0].Values[0] != "Oslo" || recs[0].Values[1] != "44" {
		t.Fatalf("neo4j nodes = %v, want one with both entries as properties", recs)
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
