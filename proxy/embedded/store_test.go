package embedded_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/usersvc/usersvc/proxy"
	"github.com/usersvc/usersvc/proxy/embedded"
	"github.com/usersvc/usersvc/proxy/proxytest"
	"github.com/usersvc/usersvc/schema"
)

func open(t *testing.T, path string) *embedded.Store {
	t.Helper()
	s, err := embedded.Open(path, time.Second, embedded.WithOtherKeys(proxytest.OtherKeys()))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestContract(t *testing.T) {
	proxytest.Run(t, func(t *testing.T) proxytest.Store {
		return open(t, filepath.Join(t.TempDir(), "usersvc.db"))
	})
}

func TestDataSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "nested", "usersvc.db")
	s, err := embedded.Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.LoadCatalog(ctx, proxytest.Catalog()); err != nil {
		t.Fatal(err)
	}
	u := schema.User{UserID: "erin@example.com", Email: "erin@example.com", DisplayName: "Erin", IsActive: true}
	if _, _, err := s.CreateUpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := s.AddResourceRelation(ctx, u.Key(), schema.Follow, schema.Table, proxytest.TableOrders); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path)
	got, err := s.GetUser(ctx, u.Key())
	if err != nil || got.DisplayName != "Erin" {
		t.Fatalf("after reopen GetUser = %+v, %v", got, err)
	}
	res, err := s.GetUserResources(ctx, u.Key(), schema.Follow)
	if err != nil || len(res.Table) != 1 {
		t.Fatalf("after reopen follows = %+v, %v", res, err)
	}
}

func TestSecondOpenFailsWhileLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usersvc.db")
	open(t, path)
	if _, err := embedded.Open(path, 50*time.Millisecond); err == nil {
		t.Fatal("second Open of a locked file succeeded")
	}
}

func TestClosedStoreIsUnavailable(t *testing.T) {
	s, err := embedded.Open(filepath.Join(t.TempDir(), "usersvc.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	if err := s.Health(context.Background()); schema.KindOf(err) != schema.KindUnavailable {
		t.Fatalf("Health on closed store = %v, want unavailable", err)
	}
	if _, err := s.GetUser(context.Background(), "x"); schema.KindOf(err) != schema.KindUnavailable {
		t.Fatalf("GetUser on closed store = %v, want unavailable", err)
	}
}

// TestContractThroughReadCache: the store contract holds with the read
// cache (GRAPH_CACHE_TTL, on by default) in front of the embedded store.
func TestContractThroughReadCache(t *testing.T) {
	proxytest.Run(t, func(t *testing.T) proxytest.Store {
		return proxy.Cached(open(t, filepath.Join(t.TempDir(), "usersvc.db")), proxy.CacheConfig{TTL: time.Hour})
	})
}
