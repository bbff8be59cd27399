package neo4j_test

import (
	"context"
	"testing"

	"github.com/usersvc/usersvc/proxy"
	usersvcneo4j "github.com/usersvc/usersvc/proxy/neo4j"
)

// TestSchemaStepCreatesConstraint: the start-up step creates the User.key
// uniqueness constraint and the indexes on user_id, okta_id and the SCIM
// properties (one on each of proxy.IndexedUserProperties), and running it
// again changes nothing.
func TestSchemaStepCreatesConstraint(t *testing.T) {
	g := realGraph(t)
	for range 2 {
		g.ready(t, usersvcneo4j.Config{}).EnsureSchema(context.Background())
	}
	if n := g.userKeyConstraints(t); n != 1 {
		t.Errorf("%d uniqueness constraints on User.key, want 1", n)
	}
	for kind, names := range map[string][]string{
		"CONSTRAINTS": {"sync_lease_key_unique"},
		"INDEXES":     {"user_user_id", "user_okta_id", "user_scim_id", "user_scim_external_id"},
	} {
		for _, name := range names {
			if n := g.count(t, "SHOW "+kind+" YIELD name WHERE name = $name RETURN count(*)", map[string]any{"name": name}); n != 1 {
				t.Errorf("%s %s: %d, want 1", kind, name, n)
			}
		}
	}
	for _, p := range proxy.IndexedUserProperties {
		if n := g.count(t, "SHOW INDEXES YIELD labelsOrTypes, properties WHERE labelsOrTypes = ['User'] AND properties = [$p] RETURN count(*)", map[string]any{"p": p}); n != 1 {
			t.Errorf("%d indexes on User.%s, want 1", n, p)
		}
	}
}

// TestSchemaStepReplacesTheNamedConstraint: earlier versions named the
// User.key constraint user_key_unique, which made databuilder's own
// (unnamed) CREATE CONSTRAINT fail with ConstraintAlreadyExists; the schema
// step swaps it for an unnamed one, in one transaction, and keeps exactly
// one.
func TestSchemaStepReplacesTheNamedConstraint(t *testing.T) {
	g := realGraph(t)
	g.run(t, "CREATE CONSTRAINT user_key_unique IF NOT EXISTS FOR (u:User) REQUIRE u.key IS UNIQUE", nil)
	g.ready(t, usersvcneo4j.Config{})
	if n := g.userKeyConstraints(t); n != 1 {
		t.Fatalf("%d uniqueness constraints on User.key, want 1", n)
	}
	if n := g.count(t, "SHOW CONSTRAINTS YIELD name WHERE name = 'user_key_unique' RETURN count(*)", nil); n != 0 {
		t.Fatal("the named constraint is still there: databuilder's publish would fail on it")
	}
}
