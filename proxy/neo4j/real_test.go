package neo4j_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usersvc/usersvc/proxy"
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

// TestContractThroughReadCacheAgainstRealNeo4j: the store contract holds
// with the read cache in front (GRAPH_CACHE_TTL, on by default): every
// write the contract makes and reads back goes through the cache.
func TestContractThroughReadCacheAgainstRealNeo4j(t *testing.T) {
	s := realNeo4j(t)
	proxytest.Run(t, func(t *testing.T) proxytest.Store {
		wipe(t, s)
		return proxy.Cached(s, proxy.CacheConfig{TTL: time.Hour})
	})
}

// TestReadCacheStalenessBoundAgainstRealNeo4j: what another replica writes
// to the same Neo4j shows through this replica's cache once the TTL has
// passed since the answer was read, and not earlier (the clock is the
// test's, so the bound is checked exactly); this replica's own writes show
// at once.
func TestReadCacheStalenessBoundAgainstRealNeo4j(t *testing.T) {
	other := realNeo4j(t) // another replica: its own driver, same graph
	s := realGraph(t).seeded(t)
	now := time.Unix(1_700_000_000, 0)
	ttl := 2 * time.Second
	c := proxy.Cached(s, proxy.CacheConfig{TTL: ttl, Now: func() time.Time { return now }})
	ctx := context.Background()
	const key = "grace@example.com"
	if _, _, err := c.CreateUpdateUser(ctx, schema.User{UserID: key, Email: key, FirstName: "Grace", IsActive: true}); err != nil {
		t.Fatal(err)
	}
	if u, err := c.GetUser(ctx, key); err != nil || u.RoleName != "" {
		t.Fatalf("user = %+v, %v", u, err)
	}
	if res, err := c.GetUserResources(ctx, key, schema.Follow); err != nil || len(res.Table) != 0 {
		t.Fatalf("follows = %+v, %v", res, err)
	}

	if _, _, err := other.CreateUpdateUser(ctx, schema.User{UserID: key, Email: key, RoleName: "Admiral", IsActive: true}); err != nil {
		t.Fatal(err)
	}
	if err := other.AddResourceRelation(ctx, key, schema.Follow, schema.Table, proxytest.TableOrders); err != nil {
		t.Fatal(err)
	}
	now = now.Add(ttl - time.Millisecond)
	if u, _ := c.GetUser(ctx, key); u.RoleName != "" {
		t.Fatalf("role within the TTL = %q: the answer was not cached", u.RoleName)
	}
	if res, _ := c.GetUserResources(ctx, key, schema.Follow); len(res.Table) != 0 {
		t.Fatalf("follows within the TTL = %+v: the answer was not cached", res)
	}
	now = now.Add(time.Millisecond)
	if u, _ := c.GetUser(ctx, key); u.RoleName != "Admiral" {
		t.Fatalf("role once the TTL passed = %q, want the other replica's", u.RoleName)
	}
	if res, _ := c.GetUserResources(ctx, key, schema.Follow); len(res.Table) != 1 {
		t.Fatalf("follows once the TTL passed = %+v, want the other replica's edge", res)
	}

	// This replica's own write shows at once, however fresh the answer.
	if err := c.DeleteResourceRelation(ctx, key, schema.Follow, schema.Table, proxytest.TableOrders); err != nil {
		t.Fatal(err)
	}
	if res, _ := c.GetUserResources(ctx, key, schema.Follow); len(res.Table) != 0 {
		t.Fatalf("follows after this replica's delete = %+v", res)
	}
}
