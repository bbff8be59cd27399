package main

import (
	"context"
	"strings"
	"testing"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"

	usersvcneo4j "github.com/usersvc/usersvc/proxy/neo4j"
	"github.com/usersvc/usersvc/proxy/proxytest"
	"github.com/usersvc/usersvc/testsupport/neo4jserver"
)

// cleanNeo4j is the test binary's real Neo4j (testsupport/neo4jserver),
// emptied for the caller.
func cleanNeo4j(t *testing.T) *neo4jserver.Server {
	t.Helper()
	srv := neo4jserver.Get(t)
	neo4jserver.Clean(t, srv)
	return srv
}

// proxyEnv points the binary at addr (host:port, the server or a relay in
// front of it) with Amundsen's PROXY_* names and srv's credentials.
func proxyEnv(srv *neo4jserver.Server, addr string) []string {
	return []string{"PROXY_HOST=bolt://127.0.0.1", "PROXY_PORT=" + addr[strings.LastIndex(addr, ":")+1:],
		"CREDENTIALS_PROXY_USER=" + srv.User, "CREDENTIALS_PROXY_PASSWORD=" + srv.Password}
}

// boltAddr is host:port of srv's Bolt listener.
func boltAddr(srv *neo4jserver.Server) string { return strings.TrimPrefix(srv.URI, "bolt://") }

// cypher runs one auto-committed query against srv and returns its records.
func cypher(t *testing.T, srv *neo4jserver.Server, query string, params map[string]any) []*neo4j.Record {
	t.Helper()
	ctx := context.Background()
	d, err := neo4j.NewDriverWithContext(srv.URI, neo4j.BasicAuth(srv.User, srv.Password, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(ctx)
	res, err := neo4j.ExecuteQuery(ctx, d, query, params, neo4j.EagerResultTransformer)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return res.Records
}

// addOrdersColumns gives proxytest.TableOrders the columns databuilder
// would have published with it (order_id, amount). Amundsen's table detail
// finds a table through its columns (_exec_col_query raises
// NotFoundException when there are none), and usersvc's catalog load
// writes none.
func addOrdersColumns(t *testing.T, srv *neo4jserver.Server) {
	t.Helper()
	cypher(t, srv, `MATCH (t:Table {key: $key})
UNWIND $cols AS c
MERGE (col:Column {key: $key + '/' + c.name})
SET col.name = c.name, col.col_type = c.type, col.sort_order = c.sort
MERGE (t)-[:COLUMN]->(col)
MERGE (col)-[:COLUMN_OF]->(t)`, map[string]any{"key": proxytest.TableOrders, "cols": []any{
		map[string]any{"name": "order_id", "type": "bigint", "sort": int64(0)},
		map[string]any{"name": "amount", "type": "decimal(10,2)", "sort": int64(1)},
	}})
}

// graphLoader is usersvc's store on srv, for seeding the graph as the
// tests' other writer (closed when the test ends).
func graphLoader(t *testing.T, srv *neo4jserver.Server) *usersvcneo4j.Store {
	t.Helper()
	s, err := usersvcneo4j.Open(usersvcneo4j.Config{URI: srv.URI, Username: srv.User, Password: srv.Password})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
