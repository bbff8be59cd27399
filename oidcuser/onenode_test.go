package oidcuser_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usersvc/usersvc/handlers"
	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/oidcuser/okta"
	"github.com/usersvc/usersvc/proxy"
	"github.com/usersvc/usersvc/proxy/embedded"
	usersvcneo4j "github.com/usersvc/usersvc/proxy/neo4j"
	"github.com/usersvc/usersvc/proxy/proxytest"
	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/neo4jserver"
	"github.com/usersvc/usersvc/testsupport/oktaapi"
)

type personStore interface {
	proxy.Store
	proxy.CatalogLoader
	oidcuser.SyncStore
}

// personStores are both stores, fresh and seeded with the fixture catalog:
// the embedded one, and Neo4j's on the real Neo4j the test binary starts.
var personStores = map[string]func(t *testing.T) personStore{
	"embedded": func(t *testing.T) personStore {
		s, err := embedded.Open(filepath.Join(t.TempDir(), "u.db"), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	},
	"neo4j": func(t *testing.T) personStore {
		srv := neo4jserver.Get(t)
		neo4jserver.Clean(t, srv)
		s, err := usersvcneo4j.Open(usersvcneo4j.Config{URI: srv.URI, Username: srv.User, Password: srv.Password, ConnectTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		s.EnsureSchema(context.Background())
		if err := s.SchemaReady(context.Background()); err != nil {
			t.Fatal(err)
		}
		return s
	},
}

type personEnv struct {
	h     http.Handler
	org   *oktaapi.Server
	store personStore
	dir   *okta.Directory
}

func newPersonEnv(t *testing.T, newStore func(*testing.T) personStore) *personEnv {
	t.Helper()
	org := newOrg(t)
	store := newStore(t)
	if err := store.LoadCatalog(context.Background(), proxytest.Catalog()); err != nil {
		t.Fatal(err)
	}
	dir := newDirectory(t, org, okta.Config{})
	log := slog.New(slog.DiscardHandler)
	// A generous lookup budget: these tests are about one node per person,
	// not about timing, and a cold Neo4j 4.4 on a loaded 2-core CI machine
	// took over 1s for a first write.
	resolver := oidcuser.NewResolver(store, oidcuser.ResolverConfig{Directory: dir, LookupTimeout: 15 * time.Second, Logger: log})
	return &personEnv{h: handlers.New(handlers.Deps{Logger: log, Users: resolver, Store: store}), org: org, store: store, dir: dir}
}

func (e *personEnv) do(t *testing.T, method, path string) (int, string) {
	t.Helper()
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, httptest.NewRequest(method, path, nil))
	return w.Code, w.Body.String()
}

func (e *personEnv) sync(t *testing.T) {
	t.Helper()
	if _, err := oidcuser.NewSyncer(e.dir, e.store, oidcuser.SyncConfig{Owner: "test"}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// listedGraces counts Grace's entries in GET /user (a bare array, or the
// older {"users": [...]} object).
func (e *personEnv) listedGraces(t *testing.T) int {
	t.Helper()
	code, body := e.do(t, http.MethodGet, "/user")
	if code != http.StatusOK {
		t.Fatalf("GET /user = %d %s", code, body)
	}
	var users []map[string]any
	if err := json.Unmarshal([]byte(body), &users); err != nil {
		var wrapped struct {
			Users []map[string]any `json:"users"`
		}
		if err := json.Unmarshal([]byte(body), &wrapped); err != nil {
			t.Fatalf("GET /user body %s: %v", body, err)
		}
		users = wrapped.Users
	}
	n := 0
	for _, u := range users {
		if okv, _ := u["other_key_values"].(map[string]any); okv["okta_id"] == "00u2grace" {
			n++
		}
	}
	return n
}

// checkOneGrace: Grace (login ghopper, email grace.hopper@example.com) has
// exactly one node, keyed by her email, listed once, and none under her
// login.
func (e *personEnv) checkOneGrace(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.store.GetUser(ctx, "ghopper"); !schema.IsNotFound(err) {
		t.Fatalf("a node was written under the login: %v", err)
	}
	u, err := e.store.GetUser(ctx, "grace.hopper@example.com")
	if err != nil || u.UserID != "ghopper" || u.OtherKeyValues["okta_id"] != "00u2grace" {
		t.Fatalf("email-keyed node = %+v, %v", u, err)
	}
	if n := e.listedGraces(t); n != 1 {
		t.Fatalf("GET /user lists Grace %d times, want once", n)
	}
}

// TestOnePersonOneNode: whichever comes first, a request by login or a
// sync, Grace ends up as one email-keyed node; the login is a graph hit
// through user_id afterwards, and follows made by login land on her node.
func TestOnePersonOneNode(t *testing.T) {
	for name, newStore := range personStores {
		t.Run(name+"/login first, then sync", func(t *testing.T) {
			e := newPersonEnv(t, newStore)
			code, body := e.do(t, http.MethodGet, "/user/ghopper")
			if code != http.StatusOK || !strings.Contains(body, `"user_id":"ghopper"`) || !strings.Contains(body, `"email":"grace.hopper@example.com"`) {
				t.Fatalf("GET by login = %d %s", code, body)
			}
			e.checkOneGrace(t)
			calls := oktaCalls(e.org)
			for _, id := range []string{"ghopper", "GHopper", "grace.hopper@example.com"} {
				if code, body := e.do(t, http.MethodGet, "/user/"+id); code != http.StatusOK || !strings.Contains(body, `"full_name":"Grace Hopper"`) {
					t.Fatalf("GET %s = %d %s", id, code, body)
				}
			}
			if n := oktaCalls(e.org) - calls; n != 0 {
				t.Fatalf("requests by login and email made %d Okta calls, want graph hits", n)
			}
			if code, body := e.do(t, http.MethodPut, "/user/ghopper/follow/table/"+proxytest.TableOrders); code != http.StatusOK {
				t.Fatalf("follow by login = %d %s", code, body)
			}
			if code, body := e.do(t, http.MethodPut, "/user/ghopper/own/dashboard/"+proxytest.DashboardSales); code != http.StatusOK {
				t.Fatalf("own by login = %d %s", code, body)
			}
			e.sync(t)
			e.checkOneGrace(t)
			for _, path := range []string{"/user/grace.hopper@example.com/follow/", "/user/ghopper/follow/"} {
				if code, body := e.do(t, http.MethodGet, path); code != http.StatusOK || !strings.Contains(body, `"name":"orders"`) {
					t.Fatalf("GET %s = %d %s; want the follow made by login", path, code, body)
				}
			}
			if code, body := e.do(t, http.MethodGet, "/user/grace.hopper@example.com/own/"); code != http.StatusOK || !strings.Contains(body, `"name":"Weekly"`) {
				t.Fatalf("own = %d %s", code, body)
			}
		})
		t.Run(name+"/sync first, then login", func(t *testing.T) {
			e := newPersonEnv(t, newStore)
			e.sync(t)
			calls := oktaCalls(e.org)
			if code, body := e.do(t, http.MethodGet, "/user/ghopper"); code != http.StatusOK || !strings.Contains(body, `"email":"grace.hopper@example.com"`) {
				t.Fatalf("GET by login = %d %s", code, body)
			}
			if n := oktaCalls(e.org) - calls; n != 0 {
				t.Fatalf("GET by login after sync made %d Okta calls, want a graph hit", n)
			}
			if code, body := e.do(t, http.MethodPut, "/user/ghopper/follow/table/"+proxytest.TableOrders); code != http.StatusOK {
				t.Fatalf("follow by login = %d %s", code, body)
			}
			if code, body := e.do(t, http.MethodGet, "/user/grace.hopper@example.com/follow/"); code != http.StatusOK || !strings.Contains(body, `"name":"orders"`) {
				t.Fatalf("follow by login is not on her node: %d %s", code, body)
			}
			e.checkOneGrace(t)
		})
		t.Run(name+"/a bad write by alias resolves and writes nothing", func(t *testing.T) {
			e := newPersonEnv(t, newStore)
			for _, path := range []string{"/user/ghopper/follow/chart/" + proxytest.TableOrders, "/user/ghopper/own/table/bad%01key"} {
				if code, body := e.do(t, http.MethodPut, path); code != http.StatusBadRequest {
					t.Fatalf("PUT %s = %d %s, want 400", path, code, body)
				}
			}
			if n := oktaCalls(e.org); n != 0 {
				t.Fatalf("bad writes made %d Okta calls", n)
			}
			if users, err := e.store.GetUsers(context.Background()); err != nil || len(users) != 0 {
				t.Fatalf("bad writes stored %d users, %v", len(users), err)
			}
		})
		t.Run(name+"/concurrent requests by login and by email", func(t *testing.T) {
			e := newPersonEnv(t, newStore)
			e.org.SetLatency(20 * time.Millisecond)
			var wg sync.WaitGroup
			codes := make([]int, 40)
			for i := range codes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					path := "/user/ghopper"
					switch i % 4 {
					case 1:
						path = "/user/grace.hopper@example.com"
					case 2:
						path = "/user/ghopper/follow/table/" + proxytest.TableOrders
					case 3:
						path = "/user/Grace.Hopper@example.com/follow/table/" + proxytest.TableEvents
					}
					method := http.MethodGet
					if i%4 >= 2 {
						method = http.MethodPut
					}
					codes[i], _ = e.do(t, method, path)
				}()
			}
			wg.Wait()
			for i, c := range codes {
				if c != http.StatusOK {
					t.Fatalf("request %d = %d", i, c)
				}
			}
			e.checkOneGrace(t)
			code, body := e.do(t, http.MethodGet, "/user/ghopper/follow/")
			if code != http.StatusOK || !strings.Contains(body, `"name":"orders"`) || !strings.Contains(body, `"name":"events"`) {
				t.Fatalf("follows = %d %s; want both on her node", code, body)
			}
		})
	}
}
