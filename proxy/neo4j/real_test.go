package neo4j_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	usersvcneo4j "github.com/usersvc/usersvc/proxy/neo4j"
	"github.com/usersvc/usersvc/proxy/proxytest"
	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/neo4jserver"
)

// realNeo4j opens the store against the real Neo4j this test binary
// starts (testsupport/neo4jserver: Neo4j Community from Maven Central,
// USERSVC_NEO4J_VERSION picks 5.26 or 4.4), or the server NEO4J_TEST_URI
// names; every case wipes it.
func realNeo4j(t *testing.T) *usersvcneo4j.Store {
	t.Helper()
	srv := neo4jserver.Get(t)
	neo4jserver.Clean(t, srv)
	s, err := usersvcneo4j.Open(usersvcneo4j.Config{URI: srv.URI, Username: srv.User, Password: srv.Password,
		Database: os.Getenv("NEO4J_TEST_DATABASE"), RetryTime: 10 * time.Second, OtherKeys: proxytest.OtherKeys()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	s.EnsureSchema(ctx)
	if err := s.SchemaReady(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

func wipe(t *testing.T, s *usersvcneo4j.Store) {
	t.Helper()
	if err := s.RunFixture(context.Background(), "FixtureWipe", nil); err != nil {
		t.Fatal(err)
	}
}

func TestContractAgainstRealNeo4j(t *testing.T) {
	s := realNeo4j(t)
	proxytest.Run(t, func(t *testing.T) proxytest.Store {
		wipe(t, s)
		return s
	})
}

func TestDatabuilderDataAgainstRealNeo4j(t *testing.T) {
	s := realNeo4j(t)
	wipe(t, s)
	ctx := context.Background()
	for _, p := range databuilderUsers() {
		if err := s.RunFixture(ctx, "FixtureDatabuilderUser", p); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.GetUser(ctx, "ada.lovelace@example.com")
	if err != nil || got.UserID != "Ada.Lovelace@Example.com" || got.ManagerFullname != "Charles Babbage" || got.SlackID != "" || !got.IsActive {
		t.Fatalf("databuilder user = %+v, %v", got, err)
	}
	if _, err := s.GetUser(ctx, "nobody@example.com"); !schema.IsNotFound(err) {
		t.Fatalf("unknown user = %v", err)
	}
}

// TestLeaseOneHolderAgainstRealNeo4j: runners that all find the lease
// expired race for it; only Neo4j's locking can show that exactly one gets
// it (the in-memory graph serialises every write transaction).
func TestLeaseOneHolderAgainstRealNeo4j(t *testing.T) {
	s := realNeo4j(t)
	wipe(t, s)
	ctx := context.Background()
	for round := range 20 {
		// A lease of its own each round: the winner's lease below is long
		// (a runner that wins keeps it), so sequential takers cannot find
		// it expired; only a second concurrent winner would be a fault.
		name := fmt.Sprintf("race-%d", round)
		if ok, err := s.AcquireLease(ctx, name, "crashed-runner", time.Millisecond); err != nil || !ok {
			t.Fatalf("round %d: seed lease: %v %v", round, ok, err)
		}
		time.Sleep(5 * time.Millisecond) // expired
		var wg sync.WaitGroup
		var winners atomic.Int32
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := s.AcquireLease(ctx, name, fmt.Sprintf("runner-%d-%d", round, i), time.Minute)
				if err != nil {
					t.Error(err)
				}
				if ok {
					winners.Add(1)
				}
			}()
		}
		wg.Wait()
		if n := winners.Load(); n != 1 {
			t.Fatalf("round %d: %d runners took the expired lease, want 1", round, n)
		}
	}
}
