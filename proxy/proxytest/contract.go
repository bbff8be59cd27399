// Package proxytest is the contract every proxy.Store implementation passes:
// the embedded store, and the Neo4j store through the Bolt test server and
// against a real Neo4j.
package proxytest

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usersvc/usersvc/proxy"
	"github.com/usersvc/usersvc/schema"
)

// Store is what the contract needs of an implementation: the service's view,
// catalog seeding, sync progress, the user index the SCIM endpoint reads
// through, and the resource→user direction of edges.
type Store interface {
	proxy.Store
	proxy.CatalogLoader
	proxy.SyncStore
	proxy.UserIndex
	UsersOfResource(ctx context.Context, t schema.ResourceType, resourceKey string, rel schema.Relation) ([]string, error)
}

// ManagerLinker is implemented, in their tests, by stores whose graph can
// link a user to their manager by a MANAGE_BY edge (and MANAGE back) as
// Amundsen's databuilder does, with no manager_email on the user's node:
// the contract then checks that clearing the manager unlinks it.
type ManagerLinker interface {
	LinkManager(ctx context.Context, userKey, managerKey string) error
}

// Factory returns a fresh, empty store configured with OtherKeys(); it
// registers its own cleanup.
type Factory func(t *testing.T) Store

// OtherKeys is the USER_OTHER_KEYS setting the contract's stores must be
// opened with.
func OtherKeys() schema.OtherKeys {
	return schema.OtherKeys{"okta_id", "location", "cost_center"}
}

// Fixture catalog shared by the contract cases.
const (
	TableOrders    = "hive://gold.sales/orders"
	TableAccounts  = "hive://gold.core/accounts"
	TableEvents    = "postgres://prod.analytics/events"
	DashboardSales = "mode_dashboard://gold.sales/weekly"
	DashboardOps   = "tableau_dashboard://gold.ops/incidents"
	FeatureChurn   = "ml/churn_score/1"
)

// Catalog returns the fixture resources.
func Catalog() schema.Catalog {
	ts := int64(1700000000)
	return schema.Catalog{
		Tables: []schema.TableRecord{
			{Key: TableOrders, Database: "hive", Cluster: "gold", Schema: "sales", Name: "orders", Description: "One row per order."},
			{Key: TableAccounts, Database: "hive", Cluster: "gold", Schema: "core", Name: "accounts"},
			{Key: TableEvents, Database: "postgres", Cluster: "prod", Schema: "analytics", Name: "events", Description: "Clickstream."},
		},
		Dashboards: []schema.DashboardRecord{
			{Key: DashboardSales, Cluster: "gold", GroupName: "Sales", GroupURL: "https://mode.example/sales", Name: "Weekly", URL: "https://mode.example/sales/weekly", Description: "Weekly revenue.", LastSuccessfulRunTimestamp: &ts},
			{Key: DashboardOps, Cluster: "gold", GroupName: "Ops", Name: "Incidents"},
		},
		Features: []schema.FeatureRecord{{Key: FeatureChurn, Name: "churn_score", Group: "ml", Version: "1"}},
	}
}

