package neo4j_test

import (
	"context"
	"testing"

	usersvcneo4j "github.com/usersvc/usersvc/proxy/neo4j"
)

// TestSchemaStepCreatesConstraint: the start-up step creates the User.key
// uniqueness constraint and the indexes on user_id and okta_id, and running
// it again changes nothing.
func TestSchemaStepCreatesConstraint(t *testing.T) {
	g := realGraph(t)
	for range 2 {
		g.ready(t, usersvcneo4j.Config{}).EnsureSchema(context.Background())
	}
	for kind, names := range map[string][]string{
		"CONSTRAINTS": {"user_key_unique", "sync_lease_key_unique"},
		"INDEXES":     {"user_user_id", "user_okta_id"},
	} {
		for _, name := range names {
			if n := g.count(t, "SHOW "+kind+" YIELD name WHERE name = $name RETURN count(*)", map[string]any{"name": name}); n != 1 {
				t.Errorf("%s %s: %d, want 1", kind, name, n)
			}
		}
	}
}
