package neo4j_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	usersvcneo4j "github.com/usersvc/usersvc/proxy/neo4j"
	"github.com/usersvc/usersvc/proxy/proxytest"
	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/boltserver"
	"github.com/usersvc/usersvc/testsupport/neo4jgraph"
)

// The few cases here need a server that answers a chosen Neo4j error code
// on demand: a transient failure (to count the driver's retry), a statement
// error, and Enterprise's missing-privilege refusal, which Neo4j Community
// (no role-based access) cannot produce. Everything else runs on the real
// Neo4j (realgraph_test.go).

// boltStore is the Neo4j store against the Bolt test server over a fresh
// in-memory graph.
type boltStore struct {
	*usersvcneo4j.Store
	graph  *neo4jgraph.Graph
	server *boltserver.Server
}

func newBoltStore(t *testing.T, start bool) boltStore {
	t.Helper()
	g := neo4jgraph.NewWith(usersvcneo4j.FixtureStatements()...)
	srv := boltserver.New(t, g.Executor(), boltserver.WithAuth("neo4j", "s3cret"))
	if start {
		srv.Start(t)
	}
	s, err := usersvcneo4j.Open(usersvcneo4j.Config{
		URI: srv.URI(), Username: "neo4j", Password: "s3cret",
		ConnectTimeout: time.Second, RetryTime: 2 * time.Second, OtherKeys: proxytest.OtherKeys(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return boltStore{Store: s, graph: g, server: srv}
}

func seeded(t *testing.T) boltStore {
	t.Helper()
	s := newBoltStore(t, true)
	if err := s.LoadCatalog(context.Background(), proxytest.Catalog()); err != nil {
		t.Fatal(err)
	}
	return s
}

func countLabel(g *neo4jgraph.Graph, label string) int {
	nodes, _ := g.Snapshot()
	n := 0
	for _, node := range nodes {
		for _, l := range node.Labels {
			if l == label {
				n++
			}
		}
	}
	return n
}

func TestTransientErrorIsRetried(t *testing.T) {
	s := seeded(t)
	ctx := context.Background()
	before := s.server.Stats()
	s.server.FailNextRuns(1, boltserver.Transient)
	if _, created, err := s.CreateUpdateUser(ctx, user("ada@example.com")); err != nil || !created {
		t.Fatalf("upsert after a transient failure: created %v err %v", created, err)
	}
	st := s.server.Stats()
	if st.Begins-before.Begins != 2 || st.Commits-before.Commits != 1 {
		t.Fatalf("begins %d commits %d; want a retried transaction (2 begins, 1 commit)", st.Begins-before.Begins, st.Commits-before.Commits)
	}
	if countLabel(s.graph, "User") != 1 {
		t.Fatal("the retry wrote the user twice")
	}
}

func TestClientErrorIsNotRetried(t *testing.T) {
	s := seeded(t)
	before := s.server.Stats()
	s.server.FailNextRuns(1, "Neo.ClientError.Statement.SyntaxError")
	_, _, err := s.CreateUpdateUser(context.Background(), user("ada@example.com"))
	if err == nil || schema.KindOf(err) == schema.KindUnavailable {
		t.Fatalf("statement error = %v, want an internal (500) error", err)
	}
	if got := s.server.Stats().Begins - before.Begins; got != 1 {
		t.Fatalf("%d attempts, want 1", got)
	}
}

func TestConstraintWithoutPrivilegeIsLoggedAndTolerated(t *testing.T) {
	g := neo4jgraph.New()
	srv := boltserver.Run(t, g.Executor(), boltserver.WithAuth("neo4j", "pw"))
	var logs strings.Builder
	s, err := usersvcneo4j.Open(usersvcneo4j.Config{URI: srv.URI(), Username: "neo4j", Password: "pw",
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv.FailNextRuns(1, "Neo.ClientError.Security.Forbidden")
	s.EnsureSchema(context.Background())
	if g.HasConstraint("user_key_unique") {
		t.Fatal("constraint created despite the refusal")
	}
	if err := s.SchemaReady(context.Background()); err != nil {
		t.Fatalf("a missing privilege must not keep the service unready: %v", err)
	}
	if !strings.Contains(logs.String(), "CREATE CONSTRAINT user_key_unique IF NOT EXISTS") || !strings.Contains(logs.String(), "Neo.ClientError.Security.Forbidden") {
		t.Fatalf("log does not tell the operator what to run: %s", logs.String())
	}
}