// Run executes the contract against stores from newStore.
func Run(t *testing.T, newStore Factory) {
	ctx := context.Background()
	seeded := func(t *testing.T) Store {
		t.Helper()
		s := newStore(t)
		if err := s.LoadCatalog(ctx, Catalog()); err != nil {
			t.Fatalf("LoadCatalog: %v", err)
		}
		return s
	}

	t.Run("unknown user is not found", func(t *testing.T) {
		s := newStore(t)
		_, err := s.GetUser(ctx, "nobody@example.com")
		if !schema.IsNotFound(err) {
			t.Fatalf("GetUser(unknown) error = %v, want not found", err)
		}
	})

	// DESIGN §3: a directory person's node is keyed by email while user_id
	// holds their login; the login finds the node through user_id.
	t.Run("a node keyed apart from its user_id is found by user_id", func(t *testing.T) {
		s := newStore(t)
		in := alice()
		in.UserID, in.NodeKey = "aliddell", "alice@example.com"
		stored, created, err := s.CreateUpdateUser(ctx, in)
		if err != nil || !created || stored.Key() != "alice@example.com" || stored.UserID != "aliddell" {
			t.Fatalf("CreateUpdateUser = %+v (key %q), %v, %v", stored, stored.Key(), created, err)
		}
		if _, err := s.GetUser(ctx, "aliddell"); !schema.IsNotFound(err) {
			t.Fatalf("GetUser(login) = %v: a node was written under the login", err)
		}
		for _, get := range []func() (schema.User, error){
			func() (schema.User, error) { return s.GetUser(ctx, "alice@example.com") },
			func() (schema.User, error) { return s.GetUserByUserID(ctx, "aliddell") },
		} {
			got, err := get()
			if err != nil || got.Key() != "alice@example.com" || got.UserID != "aliddell" || got.FullName != "Alice Liddell" {
				t.Fatalf("read back = %+v (key %q), %v", got, got.Key(), err)
			}
		}
		if _, err := s.GetUserByUserID(ctx, "nobody"); !schema.IsNotFound(err) {
			t.Fatalf("GetUserByUserID(unknown) = %v, want not found", err)
		}
		if users, err := s.GetUsers(ctx); err != nil || len(users) != 1 {
			t.Fatalf("GetUsers = %d users, %v; want the one node", len(users), err)
		}
	})

	// LookupUser is GetUser and GetUserByUserID in one read, by
	// proxy.PickNode's rule: a stub under a login yields to the person's
	// node whose user_id is the login.
	t.Run("LookupUser picks the node a reader means", func(t *testing.T) {
		s := seeded(t)
		in := alice()
		in.UserID, in.NodeKey = "aliddell", "alice@example.com"
		if _, _, err := s.CreateUpdateUser(ctx, in); err != nil {
			t.Fatal(err)
		}
		// A follow by an id the graph did not know leaves a stub under it.
		for _, key := range []string{"aliddell", "stub.only"} {
			if err := s.AddResourceRelation(ctx, key, schema.Follow, schema.Table, TableOrders); err != nil {
				t.Fatal(err)
			}
		}
		byKey, _ := s.GetUser(ctx, "alice@example.com")
		stub, _ := s.GetUser(ctx, "stub.only")
		if !stub.IsStub() || byKey.IsStub() {
			t.Fatalf("fixture: stub %+v, person %+v", stub, byKey)
		}
		for _, c := range []struct {
			key  string
			want schema.User
		}{
			{"alice@example.com", byKey}, // the node keyed so
			{"aliddell", byKey},          // a stub under the login yields to the person
			{"stub.only", stub},          // a stub nobody names as user_id
		} {
			if got, err := s.LookupUser(ctx, c.key); err != nil || !reflect.DeepEqual(got, c.want) {
				t.Fatalf("LookupUser(%s) = %+v, %v; want %+v", c.key, got, err, c.want)
			}
		}
		if _, err := s.LookupUser(ctx, "nobody"); !schema.IsNotFound(err) {
			t.Fatalf("LookupUser(unknown) = %v, want not found", err)
		}
	})

	// DESIGN §3: one directory person is one node. When their key changes
	// the node moves, properties and every edge, both directions; it is
	// never copied, and it never lands on another node.
	t.Run("a moved node keeps its properties and edges", func(t *testing.T) {
		s := seeded(t)
		in := alice()
		in.UserID, in.NodeKey = "aliddell", "alice@example.com"
		in.OtherKeyValues = map[string]string{"okta_id": "00ualice"}
		if _, _, err := s.CreateUpdateUser(ctx, in); err != nil {
			t.Fatal(err)
		}
		c := schema.Catalog{Reads: []schema.ReadRecord{{User: "alice@example.com", Table: TableEvents, ReadCount: 7}}}
		if err := s.LoadCatalog(ctx, c); err != nil {
			t.Fatal(err)
		}
		for _, w := range []struct {
			rel schema.Relation
			t   schema.ResourceType
			key string
		}{{schema.Follow, schema.Table, TableOrders}, {schema.Follow, schema.Dashboard, DashboardSales}, {schema.Own, schema.Table, TableAccounts}} {
			if err := s.AddResourceRelation(ctx, "alice@example.com", w.rel, w.t, w.key); err != nil {
				t.Fatal(err)
			}
		}
		if keys, err := s.UserKeysByDirectoryID(ctx, "00ualice"); err != nil || !slices.Equal(keys, []string{"alice@example.com"}) {
			t.Fatalf("UserKeysByDirectoryID = %v, %v", keys, err)
		}
		if err := s.MoveUser(ctx, "alice@example.com", "alice.liddell@example.org"); err != nil {
			t.Fatalf("MoveUser: %v", err)
		}
		if _, err := s.GetUser(ctx, "alice@example.com"); !schema.IsNotFound(err) {
			t.Fatalf("the old key still reads: %v", err)
		}
		got, err := s.GetUser(ctx, "alice.liddell@example.org")
		if err != nil || got.FullName != "Alice Liddell" || got.UserID != "aliddell" || got.OtherKeyValues["okta_id"] != "00ualice" {
			t.Fatalf("moved node = %+v, %v", got, err)
		}
		if byID, err := s.GetUserByUserID(ctx, "aliddell"); err != nil || byID.Key() != "alice.liddell@example.org" {
			t.Fatalf("GetUserByUserID after the move = %q, %v", byID.Key(), err)
		}
		if keys, err := s.UserKeysByDirectoryID(ctx, "00ualice"); err != nil || !slices.Equal(keys, []string{"alice.liddell@example.org"}) {
			t.Fatalf("UserKeysByDirectoryID after the move = %v, %v", keys, err)
		}
		follows, err := s.GetUserResources(ctx, "alice.liddell@example.org", schema.Follow)
		if err != nil || len(follows.Table) != 1 || len(follows.Dashboard) != 1 {
			t.Fatalf("follows after the move = %+v, %v", follows, err)
		}
		if owns, err := s.GetUserResources(ctx, "alice.liddell@example.org", schema.Own); err != nil || len(owns.Table) != 1 {
			t.Fatalf("owns after the move = %+v, %v", owns, err)
		}
		if reads, err := s.GetFrequentlyUsedTables(ctx, "alice.liddell@example.org"); err != nil || len(reads) != 1 {
			t.Fatalf("reads after the move = %+v, %v", reads, err)
		}
		for _, r := range []struct {
			t   schema.ResourceType
			key string
			rel schema.Relation
		}{{schema.Table, TableOrders, schema.Follow}, {schema.Table, TableAccounts, schema.Own}, {schema.Table, TableEvents, schema.Read}} {
			if users, _ := s.UsersOfResource(ctx, r.t, r.key, r.rel); !slices.Equal(users, []string{"alice.liddell@example.org"}) {
				t.Fatalf("%s of %s after the move = %v", r.rel, r.key, users)
			}
		}
		if old, _ := s.GetUserResources(ctx, "alice@example.com", schema.Follow); len(old.Table)+len(old.Dashboard) != 0 {
			t.Fatalf("the old key kept follows: %+v", old)
		}
		if users, _ := s.GetUsers(ctx); len(users) != 1 {
			t.Fatalf("%d active users after the move, want the one node", len(users))
		}

		// Onto a key another node holds: refused, nothing written.
		if _, _, err := s.CreateUpdateUser(ctx, schema.User{UserID: "bob@example.com", Email: "bob@example.com", FirstName: "Bob", LastName: "B", IsActive: true}); err != nil {
			t.Fatal(err)
		}
		if err := s.MoveUser(ctx, "alice.liddell@example.org", "bob@example.com"); schema.KindOf(err) != schema.KindConflict {
			t.Fatalf("MoveUser onto another node = %v, want a conflict", err)
		}
		if bob, err := s.GetUser(ctx, "bob@example.com"); err != nil || bob.FirstName != "Bob" {
			t.Fatalf("bob after the refused move = %+v, %v", bob, err)
		}
		if _, err := s.GetUser(ctx, "alice.liddell@example.org"); err != nil {
			t.Fatalf("alice after the refused move: %v", err)
		}
		if err := s.MoveUser(ctx, "nobody@example.com", "x@example.com"); !schema.IsNotFound(err) {
			t.Fatalf("MoveUser of an unknown key = %v, want not found", err)
		}
	})

	t.Run("create then update reports created and updated", func(t *testing.T) {
		s := newStore(t)
		in := alice()
		got, created, err := s.CreateUpdateUser(ctx, in)
		if err != nil || !created {
			t.Fatalf("first CreateUpdateUser = created %v, err %v; want created", created, err)
		}
		assertUser(t, "returned on create", got, in)
		read, err := s.GetUser(ctx, in.Key())
		if err != nil {
			t.Fatalf("GetUser: %v", err)
		}
		assertUser(t, "read back", read, in)

		in.TeamName = "Platform"
		_, created, err = s.CreateUpdateUser(ctx, in)
		if err != nil || created {
			t.Fatalf("second CreateUpdateUser = created %v, err %v; want updated", created, err)
		}
		read, _ = s.GetUser(ctx, in.Key())
		if read.TeamName != "Platform" {
			t.Fatalf("team_name after update = %q, want Platform", read.TeamName)
		}
	})

	t.Run("empty values never overwrite stored ones", func(t *testing.T) {
		s := newStore(t)
		full := alice()
		if _, _, err := s.CreateUpdateUser(ctx, full); err != nil {
			t.Fatal(err)
		}
		sparse := schema.User{UserID: full.UserID, Email: full.Email, DisplayName: "Ali", IsActive: true}
		got, created, err := s.CreateUpdateUser(ctx, sparse)
		if err != nil || created {
			t.Fatalf("sparse update: created %v err %v", created, err)
		}
		want := full
		want.DisplayName = "Ali"
		assertUser(t, "after sparse update", got, want)
		read, _ := s.GetUser(ctx, full.Key())
		assertUser(t, "read after sparse update", read, want)
	})

	// Derived values (Normalize: user_id from email, full_name from first
	// and last, display_name from full_name or email) only fill empty stored
	// fields; explicit values replace.
	t.Run("derived values never erase stored ones", func(t *testing.T) {
		tests := []struct {
			name     string
			incoming schema.User
			check    func(got schema.User) string
		}{
			{"names left out keep the stored names",
				schema.User{Email: "alice@example.com", TeamName: "Platform", IsActive: true},
				func(got schema.User) string {
					if got.DisplayName != "Alice Liddell" || got.FullName != "Alice Liddell" || got.UserID != "alice@example.com" || got.TeamName != "Platform" {
						return "stored names changed"
					}
					return ""
				}},
			{"first and last alone keep the stored full and display names",
				schema.User{Email: "alice@example.com", FirstName: "Alicia", LastName: "Liddell", IsActive: true},
				func(got schema.User) string {
					if got.FirstName != "Alicia" || got.FullName != "Alice Liddell" || got.DisplayName != "Alice Liddell" {
						return "derived full_name or display_name replaced the stored one"
					}
					return ""
				}},
			{"explicit values replace",
				schema.User{Email: "alice@example.com", FullName: "Alice L.", DisplayName: "Ali", IsActive: true},
				func(got schema.User) string {
					if got.FullName != "Alice L." || got.DisplayName != "Ali" {
						return "explicit values were not written"
					}
					return ""
				}},
			{"explicit full_name replaces, derived display_name does not",
				schema.User{Email: "alice@example.com", FullName: "Alice L.", IsActive: true},
				func(got schema.User) string {
					if got.FullName != "Alice L." || got.DisplayName != "Alice Liddell" {
						return "want full_name replaced and display_name kept"
					}
					return ""
				}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := newStore(t)
				if _, _, err := s.CreateUpdateUser(ctx, alice()); err != nil {
					t.Fatal(err)
				}
				in := tt.incoming
				in.Normalize()
				got, created, err := s.CreateUpdateUser(ctx, in)
				if err != nil || created {
					t.Fatalf("update: created %v err %v", created, err)
				}
				if problem := tt.check(got); problem != "" {
					t.Fatalf("returned: %s: %+v", problem, got)
				}
				read, _ := s.GetUser(ctx, in.Key())
				if problem := tt.check(read); problem != "" {
					t.Fatalf("read back: %s: %+v", problem, read)
				}
			})
		}
		t.Run("derived values fill what the node lacks", func(t *testing.T) {
			s := seeded(t)
			// A relation write leaves a node with no names.
			if err := s.AddResourceRelation(ctx, "frank@example.com", schema.Follow, schema.Table, TableOrders); err != nil {
				t.Fatal(err)
			}
			in := schema.User{Email: "frank@example.com", FirstName: "Frank", LastName: "Herbert", IsActive: true}
			in.Normalize()
			got, created, err := s.CreateUpdateUser(ctx, in)
			if err != nil || created {
				t.Fatalf("completing the node: created %v err %v", created, err)
			}
			if got.FullName != "Frank Herbert" || got.DisplayName != "Frank Herbert" || got.UserID != "frank@example.com" {
				t.Fatalf("derived values not filled in: %+v", got)
			}
		})
	})

	t.Run("keys are normalised user ids", func(t *testing.T) {
		s := newStore(t)
		u := schema.User{UserID: "Bob.Smith+data@Example.COM", Email: "Bob.Smith+data@Example.COM", DisplayName: "Bob", IsActive: true}
		if _, _, err := s.CreateUpdateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetUser(ctx, "bob.smith+data@example.com")
		if err != nil {
			t.Fatalf("GetUser(lowercased): %v", err)
		}
		if got.UserID != u.UserID {
			t.Fatalf("user_id = %q, want it stored as given %q", got.UserID, u.UserID)
		}
		digits := schema.User{UserID: "0012345", DisplayName: "Numeric", IsActive: true}
		if _, _, err := s.CreateUpdateUser(ctx, digits); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetUser(ctx, "0012345"); err != nil || got.UserID != "0012345" {
			t.Fatalf("digit-only id: %+v, %v", got, err)
		}
	})

	t.Run("list holds active users only", func(t *testing.T) {
		s := seeded(t)
		active, inactive := alice(), bob()
		inactive.IsActive = false
		for _, u := range []schema.User{active, inactive} {
			if _, _, err := s.CreateUpdateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		// A relation to an unknown id creates a minimal node, which is not an
		// active user in Amundsen's sense.
		if err := s.AddResourceRelation(ctx, "stranger@example.com", schema.Follow, schema.Table, TableOrders); err != nil {
			t.Fatal(err)
		}
		users, err := s.GetUsers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, u := range users {
			keys = append(keys, u.Key())
		}
		if !slices.Equal(keys, []string{active.Key()}) {
			t.Fatalf("GetUsers keys = %v, want [%s]", keys, active.Key())
		}
	})

	t.Run("other_key_values round trip", func(t *testing.T) {
		s := newStore(t)
		u := alice()
		u.OtherKeyValues = map[string]string{"location": "Berlin", "cost_center": "42"}
		if _, _, err := s.CreateUpdateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		got, _ := s.GetUser(ctx, u.Key())
		assertUser(t, "other_key_values", got, u)
	})

	// Each entry is its own node property: later writes add to and replace
	// single entries, empty values erase nothing, and only the properties
	// named in USER_OTHER_KEYS read back.
	t.Run("other keys are separate properties", func(t *testing.T) {
		s := newStore(t)
		u := alice()
		u.OtherKeyValues = map[string]string{"location": "Berlin", "shoe_size": "44"}
		if _, _, err := s.CreateUpdateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		u.OtherKeyValues = map[string]string{"okta_id": "00u1", "location": "", "cost_center": "42"}
		got, _, err := s.CreateUpdateUser(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"okta_id": "00u1", "location": "Berlin", "cost_center": "42"}
		if !maps.Equal(got.OtherKeyValues, want) {
			t.Fatalf("returned other_key_values = %v, want %v", got.OtherKeyValues, want)
		}
		read, _ := s.GetUser(ctx, u.Key())
		if !maps.Equal(read.OtherKeyValues, want) {
			t.Fatalf("read other_key_values = %v, want %v (shoe_size is not in USER_OTHER_KEYS)", read.OtherKeyValues, want)
		}
		users, _ := s.GetUsers(ctx)
		if len(users) != 1 || !maps.Equal(users[0].OtherKeyValues, want) {
			t.Fatalf("listed other_key_values = %+v", users)
		}
	})

	t.Run("other keys that are not property names write nothing", func(t *testing.T) {
		s := newStore(t)
		for _, name := range []string{"", "has space", "1st", "a-b", "key", "email", "display_name", "is_active",
			"published_tag", "publisher_created_epoch_ms", "publisher_last_updated_epoch_ms", "other_key_values",
			strings.Repeat("a", 65), "ünïcode"} {
			u := alice()
			u.OtherKeyValues = map[string]string{"location": "Berlin", name: "x"}
			if _, _, err := s.CreateUpdateUser(ctx, u); schema.KindOf(err) != schema.KindInvalid {
				t.Fatalf("other key %q: err %v, want invalid", name, err)
			}
			if _, err := s.GetUser(ctx, u.Key()); !schema.IsNotFound(err) {
				t.Fatalf("other key %q: a user was written (%v)", name, err)
			}
		}
		u := alice()
		u.OtherKeyValues = map[string]string{strings.Repeat("a", 64): "x", "_x9": "y"}
		if _, _, err := s.CreateUpdateUser(ctx, u); err != nil {
			t.Fatalf("valid names refused: %v", err)
		}
	})

	t.Run("manager name comes from the manager's node", func(t *testing.T) {
		s := newStore(t)
		boss := bob()
		report := alice()
		report.ManagerEmail = boss.Email
		report.ManagerFullname = ""
		for _, u := range []schema.User{boss, report} {
			if _, _, err := s.CreateUpdateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		got, _ := s.GetUser(ctx, report.Key())
		if got.ManagerFullname != boss.FullName {
			t.Fatalf("manager_fullname = %q, want %q", got.ManagerFullname, boss.FullName)
		}
	})

	for _, rel := range []schema.Relation{schema.Follow, schema.Own} {
		t.Run(string(rel)+" relations in both directions", func(t *testing.T) {
			s := seeded(t)
			u := alice()
			if _, _, err := s.CreateUpdateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			for _, r := range []struct {
				t   schema.ResourceType
				key string
			}{
				{schema.Table, TableOrders}, {schema.Table, TableEvents}, {schema.Table, TableAccounts},
				{schema.Dashboard, DashboardSales}, {schema.Dashboard, DashboardOps},
				{schema.Feature, FeatureChurn},
				{schema.Table, TableOrders}, // idempotent
			} {
				if err := s.AddResourceRelation(ctx, u.Key(), rel, r.t, r.key); err != nil {
					t.Fatalf("AddResourceRelation(%s %s): %v", r.t, r.key, err)
				}
			}
			res, err := s.GetUserResources(ctx, u.Key(), rel)
			if err != nil {
				t.Fatal(err)
			}
			gotTables := tableNames(res.Table)
			// Sorted by (schema, name).
			if want := []string{"analytics.events", "core.accounts", "sales.orders"}; !slices.Equal(gotTables, want) {
				t.Fatalf("tables = %v, want %v", gotTables, want)
			}
			orders := res.Table[2]
			if orders.Database != "hive" || orders.Cluster != "gold" || orders.Description == nil || *orders.Description != "One row per order." {
				t.Fatalf("orders summary = %+v", orders)
			}
			if res.Table[1].Description != nil {
				t.Fatalf("accounts has no description, got %q", *res.Table[1].Description)
			}
			if len(res.Dashboard) != 2 || res.Dashboard[0].GroupName != "Ops" || res.Dashboard[1].URI != DashboardSales {
				t.Fatalf("dashboards = %+v, want Ops then Sales", res.Dashboard)
			}
			sales := res.Dashboard[1]
			if sales.Product != "mode" || sales.Name != "Weekly" || sales.LastSuccessfulRunTimestamp == nil || *sales.LastSuccessfulRunTimestamp != 1700000000 {
				t.Fatalf("sales dashboard summary = %+v", sales)
			}
			for _, r := range []struct {
				t   schema.ResourceType
				key string
			}{{schema.Table, TableOrders}, {schema.Dashboard, DashboardOps}, {schema.Feature, FeatureChurn}} {
				users, err := s.UsersOfResource(ctx, r.t, r.key, rel)
				if err != nil || !slices.Equal(users, []string{u.Key()}) {
					t.Fatalf("reverse %s of %s = %v, %v; want [%s]", rel, r.key, users, err, u.Key())
				}
			}

			// The other relation is untouched.
			other := schema.Own
			if rel == schema.Own {
				other = schema.Follow
			}
			if res, _ := s.GetUserResources(ctx, u.Key(), other); len(res.Table)+len(res.Dashboard) != 0 {
				t.Fatalf("%s leaked into %s: %+v", rel, other, res)
			}

			if err := s.DeleteResourceRelation(ctx, u.Key(), rel, schema.Table, TableOrders); err != nil {
				t.Fatal(err)
			}
			res, _ = s.GetUserResources(ctx, u.Key(), rel)
			if got := tableNames(res.Table); !slices.Equal(got, []string{"analytics.events", "core.accounts"}) {
				t.Fatalf("after delete tables = %v", got)
			}
			if users, _ := s.UsersOfResource(ctx, schema.Table, TableOrders, rel); len(users) != 0 {
				t.Fatalf("reverse edge survived delete: %v", users)
			}
			// Deleting what is not there succeeds.
			if err := s.DeleteResourceRelation(ctx, u.Key(), rel, schema.Table, TableOrders); err != nil {
				t.Fatalf("second delete: %v", err)
			}
			if err := s.DeleteResourceRelation(ctx, "nobody@example.com", rel, schema.Table, "hive://no.such/table"); err != nil {
				t.Fatalf("delete of unknown relation: %v", err)
			}
		})
	}

	// amundsen_common's PopularTable and DashboardSummary declare the names
	// and URLs non-optional str (models/popular_table.py, dashboard.py): a
	// resource without URLs, description or run timestamp still answers
	// strings there, null only in the optional fields, chart_names [].
	t.Run("summaries without optional values", func(t *testing.T) {
		s := seeded(t)
		for _, r := range []struct {
			t   schema.ResourceType
			key string
		}{{schema.Table, TableAccounts}, {schema.Dashboard, DashboardOps}} {
			if err := s.AddResourceRelation(ctx, "erin@example.com", schema.Own, r.t, r.key); err != nil {
				t.Fatal(err)
			}
		}
		res, err := s.GetUserResources(ctx, "erin@example.com", schema.Own)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := json.Marshal(res)
		want := `{"table":[{"database":"hive","cluster":"gold","schema":"core","name":"accounts","description":null}],` +
			`"dashboard":[{"uri":"tableau_dashboard://gold.ops/incidents","cluster":"gold","group_name":"Ops","group_url":"",` +
			`"product":"tableau","name":"Incidents","url":"","description":null,"last_successful_run_timestamp":null,"chart_names":[]}]}`
		if string(got) != want {
			t.Fatalf("summaries\n got %s\nwant %s", got, want)
		}
	})

	t.Run("missing resource writes nothing", func(t *testing.T) {
		s := seeded(t)
		for _, r := range []struct {
			t   schema.ResourceType
			key string
		}{{schema.Table, "hive://gold.sales/missing"}, {schema.Dashboard, TableOrders}, {schema.Feature, "nope"}} {
			err := s.AddResourceRelation(ctx, "carol@example.com", schema.Follow, r.t, r.key)
			if !schema.IsNotFound(err) {
				t.Fatalf("AddResourceRelation(%s %s) = %v, want not found", r.t, r.key, err)
			}
		}
		if _, err := s.GetUser(ctx, "carol@example.com"); !schema.IsNotFound(err) {
			t.Fatalf("a failed relation write left a user node: %v", err)
		}
		res, err := s.GetUserResources(ctx, "carol@example.com", schema.Follow)
		if err != nil || len(res.Table) != 0 || len(res.Dashboard) != 0 {
			t.Fatalf("resources after failed writes = %+v, %v", res, err)
		}
	})

	t.Run("relation to unknown user creates a minimal node", func(t *testing.T) {
		s := seeded(t)
		if err := s.AddResourceRelation(ctx, "dave@example.com", schema.Own, schema.Table, TableOrders); err != nil {
			t.Fatal(err)
		}
		u, err := s.GetUser(ctx, "dave@example.com")
		if err != nil {
			t.Fatalf("GetUser after relation: %v", err)
		}
		if u.Email != "dave@example.com" || !u.IsStub() {
			t.Fatalf("minimal node = %+v", u)
		}
		// A full upsert later completes it without losing the edge.
		full := schema.User{UserID: "dave@example.com", Email: "dave@example.com", FullName: "Dave D", DisplayName: "Dave D", IsActive: true}
		if _, created, err := s.CreateUpdateUser(ctx, full); err != nil || created {
			t.Fatalf("completing the minimal node: created %v err %v", created, err)
		}
		res, _ := s.GetUserResources(ctx, "dave@example.com", schema.Own)
		if len(res.Table) != 1 {
			t.Fatalf("edge lost after completing the node: %+v", res)
		}
	})

	t.Run("unknown user has no resources", func(t *testing.T) {
		s := seeded(t)
		for _, rel := range []schema.Relation{schema.Follow, schema.Own} {
			res, err := s.GetUserResources(ctx, "nobody@example.com", rel)
			if err != nil || res.Table == nil || res.Dashboard == nil || len(res.Table)+len(res.Dashboard) != 0 {
				t.Fatalf("GetUserResources(unknown, %s) = %#v, %v; want empty non-nil lists", rel, res, err)
			}
		}
		reads, err := s.GetFrequentlyUsedTables(ctx, "nobody@example.com")
		if err != nil || reads == nil || len(reads) != 0 {
			t.Fatalf("GetFrequentlyUsedTables(unknown) = %#v, %v", reads, err)
		}
	})

	t.Run("reads ordered by count, at most 50", func(t *testing.T) {
		s := newStore(t)
		var c schema.Catalog
		for i := range 55 {
			key := fmt.Sprintf("hive://gold.reads/t%02d", i)
			c.Tables = append(c.Tables, schema.TableRecord{Key: key, Database: "hive", Cluster: "gold", Schema: "reads", Name: fmt.Sprintf("t%02d", i)})
			c.Reads = append(c.Reads, schema.ReadRecord{User: "Reader@Example.com", Table: key, ReadCount: int64(i * 10)})
		}
		if err := s.LoadCatalog(ctx, c); err != nil {
			t.Fatal(err)
		}
		tables, err := s.GetFrequentlyUsedTables(ctx, "reader@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if len(tables) != schema.MaxReadTables {
			t.Fatalf("got %d tables, want %d", len(tables), schema.MaxReadTables)
		}
		if tables[0].Name != "t54" || tables[49].Name != "t05" {
			t.Fatalf("order: first %s last %s, want t54 … t05", tables[0].Name, tables[49].Name)
		}
		users, _ := s.UsersOfResource(ctx, schema.Table, "hive://gold.reads/t07", schema.Read)
		if !slices.Equal(users, []string{"reader@example.com"}) {
			t.Fatalf("READ_BY of t07 = %v", users)
		}
	})

	// Amundsen metadata's get_frequently_used_tables (neo4j_proxy.py lines
	// 1657-1664) orders READ edges by published_tag DESC, then read_count
	// DESC: reads of the newest databuilder run come first.
	t.Run("reads ordered by publish tag, then count", func(t *testing.T) {
		s := newStore(t)
		c := Catalog()
		c.Reads = []schema.ReadRecord{
			{User: "reader@example.com", Table: TableOrders, ReadCount: 100, PublishedTag: "2024-01-01"},
			{User: "reader@example.com", Table: TableEvents, ReadCount: 2, PublishedTag: "2024-02-01"},
			{User: "reader@example.com", Table: TableAccounts, ReadCount: 5, PublishedTag: "2024-02-01"},
		}
		if err := s.LoadCatalog(ctx, c); err != nil {
			t.Fatal(err)
		}
		tables, err := s.GetFrequentlyUsedTables(ctx, "reader@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if got := tableNames(tables); !slices.Equal(got, []string{"core.accounts", "analytics.events", "sales.orders"}) {
			t.Fatalf("reads = %v, want the 2024-02-01 run (by count) before 2024-01-01", got)
		}
	})

	t.Run("concurrent first upserts create exactly once", func(t *testing.T) {
		s := newStore(t)
		const n = 32
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			creates int
			errs    []error
		)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, created, err := s.CreateUpdateUser(ctx, alice())
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
				}
				if created {
					creates++
				}
			}()
		}
		wg.Wait()
		if len(errs) > 0 || creates != 1 {
			t.Fatalf("creates = %d (want 1), errors = %v", creates, errs)
		}
	})

	t.Run("sync state round trip", func(t *testing.T) {
		s := newStore(t)
		st, err := s.GetSyncState(ctx, "okta")
		if err != nil || !st.Watermark.IsZero() || st.Complete {
			t.Fatalf("initial state = %+v, %v", st, err)
		}
		want := proxy.SyncState{Watermark: time.UnixMilli(1_790_000_000_123).UTC(), Complete: true, UpdatedAt: time.UnixMilli(1_790_000_100_000).UTC()}
		if err := s.PutSyncState(ctx, "okta", want); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetSyncState(ctx, "okta")
		if err != nil || !got.Watermark.Equal(want.Watermark) || got.Complete != want.Complete || !got.UpdatedAt.Equal(want.UpdatedAt) {
			t.Fatalf("state = %+v, %v; want %+v", got, err, want)
		}
		if other, _ := s.GetSyncState(ctx, "other"); !other.Watermark.IsZero() || other.Cursor != "" {
			t.Fatalf("states leak between names: %+v", other)
		}
		// A stream reader's cursor (the System Log poller's next page: a
		// path and query with characters that need care) round-trips
		// verbatim, beside a state without one.
		cursor := proxy.SyncState{UpdatedAt: time.UnixMilli(1_790_000_200_000).UTC(),
			Cursor: `/api/v1/logs?after=1790000000123_1&filter=eventType+eq+%22user.lifecycle.deactivate%22&limit=1000&sortOrder=ASCENDING`}
		if err := s.PutSyncState(ctx, "okta-syslog", cursor); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetSyncState(ctx, "okta-syslog"); err != nil || got.Cursor != cursor.Cursor || !got.UpdatedAt.Equal(cursor.UpdatedAt) || got.Complete {
			t.Fatalf("cursor state = %+v, %v; want %+v", got, err, cursor)
		}
		if got, _ := s.GetSyncState(ctx, "okta"); got.Cursor != "" || !got.Watermark.Equal(want.Watermark) {
			t.Fatalf("a cursor leaked into another state: %+v", got)
		}
		// Moving the cursor replaces it; clearing it leaves none.
		cursor.Cursor = "/api/v1/logs?after=1790000000999_2"
		if err := s.PutSyncState(ctx, "okta-syslog", cursor); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetSyncState(ctx, "okta-syslog"); got.Cursor != cursor.Cursor {
			t.Fatalf("moved cursor = %q, want %q", got.Cursor, cursor.Cursor)
		}
		cursor.Cursor = ""
		if err := s.PutSyncState(ctx, "okta-syslog", cursor); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetSyncState(ctx, "okta-syslog"); got.Cursor != "" {
			t.Fatalf("cleared cursor = %q", got.Cursor)
		}
	})

	t.Run("sync lease has one holder", func(t *testing.T) {
		s := newStore(t)
		got := func(owner string, ttl time.Duration) bool {
			t.Helper()
			ok, err := s.AcquireLease(ctx, "okta", owner, ttl)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if !got("a", time.Minute) || got("b", time.Minute) || !got("a", time.Minute) {
			t.Fatal("a must hold and renew the lease while b is refused")
		}
		if err := s.ReleaseLease(ctx, "okta", "b"); err != nil || got("b", time.Minute) {
			t.Fatalf("a release by a non-holder must not free the lease (%v)", err)
		}
		if err := s.ReleaseLease(ctx, "okta", "a"); err != nil || !got("b", 50*time.Millisecond) {
			t.Fatalf("after release b must get the lease (%v)", err)
		}
		time.Sleep(100 * time.Millisecond)
		if !got("c", time.Minute) {
			t.Fatal("an expired lease must be free")
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		winners := 0
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := s.AcquireLease(ctx, "race", fmt.Sprint("owner", i), time.Minute)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Error(err)
				}
				if ok {
					winners++
				}
			}()
		}
		wg.Wait()
		if winners != 1 {
			t.Fatalf("%d concurrent owners got the lease, want 1", winners)
		}
	})

	t.Run("user index", func(t *testing.T) { runUserIndex(t, newStore, seeded) })

	t.Run("health", func(t *testing.T) {
		s := newStore(t)
		if err := s.Health(ctx); err != nil {
			t.Fatalf("Health: %v", err)
		}
		if s.Kind() == "" {
			t.Fatal("Kind is empty")
		}
	})
}

