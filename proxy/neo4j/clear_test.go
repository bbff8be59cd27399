package neo4j_test

import (
	"context"
	"encoding/json"
	"maps"
	"testing"

	usersvcneo4j "github.com/usersvc/usersvc/proxy/neo4j"
	"github.com/usersvc/usersvc/proxy/proxytest"
)

// TestClearRewritesLegacyOtherKeyValues: a node of an earlier usersvc
// version holds its entries as one JSON string, which GetUser still reads
// where no property of the name exists; a cleared name leaves that string
// too (the other entries kept as written), and the string goes when no
// entry is left.
func TestClearRewritesLegacyOtherKeyValues(t *testing.T) {
	g := realGraph(t)
	g.run(t, "CREATE (u:User) SET u = $props", map[string]any{"props": map[string]any{"key": "old@example.com", "email": "old@example.com",
		"is_active": true, "other_key_values": `{"okta_id":"00uold","location":"Paris","shoe_size":44}`, "location": "Rome",
		"publisher_last_updated_epoch_ms": int64(1)}})
	s := g.ready(t, usersvcneo4j.Config{OtherKeys: proxytest.OtherKeys()})
	ctx := context.Background()
	if err := s.ClearUserProperties(ctx, "old@example.com", "okta_id"); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetUser(ctx, "old@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"location": "Rome"}; !maps.Equal(got.OtherKeyValues, want) {
		t.Fatalf("other_key_values = %v, want %v", got.OtherKeyValues, want)
	}
	n := g.props(t, "old@example.com")
	var legacy map[string]any
	if err := json.Unmarshal([]byte(n["other_key_values"].(string)), &legacy); err != nil {
		t.Fatal(err)
	}
	if want := map[string]any{"location": "Paris", "shoe_size": float64(44)}; !maps.Equal(legacy, want) {
		t.Fatalf("legacy entries = %v, want %v", legacy, want)
	}
	if stamp, _ := n["publisher_last_updated_epoch_ms"].(int64); stamp <= 1 {
		t.Fatalf("publisher_last_updated_epoch_ms = %v, want the clear's time", n["publisher_last_updated_epoch_ms"])
	}
	if _, ok := n["usersvc_created_marker"]; ok {
		t.Fatalf("the lock's marker was left on the node: %v", n)
	}

	if err := s.ClearUserProperties(ctx, "old@example.com", "location", "shoe_size"); err != nil {
		t.Fatal(err)
	}
	n = g.props(t, "old@example.com")
	for _, name := range []string{"other_key_values", "location", "okta_id", "usersvc_created_marker"} {
		if _, ok := n[name]; ok {
			t.Errorf("%s left on the node: %v", name, n)
		}
	}
	if got, _ := s.GetUser(ctx, "old@example.com"); len(got.OtherKeyValues) != 0 || got.Email != "old@example.com" {
		t.Fatalf("after clearing every entry = %+v", got)
	}
}

// TestClearManagerDeletesDatabuilderEdges: a databuilder user linked to
// their manager (manager_email, MANAGE_BY and MANAGE back) has no manager
// once manager_email and manager_id are cleared, and neither edge is left;
// the manager's node and its other edges stay.
func TestClearManagerDeletesDatabuilderEdges(t *testing.T) {
	g := realGraph(t)
	s := g.ready(t, usersvcneo4j.Config{OtherKeys: proxytest.OtherKeys()})
	ctx := context.Background()
	for _, p := range databuilderUsers() {
		if err := s.RunFixture(ctx, "FixtureDatabuilderUser", p); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.LinkManager(ctx, "charles@example.com", "ada.lovelace@example.com"); err != nil {
		t.Fatal(err)
	}
	const edges = "MATCH (:User {key: $from})-[r:MANAGE_BY|MANAGE]-(:User {key: $to}) RETURN count(r)"
	between := map[string]any{"from": "ada.lovelace@example.com", "to": "charles@example.com"}
	if n := g.count(t, edges, between); n != 4 {
		t.Fatalf("%d manager edges between the two before the clear, want 4", n)
	}
	if err := s.ClearUserProperties(ctx, "ada.lovelace@example.com", "manager_email", "manager_id", "manager_fullname"); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetUser(ctx, "ada.lovelace@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if got.ManagerEmail != "" || got.ManagerFullname != "" || got.ManagerID != "" || got.FullName != "Ada Lovelace" {
		t.Fatalf("after the clear = %+v", got)
	}
	// Ada's own MANAGE_BY and Charles's MANAGE to her are gone; the link
	// the other way (Charles managed by Ada) is Charles's, and stays.
	const own = "MATCH (:User {key: $from})-[by:MANAGE_BY]->(:User {key: $to}) MATCH (:User {key: $to})-[m:MANAGE]->(:User {key: $from}) RETURN count(*)"
	if n := g.count(t, own, between); n != 0 {
		t.Fatalf("%d of ada's manager edge pairs left", n)
	}
	if n := g.count(t, own, map[string]any{"from": "charles@example.com", "to": "ada.lovelace@example.com"}); n != 1 {
		t.Fatalf("charles's own manager edges: %d pairs, want 1", n)
	}
	if boss, err := s.GetUser(ctx, "charles@example.com"); err != nil || boss.ManagerEmail != "Ada.Lovelace@Example.com" {
		t.Fatalf("the manager's node after the clear = %+v, %v", boss, err)
	}
}
