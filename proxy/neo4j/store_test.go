package neo4j_test

import (
	"context"
	"slices"
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

// TestLeaseStatementsWiredInMemory shows what the in-memory graph can: that
// AcquireLease is one write transaction that takes the lease node's lock
// (LockLease) before it reads the expiry and decides (AcquireLease), and
// leaves no lock marker behind. That two runners cannot both win needs
// Neo4j's locking: TestLeaseOneHolderAgainstRealNeo4j.
func TestLeaseStatementsWiredInMemory(t *testing.T) {
	bs := newBoltStore(t, true)
	ctx := context.Background()
	for _, step := range []struct {
		owner string
		want  bool
	}{{"a", true}, {"b", false}, {"a", true}} {
		before := len(bs.graph.WriteTransactions())
		ok, err := bs.AcquireLease(ctx, "okta", step.owner, time.Minute)
		if err != nil || ok != step.want {
			t.Fatalf("AcquireLease(%s) = %v, %v; want %v", step.owner, ok, err, step.want)
		}
		txs := bs.graph.WriteTransactions()[before:]
		if len(txs) != 1 || !slices.Equal(txs[0], []string{"LockLease", "AcquireLease"}) {
			t.Fatalf("AcquireLease ran %q, want one transaction [LockLease AcquireLease]", txs)
		}
	}
	nodes, _ := bs.graph.Snapshot()
	for _, n := range nodes {
		if _, locked := n.Props["_lock"]; locked {
			t.Fatalf("lease node left with its lock marker: %v", n.Props)
		}
	}
}
