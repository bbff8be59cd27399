package proxy_test

import (
	"context"
	"path/filepath"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usersvc/usersvc/proxy"
	"github.com/usersvc/usersvc/proxy/embedded"
	"github.com/usersvc/usersvc/proxy/proxytest"
	"github.com/usersvc/usersvc/schema"
)

// counted is the real embedded store with its cacheable reads counted, and
// optionally held or failed: it shows which answers reached the store.
type counted struct {
	proxy.Graph
	reads atomic.Int64
	// hold, when set, is called inside GetUser before the store reads.
	hold func()
	fail error
}

func (c *counted) GetUser(ctx context.Context, key string) (schema.User, error) {
	c.reads.Add(1)
	if c.hold != nil {
		c.hold()
	}
	if c.fail != nil {
		return schema.User{}, c.fail
	}
	return c.Graph.GetUser(ctx, key)
}

func (c *counted) GetUserByUserID(ctx context.Context, id string) (schema.User, error) {
	c.reads.Add(1)
	return c.Graph.GetUserByUserID(ctx, id)
}

func (c *counted) LookupUser(ctx context.Context, key string) (schema.User, error) {
	c.reads.Add(1)
	return c.Graph.LookupUser(ctx, key)
}

func (c *counted) GetUserResources(ctx context.Context, key string, rel schema.Relation) (schema.UserResources, error) {
	c.reads.Add(1)
	return c.Graph.GetUserResources(ctx, key, rel)
}

func (c *counted) GetFrequentlyUsedTables(ctx context.Context, key string) ([]schema.PopularTable, error) {
	c.reads.Add(1)
	return c.Graph.GetFrequentlyUsedTables(ctx, key)
}

