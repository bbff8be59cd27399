package neo4j_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"

	usersvcneo4j "github.com/usersvc/usersvc/proxy/neo4j"
	"github.com/usersvc/usersvc/proxy/proxytest"
	"github.com/usersvc/usersvc/testsupport/neo4jserver"
)

// graph is the real Neo4j the package's tests share (testsupport/neo4jserver:
// Neo4j Community from Maven Central; USERSVC_NEO4J_VERSION picks 5.26 or
// 4.4; NEO4J_TEST_URI points at an external one), emptied for the caller,
// with a driver of the test's own for writing what other writers
// (databuilder) write and reading what usersvc wrote.
type graph struct {
	srv    *neo4jserver.Server
	driver neo4j.DriverWithContext
}

func realGraph(t testing.TB) *graph {
	t.Helper()
	srv := neo4jserver.Get(t)
	neo4jserver.Clean(t, srv)
	d, err := neo4j.NewDriverWithContext(srv.URI, neo4j.BasicAuth(srv.User, srv.Password, ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close(context.Background()) })
	return &graph{srv: srv, driver: d}
}

// run executes one auto-committed query and returns its records.
func (g *graph) run(t testing.TB, query string, params map[string]any) []*neo4j.Record {
	t.Helper()
	res, err := neo4j.ExecuteQuery(context.Background(), g.driver, query, params, neo4j.EagerResultTransformer)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return res.Records
}

// count runs a query returning one integer.
func (g *graph) count(t testing.TB, query string, params map[string]any) int64 {
	t.Helper()
	n, _ := g.run(t, query, params)[0].Values[0].(int64)
	return n
}

// userKeyConstraints counts the uniqueness constraints on User.key,
// whatever their names.
func (g *graph) userKeyConstraints(t testing.TB) int64 {
	t.Helper()
	return g.count(t, userKeyConstraintQuery, nil)
}

// userKeyConstraintQuery counts them (SHOW CONSTRAINTS: UNIQUENESS on 4.4
// and 5.x, NODE_PROPERTY_UNIQUENESS on later 5.x).
const userKeyConstraintQuery = "SHOW CONSTRAINTS YIELD labelsOrTypes, properties, type WHERE labelsOrTypes = ['User'] AND properties = ['key'] AND type CONTAINS 'UNIQUE' RETURN count(*)"

// store opens usersvc's store on the graph (cfg's connection fields are
// filled in) with its schema in place.
func (g *graph) store(t testing.TB, cfg usersvcneo4j.Config) *usersvcneo4j.Store {
	t.Helper()
	if cfg.URI == "" {
		cfg.URI = g.srv.URI
	}
	cfg.Username, cfg.Password = g.srv.User, g.srv.Password
	if cfg.Database == "" {
		cfg.Database = os.Getenv("NEO4J_TEST_DATABASE")
	}
	s, err := usersvcneo4j.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// realNeo4j is the store with the contract's settings on an empty graph.
func realNeo4j(t testing.TB) *usersvcneo4j.Store {
	t.Helper()
	return realGraph(t).ready(t, usersvcneo4j.Config{RetryTime: 10 * time.Second, OtherKeys: proxytest.OtherKeys()})
}

// ready is store after its start-up schema step.
func (g *graph) ready(t testing.TB, cfg usersvcneo4j.Config) *usersvcneo4j.Store {
	t.Helper()
	s := g.store(t, cfg)
	ctx := context.Background()
	s.EnsureSchema(ctx)
	if err := s.SchemaReady(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// seeded is a ready store over the contract's fixture catalog.
func (g *graph) seeded(t testing.TB) *usersvcneo4j.Store {
	t.Helper()
	s := g.ready(t, usersvcneo4j.Config{RetryTime: 10 * time.Second, OtherKeys: proxytest.OtherKeys()})
	if err := s.LoadCatalog(context.Background(), proxytest.Catalog()); err != nil {
		t.Fatal(err)
	}
	return s
}
