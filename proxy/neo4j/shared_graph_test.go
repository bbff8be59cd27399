package neo4j_test

import (
	"context"
	"encoding/json"
	"maps"
	"testing"

	usersvcneo4j "github.com/usersvc/usersvc/proxy/neo4j"
	"github.com/usersvc/usersvc/proxy/proxytest"
	"github.com/usersvc/usersvc/schema"
)

// Tests of a graph shared with Amundsen's databuilder and metadata service:
// data usersvc did not write reads back correctly, and what usersvc writes is
// what they read.

// props are the properties of the User node keyed key, as Neo4j holds them.
func (g *graph) props(t *testing.T, key string) map[string]any {
	t.Helper()
	recs := g.run(t, "MATCH (u:User {key: $key}) RETURN properties(u)", map[string]any{"key": key})
	if len(recs) != 1 {
		t.Fatalf("%d nodes with key %s", len(recs), key)
	}
	p, _ := recs[0].Values[0].(map[string]any)
	return p
}

// TestOtherKeysAreNodeProperties: Amundsen metadata's neo4j_proxy.py
// _build_user_from_record (lines 1507-1511) reads each USER_OTHER_KEYS
// entry as `record[k]`, a property of the User node; one JSON-string
// property would be invisible to it.
func TestOtherKeysAreNodeProperties(t *testing.T) {
	g := realGraph(t)
	s := g.ready(t, usersvcneo4j.Config{OtherKeys: proxytest.OtherKeys()})
	u := user("kim@example.com")
	u.OtherKeyValues = map[string]string{"okta_id": "00u42", "location": "Oslo"}
	if _, _, err := s.CreateUpdateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	n := g.props(t, "kim@example.com")
	if n["okta_id"] != "00u42" || n["location"] != "Oslo" {
		t.Fatalf("node properties = %v, want okta_id and location as properties", n)
	}
	if _, ok := n["other_key_values"]; ok {
		t.Fatalf("other_key_values stored as one property: %v", n)
	}
}

// TestDatabuilderUserWithExtraProperties: databuilder's User model publishes
// extra user fields as node properties of any type, and writes ” for empty
// strings. Reads return the configured ones as strings (never a failure),
// and usersvc's writes leave the others untouched.
func TestDatabuilderUserWithExtraProperties(t *testing.T) {
	g := realGraph(t)
	g.run(t, "CREATE (u:User) SET u = $props", map[string]any{"props": map[string]any{
		"key": "lee@example.com", "email": "lee@example.com", "first_name": "Lee", "last_name": "Ray",
		"full_name": "Lee Ray", "is_active": true, "github_username": "", "team_name": "Ops", "employee_type": "",
		"slack_id": "", "role_name": "SRE", "manager_email": "", "updated_at": int64(1700000000),
		"published_tag": "2024-01-01", "publisher_last_updated_epoch_ms": int64(1700000000000),
		"okta_id": "00u9", "employee_number": int64(1234), "is_contractor": true, "weight": 72.5,
		"tags": []any{"a", "b"}, "location": "",
	}})
	store := g.ready(t, usersvcneo4j.Config{
		OtherKeys: schema.OtherKeys{"okta_id", "employee_number", "is_contractor", "weight", "tags", "location", "absent"},
	})
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
	n := g.props(t, "lee@example.com")
	if n["employee_number"] != int64(1234) || n["is_contractor"] != true || n["location"] != "Lisbon" || n["weight"] != 72.5 {
		t.Fatalf("update rewrote databuilder's properties: %v", n)
	}
}

// TestLegacyOtherKeyValuesProperty: nodes written by earlier usersvc
// versions keep their entries readable; a property of the same name wins.
func TestLegacyOtherKeyValuesProperty(t *testing.T) {
	g := realGraph(t)
	g.run(t, "CREATE (u:User) SET u = $props", map[string]any{"props": map[string]any{"key": "old@example.com", "email": "old@example.com", "is_active": true,
		"other_key_values": `{"okta_id":"00uold","location":"Paris","shoe_size":"44"}`, "location": "Rome"}})
	s := g.ready(t, usersvcneo4j.Config{OtherKeys: proxytest.OtherKeys()})
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
	g := realGraph(t)
	g.run(t, `CREATE (u:User {key: 'sam@example.com', email: 'sam@example.com', is_active: true}),
  (db:Database {key: 'database://hive'})-[:CLUSTER]->(cl:Cluster {key: 'hive://gold', name: 'gold'})
    -[:SCHEMA]->(sc:Schema {key: 'hive://gold.x'})-[:TABLE]->(tb:Table {key: 'hive://gold.x/t'}),
  (dc:Cluster {key: 'mode_dashboard://gold', name: 'gold'})-[:DASHBOARD_GROUP]->(dg:Dashboardgroup {key: 'mode_dashboard://gold.g', name: 'G'})
    -[:DASHBOARD]->(d:Dashboard {key: 'mode_dashboard://gold.g/d', name: 'D'}),
  (u)-[:FOLLOW]->(tb), (tb)-[:FOLLOWED_BY]->(u), (u)-[:FOLLOW]->(d), (d)-[:FOLLOWED_BY]->(u)`, nil)
	s := g.ready(t, usersvcneo4j.Config{OtherKeys: proxytest.OtherKeys()})
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
	g := realGraph(t)
	s := g.seeded(t)
	ctx := context.Background()
	if err := s.LoadCatalog(ctx, schema.Catalog{Reads: []schema.ReadRecord{{User: "pat@example.com", Table: proxytest.TableOrders, ReadCount: 1}}}); err != nil {
		t.Fatal(err)
	}
	g.run(t, "MATCH (u:User {key: 'pat@example.com'}), (t:Table {key: $table}) CREATE (u)-[:READ]->(t)", map[string]any{"table": proxytest.TableEvents})
	tables, err := s.GetFrequentlyUsedTables(ctx, "pat@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) != 1 || tables[0].Name != "orders" {
		t.Fatalf("reads = %+v, want only the tagged orders read", tables)
	}
}

// TestUserFieldsOfOtherTypesReadAsStrings: databuilder's Neo4jCsvPublisher
// reads its CSV with pandas, so a digits-only column (team_name 4711) is
// published as an integer; Amundsen's UserSchema dumps it as "4711", and so
// does usersvc, instead of dropping it.
func TestUserFieldsOfOtherTypesReadAsStrings(t *testing.T) {
	g := realGraph(t)
	g.run(t, "CREATE (u:User) SET u = $props", map[string]any{"props": map[string]any{
		"key": "num@example.com", "email": "num@example.com", "is_active": true, "team_name": int64(4711), "role_name": 2.5,
	}})
	s := g.ready(t, usersvcneo4j.Config{OtherKeys: proxytest.OtherKeys()})
	got, err := s.GetUser(context.Background(), "num@example.com")
	if err != nil || got.TeamName != "4711" || got.RoleName != "2.5" {
		t.Fatalf("user = %+v, %v; want team_name \"4711\", role_name \"2.5\"", got, err)
	}
}