const ada = "ada@example.com"

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// newCached returns a cache with a long TTL on a fresh embedded store
// holding the fixture catalog and ada, who follows and owns a table.
func newCached(t *testing.T) (*proxy.Cache, *counted, *clock) {
	t.Helper()
	s, err := embedded.Open(filepath.Join(t.TempDir(), "u.db"), time.Second, embedded.WithOtherKeys(proxytest.OtherKeys()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	if err := s.LoadCatalog(ctx, proxytest.Catalog()); err != nil {
		t.Fatal(err)
	}
	u := schema.User{NodeKey: ada, UserID: "ada", Email: ada, FirstName: "Ada", IsActive: true, OtherKeyValues: map[string]string{"okta_id": "00u1"}}
	if _, _, err := s.CreateUpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []schema.Relation{schema.Follow, schema.Own} {
		if err := s.AddResourceRelation(ctx, ada, rel, schema.Table, proxytest.TableOrders); err != nil {
			t.Fatal(err)
		}
	}
	inner := &counted{Graph: s}
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	return proxy.Cached(inner, proxy.CacheConfig{TTL: time.Minute, Now: clk.now}), inner, clk
}

// readAll makes every cacheable read once.
func readAll(t *testing.T, c *proxy.Cache) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.GetUser(ctx, ada); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetUserByUserID(ctx, "ada"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LookupUser(ctx, "ada"); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []schema.Relation{schema.Follow, schema.Own} {
		if _, err := c.GetUserResources(ctx, ada, rel); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.GetFrequentlyUsedTables(ctx, ada); err != nil {
		t.Fatal(err)
	}
}

const cacheableReads = 6 // the reads readAll makes

func TestCacheAnswersRepeatedReadsFromMemory(t *testing.T) {
	c, inner, _ := newCached(t)
	readAll(t, c)
	readAll(t, c)
	readAll(t, c)
	if got := inner.reads.Load(); got != cacheableReads {
		t.Fatalf("store reads = %d, want %d (the first round only)", got, cacheableReads)
	}
	if st := c.Stats(); st.Hits != 2*cacheableReads || st.Misses != cacheableReads {
		t.Fatalf("stats = %+v", st)
	}
}

// TestCacheStalenessBound: a change made around the cache (another writer)
// shows once TTL has passed since the answer was read, and not before.
func TestCacheStalenessBound(t *testing.T) {
	c, inner, clk := newCached(t)
	ctx := context.Background()
	if u, _ := c.GetUser(ctx, ada); u.RoleName != "" {
		t.Fatalf("role_name = %q", u.RoleName)
	}
	// Another writer: straight to the store, not through the cache.
	if _, _, err := inner.Graph.CreateUpdateUser(ctx, schema.User{NodeKey: ada, UserID: "ada", Email: ada, RoleName: "Countess", IsActive: true}); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(time.Minute - time.Nanosecond)
	if u, _ := c.GetUser(ctx, ada); u.RoleName != "" {
		t.Fatalf("role_name within the TTL = %q: the answer was not cached", u.RoleName)
	}
	clk.t = clk.t.Add(time.Nanosecond)
	if u, _ := c.GetUser(ctx, ada); u.RoleName != "Countess" {
		t.Fatalf("role_name once the TTL passed = %q, want the other writer's", u.RoleName)
	}
}

// writes makes each write of proxy.Graph once, through the cache, and says
// what the reads after it must show.
var writes = map[string]func(ctx context.Context, c *proxy.Cache) error{
	"CreateUpdateUser": func(ctx context.Context, c *proxy.Cache) error {
		_, _, err := c.CreateUpdateUser(ctx, schema.User{NodeKey: ada, UserID: "ada", Email: ada, RoleName: "Countess", IsActive: true})
		return err
	},
	"MoveUser": func(ctx context.Context, c *proxy.Cache) error {
		return c.MoveUser(ctx, ada, "ada@new.example.com")
	},
	"AddResourceRelation": func(ctx context.Context, c *proxy.Cache) error {
		return c.AddResourceRelation(ctx, ada, schema.Follow, schema.Dashboard, proxytest.DashboardSales)
	},
	"DeleteResourceRelation": func(ctx context.Context, c *proxy.Cache) error {
		return c.DeleteResourceRelation(ctx, ada, schema.Own, schema.Table, proxytest.TableOrders)
	},
	"SetUserPropertyIfAbsent": func(ctx context.Context, c *proxy.Cache) error {
		_, err := c.SetUserPropertyIfAbsent(ctx, ada, "location", "London")
		return err
	},
	"ClearUserProperties": func(ctx context.Context, c *proxy.Cache) error {
		return c.ClearUserProperties(ctx, ada, "first_name")
	},
	"LoadCatalog": func(ctx context.Context, c *proxy.Cache) error {
		cat := proxytest.Catalog()
		cat.Reads = []schema.ReadRecord{{User: ada, Table: proxytest.TableEvents, ReadCount: 3}}
		return c.LoadCatalog(ctx, cat)
	},
}

// TestCacheEveryWriteInvalidates: after any write through the cache, every
// cacheable read goes to the store again and shows the write.
func TestCacheEveryWriteInvalidates(t *testing.T) {
	for name, write := range writes {
		t.Run(name, func(t *testing.T) {
			c, inner, _ := newCached(t)
			ctx := context.Background()
			before, _ := c.GetUser(ctx, ada)
			follows, _ := c.GetUserResources(ctx, ada, schema.Follow)
			owns, _ := c.GetUserResources(ctx, ada, schema.Own)
			reads, _ := c.GetFrequentlyUsedTables(ctx, ada)
			if looked, _ := c.LookupUser(ctx, ada); !reflect.DeepEqual(looked, before) {
				t.Fatalf("LookupUser = %+v, GetUser %+v", looked, before)
			}
			readAll(t, c)
			if err := write(ctx, c); err != nil {
				t.Fatal(err)
			}
			n := inner.reads.Load()
			key := ada
			if name == "MoveUser" {
				key = "ada@new.example.com"
			}
			after, err := c.GetUser(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			follows2, _ := c.GetUserResources(ctx, key, schema.Follow)
			owns2, _ := c.GetUserResources(ctx, key, schema.Own)
			reads2, _ := c.GetFrequentlyUsedTables(ctx, key)
			looked, _ := c.LookupUser(ctx, key)
			if got := inner.reads.Load() - n; got != 5 {
				t.Fatalf("store reads after the write = %d, want 5 (nothing answered from before it)", got)
			}
			direct, _ := inner.Graph.GetUser(ctx, key)
			if !reflect.DeepEqual(after, direct) || !reflect.DeepEqual(looked, direct) {
				t.Fatalf("after %s: cache %+v, LookupUser %+v, store %+v", name, after, looked, direct)
			}
			changed := !reflect.DeepEqual(before, after) || len(follows2.Dashboard) != len(follows.Dashboard) ||
				len(owns2.Table) != len(owns.Table) || len(reads2) != len(reads)
			if name != "MoveUser" && !changed {
				t.Fatalf("%s changed nothing the reads show: the case proves nothing", name)
			}
			// The old key of a moved node must not answer from memory.
			if name == "MoveUser" {
				if _, err := c.GetUser(ctx, ada); !schema.IsNotFound(err) {
					t.Fatalf("old key after the move = %v, want not found", err)
				}
			}
		})
	}
}

// TestCacheWritesTableCoversGraph: every method of proxy.Graph is a cached
// read, a read that passes through, or a write in the table above, so a
// write added to the interface cannot skip invalidation unnoticed.
func TestCacheWritesTableCoversGraph(t *testing.T) {
	known := []string{
		"GetUser", "GetUserByUserID", "LookupUser", "GetUserResources", "GetFrequentlyUsedTables", // cached
		"GetUsers", "UserKeysByDirectoryID", "UserKeysByProperty", "UserProperties", "PageUserKeys", "PageSCIMUserKeys", // pass through
		"GetSyncState", "PutSyncState", "AcquireLease", "ReleaseLease", // sync bookkeeping, not user data
		"Health", "Kind", "Close",
	}
	g := reflect.TypeFor[proxy.Graph]()
	for i := range g.NumMethod() {
		name := g.Method(i).Name
		if _, ok := writes[name]; !ok && !slices.Contains(known, name) {
			t.Errorf("proxy.Graph.%s is neither a known read nor in the writes table", name)
		}
	}
}

// TestCacheReadOverlappingWriteIsNotKept: a read that began before a write
// finished may hold the state from before it; it is answered but not kept.
func TestCacheReadOverlappingWriteIsNotKept(t *testing.T) {
	c, inner, _ := newCached(t)
	ctx := context.Background()
	entered, release := make(chan struct{}), make(chan struct{})
	inner.hold = func() { close(entered); <-release }
	got := make(chan schema.User)
	go func() { u, _ := c.GetUser(ctx, ada); got <- u }()
	<-entered
	inner.hold = nil
	if err := writes["CreateUpdateUser"](ctx, c); err != nil {
		t.Fatal(err)
	}
	close(release)
	<-got
	if u, _ := c.GetUser(ctx, ada); u.RoleName != "Countess" {
		t.Fatalf("role_name after the write = %q: a read that overlapped the write was kept", u.RoleName)
	}
}

func TestCacheKeepsNotFoundUntilAWrite(t *testing.T) {
	c, inner, _ := newCached(t)
	ctx := context.Background()
	for range 3 {
		if _, err := c.GetUser(ctx, "nobody@example.com"); !schema.IsNotFound(err) {
			t.Fatalf("err = %v", err)
		}
	}
	if got := inner.reads.Load(); got != 1 {
		t.Fatalf("store reads = %d, want 1", got)
	}
	if _, _, err := c.CreateUpdateUser(ctx, schema.User{UserID: "nobody@example.com", Email: "nobody@example.com", IsActive: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetUser(ctx, "nobody@example.com"); err != nil {
		t.Fatalf("after creating the user: %v", err)
	}
}

func TestCacheDoesNotKeepFailures(t *testing.T) {
	c, inner, _ := newCached(t)
	ctx := context.Background()
	inner.fail = schema.Errorf(schema.KindUnavailable, "neo4j away")
	if _, err := c.GetUser(ctx, ada); schema.KindOf(err) != schema.KindUnavailable {
		t.Fatalf("err = %v", err)
	}
	inner.fail = nil
	if u, err := c.GetUser(ctx, ada); err != nil || u.FirstName != "Ada" {
		t.Fatalf("after the outage: %+v, %v (the failure was kept)", u, err)
	}
}

func TestCacheAnswersAreCopies(t *testing.T) {
	c, _, _ := newCached(t)
	ctx := context.Background()
	u, _ := c.GetUser(ctx, ada)
	u.OtherKeyValues["okta_id"] = "changed by a caller"
	if again, _ := c.GetUser(ctx, ada); again.OtherKeyValues["okta_id"] != "00u1" {
		t.Fatalf("other_key_values = %v: a caller changed the cached user", again.OtherKeyValues)
	}
}

func TestCacheSizeBound(t *testing.T) {
	s, err := embedded.Open(filepath.Join(t.TempDir(), "u.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	inner := &counted{Graph: s}
	c := proxy.Cached(inner, proxy.CacheConfig{TTL: time.Minute, Size: 3})
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		_, _ = c.GetUser(ctx, k)
	}
	inner.reads.Store(0)
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		_, _ = c.GetUser(ctx, k)
	}
	if got := inner.reads.Load(); got < 2 {
		t.Fatalf("store reads = %d of 5 keys with room for 3", got)
	}
}

func TestCacheInvalidate(t *testing.T) {
	c, inner, _ := newCached(t)
	readAll(t, c)
	c.Invalidate()
	readAll(t, c)
	if got := inner.reads.Load(); got != 2*cacheableReads {
		t.Fatalf("store reads = %d, want %d", got, 2*cacheableReads)
	}
}
