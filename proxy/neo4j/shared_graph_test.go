package neo4j_test

import (
	"context"
	"encoding/json"
	"maps"
	"testing"

	usersvcneo4j "github.com/usersvc/usersvc/proxy/neo4j"
	"github.com/usersvc/usersvc/proxy/proxytest"
	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/neo4jgraph"
)

// Tests of a graph shared with Amundsen's databuilder and metadata service:
// data usersvc did not write reads back correctly, and what usersvc writes is
// what they read.

func userNode(t *testing.T, g *neo4jgraph.Graph, key string) neo4jgraph.Node {
	t.Helper()
	nodes, _ := g.Snapshot()
	for _, n := range nodes {
		if n.Props["key"] == key {
			return n
		}
	}
	t.Fatalf("no node with key %s", key)
	return neo4jgraph.Node{}
}

// TestOtherKeysAreNodeProperties: Amundsen metadata's neo4j_proxy.py
// _build_user_from_record (lines 1507-1511) reads each USER_OTHER_KEYS
// entry as `record[k]`, a property of the User node; one JSON-string
// property would be invisible to it.
func TestOtherKeysAreNodeProperties(t *testing.T) {
	s := newBoltStore(t, true)
	u := user("kim@example.com")
	u.OtherKeyValues = map[string]string{"okta_id": "00u42", "location": "Oslo"}
	if _, _, err := s.CreateUpdateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	n := userNode(t, s.graph, "kim@example.com")
	if n.Props["okta_id"] != "00u42" || n.Props["location"] != "Oslo" {
		t.Fatalf("node properties = %v, want okta_id and location as properties", n.Props)
	}
	if _, ok := n.Props["other_key_values"]; ok {
		t.Fatalf("other_key_values stored as one property: %v", n.Props)
	}
}