// runUserIndex is the contract of proxy.UserIndex: nodes found by the
// indexed properties wherever they are keyed, extra properties read and set
// once, and every node's key paged in key order.
func runUserIndex(t *testing.T, newStore, seeded Factory) {
	ctx := context.Background()
	keysBy := func(t *testing.T, s Store, name, value string) []string {
		t.Helper()
		keys, err := s.UserKeysByProperty(ctx, name, value)
		if err != nil {
			t.Fatalf("UserKeysByProperty(%s, %q): %v", name, value, err)
		}
		return keys
	}
	props := func(t *testing.T, s Store, key string, names ...string) map[string]string {
		t.Helper()
		got, err := s.UserProperties(ctx, key, names...)
		if err != nil {
			t.Fatalf("UserProperties(%s, %v): %v", key, names, err)
		}
		return got
	}
	scimNames := []string{schema.DirectoryIDProperty, proxy.SCIMIDProperty, proxy.SCIMExternalIDProperty}

	// Entries written through other_key_values are properties like any
	// other: each indexed one finds its node, exactly, and follows the node
	// when it is re-keyed or the entry changes.
	t.Run("found by each indexed property", func(t *testing.T) {
		s := seeded(t)
		in := alice()
		in.OtherKeyValues = map[string]string{"okta_id": "00ualice", "scim_id": "2819c223-7f76-453a-919d-413861904646", "scim_external_id": "ext-1"}
		if _, _, err := s.CreateUpdateUser(ctx, in); err != nil {
			t.Fatal(err)
		}
		other := bob()
		other.OtherKeyValues = map[string]string{"scim_external_id": "ext-1", "scim_id": "bob-scim"}
		if _, _, err := s.CreateUpdateUser(ctx, other); err != nil {
			t.Fatal(err)
		}
		// A minimal node of a relation write has none of them.
		if err := s.AddResourceRelation(ctx, "stub@example.com", schema.Follow, schema.Table, TableOrders); err != nil {
			t.Fatal(err)
		}
		want := map[string]map[string][]string{
			"okta_id":          {"00ualice": {"alice@example.com"}},
			"scim_id":          {"2819c223-7f76-453a-919d-413861904646": {"alice@example.com"}, "bob-scim": {"bob@example.com"}},
			"scim_external_id": {"ext-1": {"alice@example.com", "bob@example.com"}},
		}
		check := func(t *testing.T, want map[string]map[string][]string) {
			t.Helper()
			for _, name := range proxy.IndexedUserProperties {
				for value, keys := range want[name] {
					if got := keysBy(t, s, name, value); !slices.Equal(got, keys) {
						t.Errorf("UserKeysByProperty(%s, %q) = %v, want %v", name, value, got, keys)
					}
				}
			}
		}
		check(t, want)
		if len(want) != len(proxy.IndexedUserProperties) {
			t.Fatalf("the case covers %d of the %d indexed properties", len(want), len(proxy.IndexedUserProperties))
		}
		// Exact matches only; an empty value matches nothing.
		for _, name := range proxy.IndexedUserProperties {
			for _, value := range []string{"", "EXT-1", "ext-", "ext-1 ", "00UALICE", "00ualice%", ".*", "nobody"} {
				if got := keysBy(t, s, name, value); len(got) != 0 {
					t.Errorf("UserKeysByProperty(%s, %q) = %v, want none", name, value, got)
				}
			}
		}

		if err := s.MoveUser(ctx, "alice@example.com", "alice.liddell@example.org"); err != nil {
			t.Fatal(err)
		}
		want["okta_id"]["00ualice"] = []string{"alice.liddell@example.org"}
		want["scim_id"]["2819c223-7f76-453a-919d-413861904646"] = []string{"alice.liddell@example.org"}
		want["scim_external_id"]["ext-1"] = []string{"alice.liddell@example.org", "bob@example.com"}
		check(t, want)
		if got := props(t, s, "alice.liddell@example.org", scimNames...); !maps.Equal(got, in.OtherKeyValues) {
			t.Fatalf("moved node's properties = %v, want %v", got, in.OtherKeyValues)
		}

		// A later write of an entry replaces it in the lookups too.
		moved := alice()
		moved.Email, moved.UserID, moved.NodeKey = "alice.liddell@example.org", "alice.liddell@example.org", ""
		moved.OtherKeyValues = map[string]string{"okta_id": "00ualice2", "scim_external_id": "ext-2"}
		if _, _, err := s.CreateUpdateUser(ctx, moved); err != nil {
			t.Fatal(err)
		}
		want["okta_id"] = map[string][]string{"00ualice": nil, "00ualice2": {"alice.liddell@example.org"}}
		want["scim_external_id"] = map[string][]string{"ext-1": {"bob@example.com"}, "ext-2": {"alice.liddell@example.org"}}
		check(t, want)
	})

	t.Run("names outside the allowlist are invalid", func(t *testing.T) {
		s := newStore(t)
		in := alice()
		in.OtherKeyValues = map[string]string{"location": "Berlin"}
		if _, _, err := s.CreateUpdateUser(ctx, in); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"", "key", "email", "user_id", "location", "SCIM_ID", "scimId", "scim_id ",
			"okta_id}) RETURN 1 //", "scim_id`", "u.scim_id"} {
			if keys, err := s.UserKeysByProperty(ctx, name, "x"); schema.KindOf(err) != schema.KindInvalid {
				t.Errorf("UserKeysByProperty(%q) = %v, %v; want invalid", name, keys, err)
			}
		}
		// Reads and writes take names outside the user model only.
		for _, name := range []string{"", "key", "email", "user_id", "display_name", "is_active", "other_key_values",
			"usersvc_created_marker", "has space", "1st", "a-b", strings.Repeat("a", 65)} {
			if got, err := s.UserProperties(ctx, in.Key(), "okta_id", name); schema.KindOf(err) != schema.KindInvalid {
				t.Errorf("UserProperties(%q) = %v, %v; want invalid", name, got, err)
			}
			if got, err := s.SetUserPropertyIfAbsent(ctx, in.Key(), name, "x"); schema.KindOf(err) != schema.KindInvalid {
				t.Errorf("SetUserPropertyIfAbsent(%q) = %q, %v; want invalid", name, got, err)
			}
		}
		got, err := s.GetUser(ctx, in.Key())
		if err != nil {
			t.Fatal(err)
		}
		assertUser(t, "after refused writes", got, in)
	})

	t.Run("user properties", func(t *testing.T) {
		s := newStore(t)
		in := alice()
		in.OtherKeyValues = map[string]string{"okta_id": "00ualice", "scim_external_id": "ext-1", "location": "Berlin"}
		if _, _, err := s.CreateUpdateUser(ctx, in); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"okta_id": "00ualice", "scim_external_id": "ext-1"}
		if got := props(t, s, in.Key(), append(scimNames, "shoe_size")...); !maps.Equal(got, want) {
			t.Fatalf("UserProperties = %v, want %v (absent ones missing)", got, want)
		}
		// Names not in USER_OTHER_KEYS read too; no names, no properties.
		if got := props(t, s, in.Key(), "location"); !maps.Equal(got, map[string]string{"location": "Berlin"}) {
			t.Fatalf("UserProperties(location) = %v", got)
		}
		if got, err := s.UserProperties(ctx, in.Key()); err != nil || got == nil || len(got) != 0 {
			t.Fatalf("UserProperties without names = %#v, %v; want an empty map", got, err)
		}
		for _, key := range []string{"nobody@example.com", "", "ALICE@example.com"} {
			if got, err := s.UserProperties(ctx, key, "okta_id"); !schema.IsNotFound(err) {
				t.Fatalf("UserProperties(%q) = %v, %v; want not found", key, got, err)
			}
		}
	})

	t.Run("set if absent keeps the first value", func(t *testing.T) {
		s := seeded(t)
		in := alice()
		in.OtherKeyValues = map[string]string{"location": "Berlin"}
		if _, _, err := s.CreateUpdateUser(ctx, in); err != nil {
			t.Fatal(err)
		}
		key := in.Key()
		// Read first, so a store with a cache has the node in it.
		if got := props(t, s, key, proxy.SCIMIDProperty); len(got) != 0 {
			t.Fatalf("properties before = %v", got)
		}
		for _, value := range []string{"first", "second", "first"} {
			if got, err := s.SetUserPropertyIfAbsent(ctx, key, proxy.SCIMIDProperty, value); err != nil || got != "first" {
				t.Fatalf("SetUserPropertyIfAbsent(%q) = %q, %v; want first", value, got, err)
			}
		}
		if got := props(t, s, key, proxy.SCIMIDProperty, "location"); !maps.Equal(got, map[string]string{"scim_id": "first", "location": "Berlin"}) {
			t.Fatalf("properties after = %v", got)
		}
		if got := keysBy(t, s, proxy.SCIMIDProperty, "first"); !slices.Equal(got, []string{key}) {
			t.Fatalf("found by the set value: %v", got)
		}
		// A property set so is kept by an upsert that leaves it out.
		if _, _, err := s.CreateUpdateUser(ctx, alice()); err != nil {
			t.Fatal(err)
		}
		if got := props(t, s, key, proxy.SCIMIDProperty); got[proxy.SCIMIDProperty] != "first" {
			t.Fatalf("after an upsert = %v", got)
		}

		// okta_id set so is the node's directory id everywhere: read back
		// as other_key_values and found by it.
		if got, err := s.SetUserPropertyIfAbsent(ctx, key, schema.DirectoryIDProperty, "00ualice"); err != nil || got != "00ualice" {
			t.Fatalf("SetUserPropertyIfAbsent(okta_id) = %q, %v", got, err)
		}
		if u, err := s.GetUser(ctx, key); err != nil || u.OtherKeyValues["okta_id"] != "00ualice" || u.OtherKeyValues["location"] != "Berlin" {
			t.Fatalf("GetUser after setting okta_id = %+v, %v", u, err)
		}
		if keys, err := s.UserKeysByDirectoryID(ctx, "00ualice"); err != nil || !slices.Equal(keys, []string{key}) {
			t.Fatalf("UserKeysByDirectoryID = %v, %v", keys, err)
		}
		if got := keysBy(t, s, schema.DirectoryIDProperty, "00ualice"); !slices.Equal(got, []string{key}) {
			t.Fatalf("UserKeysByProperty(okta_id) = %v", got)
		}

		// A minimal node takes one too, and stays minimal.
		if err := s.AddResourceRelation(ctx, "stub@example.com", schema.Follow, schema.Table, TableOrders); err != nil {
			t.Fatal(err)
		}
		if got, err := s.SetUserPropertyIfAbsent(ctx, "stub@example.com", proxy.SCIMExternalIDProperty, "ext-stub"); err != nil || got != "ext-stub" {
			t.Fatalf("SetUserPropertyIfAbsent on a minimal node = %q, %v", got, err)
		}
		if u, err := s.GetUser(ctx, "stub@example.com"); err != nil || !u.IsStub() {
			t.Fatalf("minimal node after the write = %+v, %v", u, err)
		}
		if users, _ := s.GetUsers(ctx); len(users) != 1 {
			t.Fatalf("%d active users, want alice alone", len(users))
		}

		// No node: not found, and none written. An empty value is refused.
		if got, err := s.SetUserPropertyIfAbsent(ctx, "nobody@example.com", proxy.SCIMIDProperty, "x"); !schema.IsNotFound(err) {
			t.Fatalf("SetUserPropertyIfAbsent(unknown) = %q, %v; want not found", got, err)
		}
		if _, err := s.GetUser(ctx, "nobody@example.com"); !schema.IsNotFound(err) {
			t.Fatalf("a node was written for an unknown key: %v", err)
		}
		if got, err := s.SetUserPropertyIfAbsent(ctx, key, proxy.SCIMExternalIDProperty, ""); schema.KindOf(err) != schema.KindInvalid {
			t.Fatalf("SetUserPropertyIfAbsent(empty) = %q, %v; want invalid", got, err)
		}
		if got := props(t, s, key, proxy.SCIMExternalIDProperty); len(got) != 0 {
			t.Fatalf("the refused empty value wrote %v", got)
		}
	})

	// Concurrent callers with different values, as two SCIM requests for
	// one person: one value wins, every caller answers it, the node holds
	// it. Several rounds, each on a node of its own.
	t.Run("concurrent set if absent agree", func(t *testing.T) {
		s := newStore(t)
		const rounds, callers = 4, 8
		for round := range rounds {
			key := fmt.Sprintf("racer%d@example.com", round)
			if _, _, err := s.CreateUpdateUser(ctx, schema.User{Email: key, UserID: key, DisplayName: "Racer", IsActive: true}); err != nil {
				t.Fatal(err)
			}
			got := make([]string, callers)
			errs := make([]error, callers)
			var wg sync.WaitGroup
			for i := range callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got[i], errs[i] = s.SetUserPropertyIfAbsent(ctx, key, proxy.SCIMIDProperty, fmt.Sprintf("value-%d-%d", round, i))
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("round %d caller %d: %v", round, i, err)
				}
			}
			winner := got[0]
			if !strings.HasPrefix(winner, fmt.Sprintf("value-%d-", round)) {
				t.Fatalf("round %d: winner %q is no caller's value", round, winner)
			}
			for _, v := range got {
				if v != winner {
					t.Fatalf("round %d: callers answered different values: %q", round, got)
				}
			}
			if held := props(t, s, key, proxy.SCIMIDProperty)[proxy.SCIMIDProperty]; held != winner {
				t.Fatalf("round %d: the node holds %q, the callers answered %q", round, held, winner)
			}
			if keys := keysBy(t, s, proxy.SCIMIDProperty, winner); !slices.Equal(keys, []string{key}) {
				t.Fatalf("round %d: found by the winner: %v", round, keys)
			}
		}
	})

	// Every node's key, minimal nodes of relation writes and catalog reads
	// included, in the order of Go's string comparison (bytes of UTF-8:
	// Unicode code points), which is what Neo4j's ORDER BY gives for
	// stored strings too.
	t.Run("page user keys", func(t *testing.T) {
		s := seeded(t)
		if keys, total, err := s.PageUserKeys(ctx, 0, 10); err != nil || len(keys) != 0 || total != 0 {
			t.Fatalf("PageUserKeys on no users = %v, %d, %v", keys, total, err)
		}
		for _, u := range []schema.User{alice(), bob(), {UserID: "0012345", DisplayName: "Digits", IsActive: true}} {
			if _, _, err := s.CreateUpdateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		// Relation writes do not normalise keys: the stubs hold these as
		// given (upper case, punctuation, non-ASCII).
		stubs := []string{"a.b@example.com", "a-b@example.com", "a_b@example.com", "ab@example.com", "Zed@Example.com",
			"zoë@example.com", "émile@example.com", "z@example.com", "🦊@example.com", "a+b@example.com"}
		for _, key := range stubs {
			if err := s.AddResourceRelation(ctx, key, schema.Follow, schema.Table, TableOrders); err != nil {
				t.Fatal(err)
			}
		}
		c := schema.Catalog{Reads: []schema.ReadRecord{{User: "reader@example.com", Table: TableEvents, ReadCount: 3}}}
		if err := s.LoadCatalog(ctx, c); err != nil {
			t.Fatal(err)
		}
		all := append([]string{"alice@example.com", "bob@example.com", "0012345", "reader@example.com"}, stubs...)
		slices.Sort(all)
		n := len(all)

		page := func(offset, limit int) ([]string, int) {
			t.Helper()
			keys, total, err := s.PageUserKeys(ctx, offset, limit)
			if err != nil {
				t.Fatalf("PageUserKeys(%d, %d): %v", offset, limit, err)
			}
			if keys == nil {
				t.Fatalf("PageUserKeys(%d, %d) keys are nil, want a list", offset, limit)
			}
			return keys, total
		}
		if keys, total := page(0, 1000); !slices.Equal(keys, all) || total != n {
			t.Fatalf("PageUserKeys(0, 1000) = %q, %d; want %q, %d", keys, total, all, n)
		}
		for _, tc := range []struct{ offset, limit, from, to int }{
			{0, 3, 0, 3}, {2, 3, 2, 5}, {n - 2, 5, n - 2, n}, {n - 1, 1, n - 1, n},
			{n, 5, n, n}, {n + 7, 5, n, n}, {3, 0, 3, 3}, {0, 0, 0, 0},
		} {
			if keys, total := page(tc.offset, tc.limit); !slices.Equal(keys, all[tc.from:tc.to]) || total != n {
				t.Errorf("PageUserKeys(%d, %d) = %q, %d; want %q, %d", tc.offset, tc.limit, keys, total, all[tc.from:tc.to], n)
			}
		}
		// Pages of 4 walk every key once.
		var walked []string
		for offset := 0; offset < n; offset += 4 {
			keys, _ := page(offset, 4)
			walked = append(walked, keys...)
		}
		if !slices.Equal(walked, all) {
			t.Fatalf("pages of 4 = %q, want %q", walked, all)
		}
		for _, bad := range [][2]int{{-1, 10}, {0, -1}} {
			if keys, total, err := s.PageUserKeys(ctx, bad[0], bad[1]); schema.KindOf(err) != schema.KindInvalid {
				t.Errorf("PageUserKeys(%d, %d) = %v, %d, %v; want invalid", bad[0], bad[1], keys, total, err)
			}
		}

		// A moved node is paged under its new key, once.
		if err := s.MoveUser(ctx, "alice@example.com", "zz-alice@example.org"); err != nil {
			t.Fatal(err)
		}
		moved := slices.DeleteFunc(slices.Clone(all), func(k string) bool { return k == "alice@example.com" })
		moved = append(moved, "zz-alice@example.org")
		slices.Sort(moved)
		if keys, total := page(0, 1000); !slices.Equal(keys, moved) || total != n {
			t.Fatalf("after the move PageUserKeys = %q, %d; want %q, %d", keys, total, moved, n)
		}
	})

	t.Run("page SCIM user keys", func(t *testing.T) {
		s := seeded(t)
		for _, u := range []schema.User{alice(), bob(), {UserID: "carol@example.com", IsActive: true},
			{UserID: "dave@example.com", IsActive: true, OtherKeyValues: map[string]string{"scim_external_id": "ext-dave"}}} {
			if _, _, err := s.CreateUpdateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		if keys, total, err := s.PageSCIMUserKeys(ctx, 0, 10); err != nil || len(keys) != 0 || keys == nil || total != 0 {
			t.Fatalf("no SCIM ids yet: %q, %d, %v", keys, total, err)
		}
		for _, k := range []string{"dave@example.com", "alice@example.com", "carol@example.com"} {
			if _, err := s.SetUserPropertyIfAbsent(ctx, k, proxy.SCIMIDProperty, "id-"+k); err != nil {
				t.Fatal(err)
			}
		}
		want := []string{"alice@example.com", "carol@example.com", "dave@example.com"}
		if keys, total, err := s.PageSCIMUserKeys(ctx, 0, 10); err != nil || !slices.Equal(keys, want) || total != 3 {
			t.Fatalf("PageSCIMUserKeys(0, 10) = %q, %d, %v; want %q, 3", keys, total, err, want)
		}
		if keys, total, err := s.PageSCIMUserKeys(ctx, 1, 1); err != nil || !slices.Equal(keys, want[1:2]) || total != 3 {
			t.Fatalf("PageSCIMUserKeys(1, 1) = %q, %d, %v", keys, total, err)
		}
		// A cleared id leaves the listing.
		if err := s.ClearUserProperties(ctx, "carol@example.com", proxy.SCIMIDProperty); err != nil {
			t.Fatal(err)
		}
		if keys, total, err := s.PageSCIMUserKeys(ctx, 0, 10); err != nil || !slices.Equal(keys, []string{"alice@example.com", "dave@example.com"}) || total != 2 {
			t.Fatalf("after clearing carol's id: %q, %d, %v", keys, total, err)
		}
		if _, _, err := s.PageSCIMUserKeys(ctx, -1, 1); schema.KindOf(err) != schema.KindInvalid {
			t.Fatalf("negative offset: %v", err)
		}
	})

	// ClearUserProperties: what a SCIM replace or remove needs, since
	// upserts never overwrite a value with an empty one.
	t.Run("clear removes the named properties", func(t *testing.T) {
		s := seeded(t)
		in := alice()
		in.OtherKeyValues = map[string]string{"okta_id": "00ualice", "scim_external_id": "ext-1", "location": "Berlin"}
		if _, _, err := s.CreateUpdateUser(ctx, in); err != nil {
			t.Fatal(err)
		}
		key := in.Key()
		if _, err := s.SetUserPropertyIfAbsent(ctx, key, proxy.SCIMIDProperty, "scim-alice"); err != nil {
			t.Fatal(err)
		}
		if err := s.AddResourceRelation(ctx, key, schema.Follow, schema.Table, TableOrders); err != nil {
			t.Fatal(err)
		}
		// Read first, so a store with a cache has the node in it.
		before, err := s.GetUser(ctx, key)
		if err != nil {
			t.Fatal(err)
		}

		// Own fields and other properties, one of them never set.
		if err := s.ClearUserProperties(ctx, key, "team_name", "slack_id", "profile_url",
			proxy.SCIMExternalIDProperty, schema.DirectoryIDProperty, "shoe_size"); err != nil {
			t.Fatalf("ClearUserProperties: %v", err)
		}
		want := in
		want.TeamName, want.SlackID, want.ProfileURL = "", "", ""
		want.OtherKeyValues = map[string]string{"location": "Berlin"}
		got, err := s.GetUser(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		assertUser(t, "after the clear", got, want)
		if got.Key() != before.Key() {
			t.Fatalf("key %q after the clear, was %q", got.Key(), before.Key())
		}
		wantProps := map[string]string{"scim_id": "scim-alice", "location": "Berlin"}
		if got := props(t, s, key, append(scimNames, "location", "shoe_size")...); !maps.Equal(got, wantProps) {
			t.Fatalf("UserProperties after the clear = %v, want %v", got, wantProps)
		}
		// Cleared properties find the node no more; the others still do.
		if got := keysBy(t, s, proxy.SCIMExternalIDProperty, "ext-1"); len(got) != 0 {
			t.Fatalf("found by the cleared scim_external_id: %v", got)
		}
		if got := keysBy(t, s, schema.DirectoryIDProperty, "00ualice"); len(got) != 0 {
			t.Fatalf("found by the cleared okta_id: %v", got)
		}
		if keys, err := s.UserKeysByDirectoryID(ctx, "00ualice"); err != nil || len(keys) != 0 {
			t.Fatalf("UserKeysByDirectoryID(cleared) = %v, %v", keys, err)
		}
		if got := keysBy(t, s, proxy.SCIMIDProperty, "scim-alice"); !slices.Equal(got, []string{key}) {
			t.Fatalf("found by scim_id: %v", got)
		}
		// Edges stay, both directions.
		if follows, err := s.GetUserResources(ctx, key, schema.Follow); err != nil || !slices.Equal(tableNames(follows.Table), []string{"sales.orders"}) {
			t.Fatalf("follows after the clear = %+v, %v", follows, err)
		}
		if users, err := s.UsersOfResource(ctx, schema.Table, TableOrders, schema.Follow); err != nil || !slices.Equal(users, []string{key}) {
			t.Fatalf("followers after the clear = %v, %v", users, err)
		}
		if users, _ := s.GetUsers(ctx); len(users) != 1 || !users[0].IsActive {
			t.Fatalf("GetUsers after the clear = %+v", users)
		}

		// Clearing what is absent is no error; no names, no change.
		if err := s.ClearUserProperties(ctx, key, "team_name", "okta_id", "shoe_size"); err != nil {
			t.Fatalf("clearing absent properties: %v", err)
		}
		if err := s.ClearUserProperties(ctx, key); err != nil {
			t.Fatalf("ClearUserProperties without names: %v", err)
		}
		if got, _ := s.GetUser(ctx, key); got.TeamName != "" || !maps.Equal(got.OtherKeyValues, want.OtherKeyValues) {
			t.Fatalf("after the no-op clears = %+v", got)
		}

		// A cleared okta_id set again is found again: the lookups follow.
		if held, err := s.SetUserPropertyIfAbsent(ctx, key, schema.DirectoryIDProperty, "00ualice2"); err != nil || held != "00ualice2" {
			t.Fatalf("SetUserPropertyIfAbsent(okta_id) after the clear = %q, %v", held, err)
		}
		if keys, err := s.UserKeysByDirectoryID(ctx, "00ualice2"); err != nil || !slices.Equal(keys, []string{key}) {
			t.Fatalf("UserKeysByDirectoryID(new id) = %v, %v", keys, err)
		}
		// An upsert writes a cleared field again.
		again := alice()
		again.OtherKeyValues = nil
		if stored, _, err := s.CreateUpdateUser(ctx, again); err != nil || stored.TeamName != in.TeamName {
			t.Fatalf("upsert after the clear = %+v, %v", stored, err)
		}

		// Every own field the model lets a client change; the node keeps
		// its key, user_id and is_active, and stays listed.
		if err := s.ClearUserProperties(ctx, key, proxy.ClearableUserFields...); err != nil {
			t.Fatalf("clearing every clearable field: %v", err)
		}
		got, err = s.GetUser(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		bare := schema.User{UserID: in.UserID, IsActive: true, OtherKeyValues: map[string]string{"okta_id": "00ualice2", "location": "Berlin"}}
		assertUser(t, "after clearing every field", got, bare)
		if got.Key() != key {
			t.Fatalf("key %q after clearing every field", got.Key())
		}
		if users, _ := s.GetUsers(ctx); len(users) != 1 {
			t.Fatalf("GetUsers after clearing every field = %+v", users)
		}

		// A minimal node of a relation write takes a clear too.
		if err := s.AddResourceRelation(ctx, "stub@example.com", schema.Follow, schema.Table, TableOrders); err != nil {
			t.Fatal(err)
		}
		if err := s.ClearUserProperties(ctx, "stub@example.com", "email", proxy.SCIMIDProperty); err != nil {
			t.Fatalf("clearing a minimal node: %v", err)
		}
		if u, err := s.GetUser(ctx, "stub@example.com"); err != nil || !u.IsStub() {
			t.Fatalf("minimal node after the clear = %+v, %v", u, err)
		}
	})

	t.Run("clear refuses names outside the allowlist", func(t *testing.T) {
		s := newStore(t)
		in := alice()
		in.OtherKeyValues = map[string]string{"okta_id": "00ualice", "location": "Berlin"}
		if _, _, err := s.CreateUpdateUser(ctx, in); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"", "key", "user_id", "is_active", "published_tag", "publisher_created_epoch_ms",
			"publisher_last_updated_epoch_ms", "usersvc_created_marker", "other_key_values", "updated_at",
			"has space", "1st", "a-b", "u.team_name", "okta_id`", "okta_id}) RETURN 1 //", strings.Repeat("a", 65)} {
			// A valid name beside the refused one is not cleared either.
			if err := s.ClearUserProperties(ctx, in.Key(), "team_name", "okta_id", name); schema.KindOf(err) != schema.KindInvalid {
				t.Errorf("ClearUserProperties(%q) = %v; want invalid", name, err)
			}
		}
		got, err := s.GetUser(ctx, in.Key())
		if err != nil {
			t.Fatal(err)
		}
		assertUser(t, "after refused clears", got, in)
		if keys, err := s.UserKeysByDirectoryID(ctx, "00ualice"); err != nil || !slices.Equal(keys, []string{in.Key()}) {
			t.Fatalf("UserKeysByDirectoryID after refused clears = %v, %v", keys, err)
		}
	})

	t.Run("clear of an unknown node is not found", func(t *testing.T) {
		s := newStore(t)
		if _, _, err := s.CreateUpdateUser(ctx, alice()); err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"nobody@example.com", "", "ALICE@example.com"} {
			for _, names := range [][]string{{"team_name", "okta_id"}, nil} {
				if err := s.ClearUserProperties(ctx, key, names...); !schema.IsNotFound(err) {
					t.Errorf("ClearUserProperties(%q, %v) = %v; want not found", key, names, err)
				}
			}
		}
		if _, err := s.GetUser(ctx, "nobody@example.com"); !schema.IsNotFound(err) {
			t.Fatalf("a node was written for an unknown key: %v", err)
		}
		if _, total, err := s.PageUserKeys(ctx, 0, 10); err != nil || total != 1 {
			t.Fatalf("%d nodes after clears of unknown keys, %v", total, err)
		}
	})

	// The manager reads back from the node's fields, else (Neo4j) over its
	// MANAGE_BY edge, else from the node manager_email keys: clearing
	// manager_email and manager_id (and manager_fullname, the node's own
	// copy of the name) leaves none of them to read.
	t.Run("clearing the manager fields leaves no manager", func(t *testing.T) {
		s := newStore(t)
		boss := bob()
		report := alice()
		report.ManagerFullname = "" // read from the manager's node
		for _, u := range []schema.User{boss, report} {
			if _, _, err := s.CreateUpdateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		if got, _ := s.GetUser(ctx, report.Key()); got.ManagerFullname != boss.FullName || got.ManagerEmail != boss.Email {
			t.Fatalf("manager before the clear = %q <%s>", got.ManagerFullname, got.ManagerEmail)
		}
		// The name alone is the node's copy: the manager's node still
		// answers it while manager_email names it.
		if err := s.ClearUserProperties(ctx, report.Key(), "manager_fullname"); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetUser(ctx, report.Key()); got.ManagerFullname != boss.FullName {
			t.Fatalf("manager_fullname after clearing the copy = %q, want the manager node's", got.ManagerFullname)
		}
		if err := s.ClearUserProperties(ctx, report.Key(), "manager_email", "manager_id", "manager_fullname"); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetUser(ctx, report.Key())
		if err != nil {
			t.Fatal(err)
		}
		if got.ManagerEmail != "" || got.ManagerID != "" || got.ManagerFullname != "" {
			t.Fatalf("manager after the clear = %q <%s> %q", got.ManagerFullname, got.ManagerEmail, got.ManagerID)
		}
		if got.FullName != report.FullName || got.TeamName != report.TeamName {
			t.Fatalf("report after the clear = %+v", got)
		}
		if got, err := s.GetUser(ctx, boss.Key()); err != nil {
			t.Fatalf("the manager's node after the clear: %v", err)
		} else {
			assertUser(t, "the manager's node", got, boss)
		}

		// A manager linked by a MANAGE_BY edge alone, as databuilder links
		// one, where the store's fixtures can write one.
		linker, ok := s.(ManagerLinker)
		if !ok {
			return
		}
		carol := schema.User{UserID: "carol@example.com", Email: "carol@example.com", FullName: "Carol Danvers", IsActive: true}
		if _, _, err := s.CreateUpdateUser(ctx, carol); err != nil {
			t.Fatal(err)
		}
		if err := linker.LinkManager(ctx, carol.Key(), boss.Key()); err != nil {
			t.Fatalf("LinkManager: %v", err)
		}
		if got, _ := s.GetUser(ctx, carol.Key()); got.ManagerFullname != boss.FullName || got.ManagerEmail != boss.Email {
			t.Fatalf("manager over MANAGE_BY = %q <%s>", got.ManagerFullname, got.ManagerEmail)
		}
		// One of the two keeps the edge, which still answers the manager.
		if err := s.ClearUserProperties(ctx, carol.Key(), "manager_email", "manager_fullname"); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetUser(ctx, carol.Key()); got.ManagerEmail != boss.Email {
			t.Fatalf("manager_email after clearing it alone = %q, want the edge's %q", got.ManagerEmail, boss.Email)
		}
		if err := s.ClearUserProperties(ctx, carol.Key(), "manager_email", "manager_id"); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetUser(ctx, carol.Key()); got.ManagerEmail != "" || got.ManagerFullname != "" || got.ManagerID != "" || got.FullName != carol.FullName {
			t.Fatalf("after clearing the manager linked by an edge = %+v", got)
		}
		if got, err := s.GetUser(ctx, boss.Key()); err != nil {
			t.Fatalf("the manager's node after the unlink: %v", err)
		} else {
			assertUser(t, "the manager's node after the unlink", got, boss)
		}
	})
}

func alice() schema.User {
	return schema.User{
		UserID: "alice@example.com", Email: "alice@example.com",
		FirstName: "Alice", LastName: "Liddell", FullName: "Alice Liddell", DisplayName: "Alice Liddell",
		GithubUsername: "aliddell", TeamName: "Data", SlackID: "U123", EmployeeType: "FTE",
		ManagerFullname: "Bob Builder", ManagerEmail: "bob@example.com", ManagerID: "00u-bob",
		RoleName: "Engineer", ProfileURL: "https://people.example.com/alice", IsActive: true,
	}
}

func bob() schema.User {
	return schema.User{
		UserID: "bob@example.com", Email: "bob@example.com",
		FirstName: "Bob", LastName: "Builder", FullName: "Bob Builder", DisplayName: "Bob Builder", IsActive: true,
	}
}

func tableNames(tables []schema.PopularTable) []string {
	names := make([]string, 0, len(tables))
	for _, t := range tables {
		names = append(names, t.Schema+"."+t.Name)
	}
	return names
}

func assertUser(t *testing.T, what string, got, want schema.User) {
	t.Helper()
	g, _ := got.MarshalJSON()
	w, _ := want.MarshalJSON()
	if string(g) != string(w) {
		t.Fatalf("%s:\n got %s\nwant %s", what, g, w)
	}
}
