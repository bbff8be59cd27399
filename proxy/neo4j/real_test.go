package neo4j_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	usersvcneo4j "github.com/usersvc/usersvc/proxy/neo4j"
	"github.com/usersvc/usersvc/proxy/proxytest"
	"github.com/usersvc/usersvc/schema"
)

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