// TestDatabuilderUserWithExtraProperties: databuilder's User model publishes
// extra user fields as node properties of any type, and writes ” for empty
// strings. Reads return the configured ones as strings (never a failure),
// and usersvc's writes leave the others untouched.
func TestDatabuilderUserWithExtraProperties(t *testing.T) {
	s := newBoltStore(t, true)
	s.graph.Write(func(w neo4jgraph.Writer) {
		w.Node("User", map[string]any{
			"key": "lee@example.com", "email": "lee@example.com", "first_name": "Lee", "last_name": "Ray",
			"full_name": "Lee Ray", "is_active": true, "github_username": "", "team_name": "Ops", "employee_type": "",
			"slack_id": "", "role_name": "SRE", "manager_email": "", "updated_at": int64(1700000000),
			"published_tag": "2024-01-01", "publisher_last_updated_epoch_ms": int64(1700000000000),
			"okta_id": "00u9", "employee_number": int64(1234), "is_contractor": true, "weight": 72.5,
			"tags": []any{"a", "b"}, "location": "",
		})
	})
	store, err := usersvcneo4j.Open(usersvcneo4j.Config{
		URI: s.server.URI(), Username: "neo4j", Password: "s3cret",
		OtherKeys: schema.OtherKeys{"okta_id", "employee_number", "is_contractor", "weight", "tags", "location", "absent"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	ctx := context.Background()
	got, err := store.GetUser(ctx, "lee@example.com")
	if err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	want := map[string]string{"okta_id": "00u9", "employee_number": "1234", "is_contractor": "true", "weight": "72.5", "tags": `["a","b"]`}
	if !maps.Equal(got.OtherKeyValues, want) {
		t.Fatalf("other_key_values = %v, want %v", got.OtherKeyValues, want)
	}
	if got.UserID != "lee@example.com" || got.FullName != "Lee Ray" || got.GithubUsername != "" {
		t.Fatalf("user = %+v", got)
	}

	in := schema.User{Email: "lee@example.com", IsActive: true, OtherKeyValues: map[string]string{"location": "Lisbon"}}
	in.Normalize()
	stored, _, err := store.CreateUpdateUser(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	want["location"] = "Lisbon"
	// databuilder writes no display_name: the one derived from the email
	// fills it; the stored full_name stays.
	if !maps.Equal(stored.OtherKeyValues, want) || stored.FullName != "Lee Ray" || stored.DisplayName != "lee@example.com" {
		t.Fatalf("after update: %+v", stored)
	}
	n := userNode(t, s.graph, "lee@example.com")
	if n.Props["employee_number"] != int64(1234) || n.Props["is_contractor"] != true || n.Props["location"] != "Lisbon" {
		t.Fatalf("update rewrote databuilder's properties: %v", n.Props)
	}
}

// TestLegacyOtherKeyValuesProperty: nodes written by earlier usersvc
// versions keep their entries readable; a property of the same name wins.
func TestLegacyOtherKeyValuesProperty(t *testing.T) {
	s := newBoltStore(t, true)
	s.graph.Write(func(w neo4jgraph.Writer) {
		w.Node("User", map[string]any{"key": "old@example.com", "email": "old@example.com", "is_active": true,
			"other_key_values": `{"okta_id":"00uold","location":"Paris","shoe_size":"44"}`, "location": "Rome"})
	})
	got, err := s.GetUser(context.Background(), "old@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"okta_id": "00uold", "location": "Rome"}; !maps.Equal(got.OtherKeyValues, want) {
		t.Fatalf("other_key_values = %v, want %v", got.OtherKeyValues, want)
	}
}

// TestSummariesOfSparseNodes: a dashboard whose nodes lack dashboard_url,
// dashboard_group_url, a description and an execution, and a table path
// whose nodes lack names, still answer the strings amundsen_common's
// DashboardSummary and PopularTable require (models/dashboard.py,
// models/popular_table.py: non-optional str), null only where optional.
func TestSummariesOfSparseNodes(t *testing.T) {
	s := newBoltStore(t, true)
	s.graph.Write(func(w neo4jgraph.Writer) {
		u := w.Node("User", map[string]any{"key": "sam@example.com", "email": "sam@example.com", "is_active": true})
		db := w.Node("Database", map[string]any{"key": "database://hive"})
		cl := w.Node("Cluster", map[string]any{"key": "hive://gold", "name": "gold"})
		sc := w.Node("Schema", map[string]any{"key": "hive://gold.x"})
		tb := w.Node("Table", map[string]any{"key": "hive://gold.x/t"})
		w.Rel(db, "CLUSTER", cl)
		w.Rel(cl, "SCHEMA", sc)
		w.Rel(sc, "TABLE", tb)
		dc := w.Node("Cluster", map[string]any{"key": "mode_dashboard://gold", "name": "gold"})
		dg := w.Node("Dashboardgroup", map[string]any{"key": "mode_dashboard://gold.g", "name": "G"})
		d := w.Node("Dashboard", map[string]any{"key": "mode_dashboard://gold.g/d", "name": "D"})
		w.Rel(dc, "DASHBOARD_GROUP", dg)
		w.Rel(dg, "DASHBOARD", d)
		for _, r := range []int64{tb, d} {
			w.Rel(u, "FOLLOW", r)
			w.Rel(r, "FOLLOWED_BY", u)
		}
	})
	res, err := s.GetUserResources(context.Background(), "sam@example.com", schema.Follow)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(res)
	want := `{"table":[{"database":"","cluster":"gold","schema":"","name":"","description":null}],` +
		`"dashboard":[{"uri":"mode_dashboard://gold.g/d","cluster":"gold","group_name":"G","group_url":"","product":"mode",` +
		`"name":"D","url":"","description":null,"last_successful_run_timestamp":null,"chart_names":[]}]}`
	if string(got) != want {
		t.Fatalf("summaries\n got %s\nwant %s", got, want)
	}
}

// TestReadsWithoutPublishTagAreNotListed: Amundsen's
// get_frequently_used_tables keeps only READ edges with a published_tag
// (neo4j_proxy.py line 1659); an edge another writer left untagged is not a
// frequently used table.
func TestReadsWithoutPublishTagAreNotListed(t *testing.T) {
	s := seeded(t)
	ctx := context.Background()
	if err := s.LoadCatalog(ctx, schema.Catalog{Reads: []schema.ReadRecord{{User: "pat@example.com", Table: proxytest.TableOrders, ReadCount: 1}}}); err != nil {
		t.Fatal(err)
	}
	nodes, _ := s.graph.Snapshot()
	var user, table int64
	for _, n := range nodes {
		switch n.Props["key"] {
		case "pat@example.com":
			user = n.ID
		case proxytest.TableEvents:
			table = n.ID
		}
	}
	s.graph.Write(func(w neo4jgraph.Writer) { w.Rel(user, "READ", table) })
	tables, err := s.GetFrequentlyUsedTables(ctx, "pat@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) != 1 || tables[0].Name != "orders" {
		t.Fatalf("reads = %+v, want only the tagged orders read", tables)
	}
}
