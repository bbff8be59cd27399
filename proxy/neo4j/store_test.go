package neo4j_test

import (
	"context"
	"testing"
	"time"

	usersvcneo4j "github.com/usersvc/usersvc/proxy/neo4j"
	"github.com/usersvc/usersvc/proxy/proxytest"
	"github.com/usersvc/usersvc/testsupport/boltserver"
	"github.com/usersvc/usersvc/testsupport/neo4jgraph"
)

// boltStore is the Neo4j store against the Bolt test server over a fresh
// in-memory graph.
type boltStore struct {
	*usersvcneo4j.Store
	graph  *neo4jgraph.Graph
	server *boltserver.Server
}

func newBoltStore(t *testing.T, start bool) boltStore {
	t.Helper()
	g := neo4jgraph.New()
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

func TestContractOverBolt(t *testing.T) {
	proxytest.Run(t, func(t *testing.T) proxytest.Store {
		return newBoltStore(t, true).Store
	})
}

func TestSchemaStepCreatesConstraint(t *testing.T) {
	s := newBoltStore(t, true)
	s.EnsureSchema(context.Background())
	if !s.graph.HasConstraint("user_key_unique") {
		t.Fatal("constraint not created")
	}
	if err := s.SchemaReady(context.Background()); err != nil {
		t.Fatal(err)
	}
}
