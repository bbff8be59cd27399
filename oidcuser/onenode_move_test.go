package oidcuser_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/proxy/proxytest"
	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/oktaapi"
)

// fullSync reads everyone, as `usersvc sync --full` does.
func (e *personEnv) fullSync(t *testing.T) oidcuser.SyncReport {
	t.Helper()
	rep, err := oidcuser.NewSyncer(e.dir, e.store, oidcuser.SyncConfig{Owner: "test", Full: true}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// graceNodes are the keys of the nodes carrying Grace's Okta id, and of the
// active ones among them.
func (e *personEnv) graceNodes(t *testing.T) (all, active []string) {
	t.Helper()
	ctx := context.Background()
	keys, err := e.store.UserKeysByDirectoryID(ctx, "00u2grace")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if u, err := e.store.GetUser(ctx, k); err == nil && u.IsActive {
			active = append(active, k)
		}
	}
	return keys, active
}

// wantGraceAt: Grace is one node, keyed key, holding the follow made
// before her key changed, listed once.
func (e *personEnv) wantGraceAt(t *testing.T, key string) {
	t.Helper()
	all, active := e.graceNodes(t)
	if len(all) != 1 || all[0] != key || len(active) != 1 {
		t.Fatalf("Grace's nodes = %v (active %v), want one, keyed %s", all, active, key)
	}
	if code, body := e.do(t, http.MethodGet, "/user/"+key+"/follow/"); code != http.StatusOK || !strings.Contains(body, `"name":"orders"`) {
		t.Fatalf("follows of %s = %d %s; the follow did not move with the node", key, code, body)
	}
	if n := e.listedGraces(t); n != 1 {
		t.Fatalf("GET /user lists Grace %d times", n)
	}
}

// TestOnePersonOneNodeWhenTheKeyChanges: DESIGN §3 — a directory person's
// node moves, properties and edges, when their key changes; it is never
// copied. Okta allows a profile's email to change and allows two people the
// same email (only login is unique: developer.okta.com, Users API, "profile
// object"), so both happen to a real org.
func TestOnePersonOneNodeWhenTheKeyChanges(t *testing.T) {
	grace := func(email string) oktaapi.User {
		return oktaapi.NewUser("00u2grace", "ghopper", email, "Grace", "Hopper", "ACTIVE")
	}
	for name, newStore := range personStores {
		// Resolved by email, followed, then her email changes in Okta.
		start := func(t *testing.T) *personEnv {
			e := newPersonEnv(t, newStore)
			if code, body := e.do(t, http.MethodPut, "/user/grace.hopper@example.com/follow/table/"+proxytest.TableOrders); code != http.StatusOK {
				t.Fatalf("follow = %d %s", code, body)
			}
			e.wantGraceAt(t, "grace.hopper@example.com")
			return e
		}
		t.Run(name+"/email changed, then a sync", func(t *testing.T) {
			e := start(t)
			e.org.AddUsers(grace("grace@navy.example"))
			if rep := e.fullSync(t); rep.Moved != 1 {
				t.Fatalf("sync report %+v, want one move", rep)
			}
			e.wantGraceAt(t, "grace@navy.example")
			if _, err := e.store.GetUser(context.Background(), "grace.hopper@example.com"); !schema.IsNotFound(err) {
				t.Fatalf("the old key still holds a node: %v", err)
			}
			if rep := e.fullSync(t); rep.Moved != 0 || rep.Created != 0 {
				t.Fatalf("second sync %+v: nothing should move or be created", rep)
			}
		})
		t.Run(name+"/email changed, then a request by the new email", func(t *testing.T) {
			e := start(t)
			e.org.AddUsers(grace("grace@navy.example"))
			if code, body := e.do(t, http.MethodGet, "/user/grace@navy.example"); code != http.StatusOK || !strings.Contains(body, `"email":"grace@navy.example"`) {
				t.Fatalf("GET by the new email = %d %s", code, body)
			}
			e.wantGraceAt(t, "grace@navy.example")
		})
		t.Run(name+"/email now shared, then a sync", func(t *testing.T) {
			e := start(t)
			e.org.AddUsers(oktaapi.NewUser("00u9nina", "nina", "grace.hopper@example.com", "Nina", "Other", "ACTIVE"))
			e.fullSync(t)
			e.wantGraceAt(t, "ghopper")
			if u, err := e.store.GetUser(context.Background(), "nina"); err != nil || u.OtherKeyValues["okta_id"] != "00u9nina" {
				t.Fatalf("Nina = %+v, %v", u, err)
			}
			if u, err := e.store.GetUser(context.Background(), "grace.hopper@example.com"); err == nil && u.IsActive {
				t.Fatalf("an active node stays under the shared email: %+v", u)
			}
		})
		t.Run(name+"/new key held by a minimal node: the old node is deactivated", func(t *testing.T) {
			e := start(t)
			// Someone followed a table as the new email before the change.
			if code, body := e.do(t, http.MethodPut, "/user/grace@navy.example/follow/table/"+proxytest.TableEvents); code != http.StatusOK {
				t.Fatalf("follow = %d %s", code, body)
			}
			e.org.AddUsers(grace("grace@navy.example"))
			e.fullSync(t)
			_, active := e.graceNodes(t)
			if len(active) != 1 || active[0] != "grace@navy.example" {
				t.Fatalf("active nodes of Grace = %v, want only the new key", active)
			}
			if n := e.listedGraces(t); n != 1 {
				t.Fatalf("GET /user lists Grace %d times", n)
			}
		})
		t.Run(name+"/PUT /user by her login updates her node", func(t *testing.T) {
			e := start(t)
			w := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodPut, "/user", strings.NewReader(`{"user_id":"ghopper","first_name":"Grace","last_name":"Hopper","slack_id":"U123"}`))
			e.h.ServeHTTP(w, req)
			if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"email":"grace.hopper@example.com"`) {
				t.Fatalf("PUT /user by login = %d %s, want 200 with her node", w.Code, w.Body.String())
			}
			if _, err := e.store.GetUser(context.Background(), "ghopper"); !schema.IsNotFound(err) {
				t.Fatalf("a second node was written under the login: %v", err)
			}
			if code, body := e.do(t, http.MethodGet, "/user/ghopper"); code != http.StatusOK || !strings.Contains(body, `"slack_id":"U123"`) || !strings.Contains(body, `"email":"grace.hopper@example.com"`) {
				t.Fatalf("GET by login = %d %s", code, body)
			}
			e.wantGraceAt(t, "grace.hopper@example.com")
		})
	}
}
