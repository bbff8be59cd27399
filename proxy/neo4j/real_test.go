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
)

// realNeo4j opens the store against the database in NEO4J_TEST_URI (a
// throwaway one: every case wipes it), or skips. See the README for the one
// command that runs this suite against neo4j:5 in Docker.
func realNeo4j(t *testing.T) *usersvcneo4j.Store {
	t.Helper()
	uri := os.Getenv("NEO4J_TEST_URI")
	if uri == "" {
		t.Skip("NEO4J_TEST_URI is not set: the real-Neo4j suite needs a throwaway Neo4j 5 (see README)")
	}
	user := os.Getenv("NEO4J_TEST_USER")
	if user == "" {
		user = "neo4j"
	}
	s, err := usersvcneo4j.Open(usersvcneo4j.Config{URI: uri, Username: user, Password: os.Getenv("NEO4J_TEST_PASSWORD"),
		Database: os.Getenv("NEO4J_TEST_DATABASE"), RetryTime: 10 * time.Second, OtherKeys: proxytest.OtherKeys()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	// A freshly started container takes a while to accept connections.
	deadline := time.Now().Add(90 * time.Second)
	for s.Health(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("Neo4j at %s did not answer in 90s", uri)
		}
		time.Sleep(time.Second)
	}
	s.EnsureSchema(ctx)
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
		if ok, err := s.AcquireLease(ctx, "race", "crashed-runner", time.Millisecond); err != nil || !ok {
			t.Fatalf("round %d: seed lease: %v %v", round, ok, err)
		}
		time.Sleep(5 * time.Millisecond) // expired
		var wg sync.WaitGroup
		var winners atomic.Int32
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := s.AcquireLease(ctx, "race", fmt.Sprintf("runner-%d-%d", round, i), time.Millisecond)
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
		time.Sleep(5 * time.Millisecond) // the winner's lease expires for the next round
	}
}
