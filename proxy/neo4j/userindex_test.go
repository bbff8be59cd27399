package neo4j

import (
	"slices"
	"strings"
	"testing"

	"github.com/usersvc/usersvc/proxy"
)

// TestEveryIndexedPropertyHasStatementAndIndex: each name UserKeysByProperty
// accepts has its lookup statement, which matches on that very property,
// and an index the schema step creates; no other name has a statement.
func TestEveryIndexedPropertyHasStatementAndIndex(t *testing.T) {
	for _, name := range proxy.IndexedUserProperties {
		stmt, ok := userKeysByProperty[name]
		if !ok {
			t.Errorf("no statement finds users by %s", name)
			continue
		}
		if !strings.HasPrefix(stmt, "MATCH (u:User {"+name+": $id})") {
			t.Errorf("the statement for %s matches on something else: %s", name, stmt)
		}
		on := "FOR (u:User) ON (u." + name + ")"
		if !slices.ContainsFunc(schemaStatements, func(s string) bool { return strings.HasPrefix(s, "CREATE INDEX ") && strings.HasSuffix(s, on) }) {
			t.Errorf("the schema step creates no index on User.%s", name)
		}
	}
	if len(userKeysByProperty) != len(proxy.IndexedUserProperties) {
		t.Errorf("%d lookup statements for %d indexed properties", len(userKeysByProperty), len(proxy.IndexedUserProperties))
	}
}
