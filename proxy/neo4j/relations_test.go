package neo4j

import (
	"slices"
	"testing"

	"github.com/usersvc/usersvc/schema"
)

// TestRelationTableCoversTheAPI: every relation the API writes (follow and
// own, DESIGN §2, for every resource type schema parses) has an add, a
// delete and a reverse read generated, read has its reverse read, follow
// and own list tables and dashboards, and no two generated statements share
// a name or a text (the test graph matches statements by text).
func TestRelationTableCoversTheAPI(t *testing.T) {
	have := map[relationStatementKey]string{}
	names, texts := map[string]bool{}, map[string]bool{}
	for _, s := range RelationStatements() {
		if names[s.Name] || texts[s.Text] {
			t.Errorf("%s: name or text generated twice", s.Name)
		}
		names[s.Name], texts[s.Text] = true, true
		have[relationStatementKey{s.Op, s.Relation, s.Resource}] = s.Name
	}
	want := map[relationStatementKey]string{
		{OpUsers, schema.Read, schema.Table}: "UsersReadingTable",
	}
	for _, rel := range []struct {
		rel         schema.Relation
		stem, users string
		listed      string
	}{{schema.Follow, "Follow", "Following", "Followed"}, {schema.Own, "Own", "Owning", "Owned"}} {
		for _, rt := range schema.ResourceTypes {
			label := labelOf(rt)
			want[relationStatementKey{OpAdd, rel.rel, rt}] = "Add" + rel.stem + label
			want[relationStatementKey{OpDelete, rel.rel, rt}] = "Delete" + rel.stem + label
			want[relationStatementKey{OpUsers, rel.rel, rt}] = "Users" + rel.users + label
		}
		want[relationStatementKey{OpList, rel.rel, schema.Table}] = rel.listed + "Tables"
		want[relationStatementKey{OpList, rel.rel, schema.Dashboard}] = rel.listed + "Dashboards"
	}
	for k, name := range want {
		if have[k] != name {
			t.Errorf("%+v: generated %q, want %q", k, have[k], name)
		}
	}
	if len(have) != len(want) {
		t.Errorf("generated %d relation statements, want %d", len(have), len(want))
	}
	// The edge types are Amundsen's (DESIGN §3: OWNER_OF/OWNER,
	// FOLLOW/FOLLOWED_BY, READ/READ_BY).
	for _, r := range ResourceRelations() {
		pair := []string{r.Forward, r.Reverse}
		ok := map[schema.Relation][]string{schema.Follow: {"FOLLOW", "FOLLOWED_BY"}, schema.Own: {"OWNER_OF", "OWNER"}, schema.Read: {"READ", "READ_BY"}}[r.Relation]
		if !slices.Equal(pair, ok) {
			t.Errorf("%s %s: edges %v, want %v", r.Relation, r.Resource, pair, ok)
		}
	}
}
