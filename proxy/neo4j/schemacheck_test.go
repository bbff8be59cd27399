package neo4j

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"

	"github.com/usersvc/usersvc/testsupport/neo4jserver"
)

// schemaGraph is the shared real Neo4j, emptied, with a driver of the
// test's own.
type schemaGraph struct {
	srv    *neo4jserver.Server
	driver neo4j.DriverWithContext
}

func newSchemaGraph(t *testing.T) *schemaGraph {
	t.Helper()
	srv := neo4jserver.Get(t)
	neo4jserver.Clean(t, srv)
	d, err := neo4j.NewDriverWithContext(srv.URI, neo4j.BasicAuth(srv.User, srv.Password, ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close(context.Background()) })
	return &schemaGraph{srv: srv, driver: d}
}

func (g *schemaGraph) run(t *testing.T, query string) []*neo4j.Record {
	t.Helper()
	res, err := neo4j.ExecuteQuery(context.Background(), g.driver, query, nil, neo4j.EagerResultTransformer)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return res.Records
}

// state is everything the schema step could change: every node with its
// labels and properties, and the names of the constraints and indexes.
func (g *schemaGraph) state(t *testing.T) string {
	t.Helper()
	var nodes []string
	for _, r := range g.run(t, "MATCH (n) RETURN labels(n), properties(n)") {
		nodes = append(nodes, fmt.Sprint(r.Values...))
	}
	slices.Sort(nodes)
	var schemaNames []string
	for _, q := range []string{"SHOW CONSTRAINTS YIELD name RETURN name", "SHOW INDEXES YIELD name, type WHERE type <> 'LOOKUP' RETURN name"} {
		for _, r := range g.run(t, q) {
			schemaNames = append(schemaNames, r.Values[0].(string))
		}
	}
	slices.Sort(schemaNames)
	return fmt.Sprintf("nodes %v\nschema %v", nodes, schemaNames)
}

func (g *schemaGraph) store(t *testing.T) *Store {
	t.Helper()
	s, err := Open(Config{URI: g.srv.URI, Username: g.srv.User, Password: g.srv.Password, RetryTime: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestEnsureSchemaRefusesDuplicateKeysAgainstRealNeo4j: a graph where two
// User nodes share a key (written before any constraint) gets no schema at
// all and no change; the store names the first such key and refuses the
// graph. Nodes without a key are no duplicates (the constraint ignores
// them). Once the extra node is gone, a new start creates everything.
func TestEnsureSchemaRefusesDuplicateKeysAgainstRealNeo4j(t *testing.T) {
	g := newSchemaGraph(t)
	g.run(t, `CREATE (:User {key: 'zed@example.com', first_name: 'Z1'}), (:User {key: 'zed@example.com', first_name: 'Z2'}),
		(:User {key: 'zed@example.com', first_name: 'Z3'}),
		(:User {key: 'dup@example.com', first_name: 'D1'}), (:User {key: 'dup@example.com', first_name: 'D2'}),
		(:User {key: 'ok@example.com'}), (:User {email: 'nokey1@example.com'}), (:User {email: 'nokey2@example.com'})`)
	before := g.state(t)

	s := g.store(t)
	s.EnsureSchema(context.Background())
	var dup *DuplicateKeyError
	if err := s.SchemaReady(context.Background()); !errors.As(err, &dup) || dup.Key != "dup@example.com" || dup.Nodes != 2 {
		t.Fatalf("SchemaReady = %v, want the duplicate key dup@example.com (2 nodes), the first in order", err)
	}
	select {
	case err := <-s.Refused():
		if !errors.As(err, &dup) || dup.Key != "dup@example.com" {
			t.Fatalf("Refused delivered %v", err)
		}
	default:
		t.Fatal("Refused delivered nothing")
	}
	if after := g.state(t); after != before {
		t.Fatalf("the refused schema step changed the graph:\nbefore %s\nafter  %s", before, after)
	}

	g.run(t, "MATCH (u:User) WHERE u.first_name IN ['D2', 'Z2', 'Z3'] DELETE u")
	s = g.store(t)
	s.EnsureSchema(context.Background())
	if err := s.SchemaReady(context.Background()); err != nil {
		t.Fatalf("SchemaReady with unique keys = %v", err)
	}
	select {
	case err := <-s.Refused():
		t.Fatalf("Refused delivered %v on a usable graph", err)
	default:
	}
	state := g.state(t)
	if n, _ := g.run(t, "SHOW CONSTRAINTS YIELD labelsOrTypes, properties, type WHERE labelsOrTypes = ['User'] AND properties = ['key'] AND type CONTAINS 'UNIQUE' RETURN count(*)")[0].Values[0].(int64); n != 1 {
		t.Errorf("%d uniqueness constraints on User.key after the schema step, want 1", n)
	}
	for _, name := range []string{"user_user_id", "user_okta_id", "user_scim_id", "user_scim_external_id", "sync_lease_key_unique"} {
		if !strings.Contains(state, name) {
			t.Errorf("%s missing after the schema step: %s", name, state)
		}
	}
}

// TestDuplicatesWrittenAfterTheCheckAgainstRealNeo4j: duplicates written
// between the check and the constraint make Neo4j refuse the constraint;
// that refusal, as the schema step receives it, is traced back to the key.
// Other failures are not.
func TestDuplicatesWrittenAfterTheCheckAgainstRealNeo4j(t *testing.T) {
	g := newSchemaGraph(t)
	g.run(t, "CREATE (:User {key: 'late@example.com'}), (:User {key: 'late@example.com'})")
	s := g.store(t)
	ctx := context.Background()
	_, err := write(s, ctx, func(tx neo4j.ManagedTransaction) (struct{}, error) {
		_, err := collect(ctx, tx, stmtCreateUserKeyConstraint, nil)
		return struct{}{}, err
	})
	if err == nil {
		t.Fatal("Neo4j created the uniqueness constraint over duplicate keys")
	}
	if dup := s.duplicateKeys(ctx, err); dup == nil || dup.Key != "late@example.com" {
		t.Fatalf("constraint failure %v traced to %v, want late@example.com", err, dup)
	}
	if dup := s.duplicateKeys(ctx, &neo4j.Neo4jError{Code: "Neo.ClientError.Security.Forbidden"}); dup != nil {
		t.Fatalf("a privilege error traced to %v", dup)
	}
	if dup := s.duplicateKeys(ctx, nil); dup != nil {
		t.Fatalf("success traced to %v", dup)
	}
}
