package oidcuser_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/proxy"
	"github.com/usersvc/usersvc/proxy/proxytest"
	"github.com/usersvc/usersvc/schema"
)

// faultStore fails the failAt-th store call (counting every method) as
// unavailable, as a graph that drops a connection mid-request does.
type faultStore struct {
	oidcuser.ProvisionStore
	calls, failAt atomic.Int64
}

func (f *faultStore) fault() error {
	if n := f.calls.Add(1); n == f.failAt.Load() {
		return schema.Unavailable("injected: the graph dropped the connection", 0, nil)
	}
	return nil
}

func (f *faultStore) GetUser(ctx context.Context, key string) (schema.User, error) {
	if err := f.fault(); err != nil {
		return schema.User{}, err
	}
	return f.ProvisionStore.GetUser(ctx, key)
}

func (f *faultStore) GetUserByUserID(ctx context.Context, id string) (schema.User, error) {
	if err := f.fault(); err != nil {
		return schema.User{}, err
	}
	return f.ProvisionStore.GetUserByUserID(ctx, id)
}

func (f *faultStore) CreateUpdateUser(ctx context.Context, u schema.User) (schema.User, bool, error) {
	if err := f.fault(); err != nil {
		return schema.User{}, false, err
	}
	return f.ProvisionStore.CreateUpdateUser(ctx, u)
}

func (f *faultStore) MoveUser(ctx context.Context, from, to string) error {
	if err := f.fault(); err != nil {
		return err
	}
	return f.ProvisionStore.MoveUser(ctx, from, to)
}

func (f *faultStore) UserKeysByProperty(ctx context.Context, name, value string) ([]string, error) {
	if err := f.fault(); err != nil {
		return nil, err
	}
	return f.ProvisionStore.UserKeysByProperty(ctx, name, value)
}

func (f *faultStore) UserProperties(ctx context.Context, key string, names ...string) (map[string]string, error) {
	if err := f.fault(); err != nil {
		return nil, err
	}
	return f.ProvisionStore.UserProperties(ctx, key, names...)
}

func (f *faultStore) SetUserPropertyIfAbsent(ctx context.Context, key, name, value string) (string, error) {
	if err := f.fault(); err != nil {
		return "", err
	}
	return f.ProvisionStore.SetUserPropertyIfAbsent(ctx, key, name, value)
}

func (f *faultStore) ClearUserProperties(ctx context.Context, key string, names ...string) error {
	if err := f.fault(); err != nil {
		return err
	}
	return f.ProvisionStore.ClearUserProperties(ctx, key, names...)
}

func grace() schema.ProvisionedUser {
	return schema.ProvisionedUser{UserName: "Grace.Hopper", GivenName: "Grace", FamilyName: "Hopper",
		Email: "grace@example.com", Active: true, Title: "Admiral", Department: "Navy", ExternalID: "ext-grace"}
}

// TestProvisionFaultAtEveryStep: a deactivation that also changes the
// person's email (so the node moves) fails at each store call in turn.
// Every failure is unavailable (503 with Retry-After to the client, which
// retries); the retry ends in the one state the request asked for: one
// node, moved, inactive, its edges kept, the SCIM id unchanged.
func TestProvisionFaultAtEveryStep(t *testing.T) {
	for name, newStore := range personStores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			steps := 0
			for n := int64(1); ; n++ {
				base := newStore(t)
				if err := base.LoadCatalog(ctx, proxytest.Catalog()); err != nil {
					t.Fatal(err)
				}
				fs := &faultStore{ProvisionStore: base.(oidcuser.ProvisionStore)}
				p := oidcuser.NewProvisioner(fs, nil, nil)
				created, err := p.Create(ctx, grace())
				if err != nil {
					t.Fatal(err)
				}
				if err := base.AddResourceRelation(ctx, "grace@example.com", schema.Own, schema.Table, proxytest.TableOrders); err != nil {
					t.Fatal(err)
				}
				change := grace()
				change.Active, change.Email = false, "grace.hopper@example.com"
				fs.calls.Store(0)
				fs.failAt.Store(n)
				_, err = p.Replace(ctx, created.ID, change)
				fs.failAt.Store(0)
				if err == nil {
					steps = int(n - 1)
					break
				}
				if schema.KindOf(err) != schema.KindUnavailable {
					t.Fatalf("fault at call %d: %v, want unavailable", n, err)
				}
				got, err := p.Replace(ctx, created.ID, change)
				if err != nil {
					t.Fatalf("retry after a fault at call %d: %v", n, err)
				}
				if got.ID != created.ID || got.Active || got.Email != "grace.hopper@example.com" {
					t.Fatalf("retry after a fault at call %d: %+v", n, got)
				}
				keys, err := base.(proxy.UserIndex).UserKeysByProperty(ctx, proxy.SCIMIDProperty, created.ID)
				if err != nil || len(keys) != 1 || keys[0] != "grace.hopper@example.com" {
					t.Fatalf("fault at call %d: nodes holding the id = %v, %v", n, keys, err)
				}
				if _, err := base.GetUser(ctx, "grace@example.com"); !schema.IsNotFound(err) {
					t.Fatalf("fault at call %d: the old node is still there (%v)", n, err)
				}
				owned, err := base.GetUserResources(ctx, "grace.hopper@example.com", schema.Own)
				if err != nil || len(owned.Table) != 1 {
					t.Fatalf("fault at call %d: the moved node owns %+v, %v", n, owned, err)
				}
			}
			if steps < 6 {
				t.Fatalf("the replace made %d store calls; the faults covered too few steps", steps)
			}
			t.Logf("a fault injected at each of %d store calls", steps)
		})
	}
}

// TestProvisionCreateRetriedAfterAFault: a create that fails at any step
// and is retried leaves one node and one SCIM resource for the person: the
// retry succeeds, or answers the conflict a finished create would (the
// client then finds the person by userName, as Okta and Entra do).
func TestProvisionCreateRetriedAfterAFault(t *testing.T) {
	for name, newStore := range personStores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			for n := int64(1); ; n++ {
				base := newStore(t)
				fs := &faultStore{ProvisionStore: base.(oidcuser.ProvisionStore)}
				p := oidcuser.NewProvisioner(fs, nil, nil)
				fs.failAt.Store(n)
				_, err := p.Create(ctx, grace())
				fs.failAt.Store(0)
				if err == nil {
					break
				}
				if schema.KindOf(err) != schema.KindUnavailable {
					t.Fatalf("fault at call %d: %v", n, err)
				}
				if _, err := p.Create(ctx, grace()); err != nil && schema.KindOf(err) != schema.KindConflict {
					t.Fatalf("retry after a fault at call %d: %v", n, err)
				}
				found, err := p.Find(ctx, schema.ProvisionQuery{UserName: "grace.hopper"})
				if err != nil || len(found) != 1 || found[0].Department != "Navy" {
					t.Fatalf("fault at call %d: found %+v, %v", n, found, err)
				}
				_, total, err := base.(proxy.UserIndex).PageUserKeys(ctx, 0, 10)
				if err != nil || total != 1 {
					t.Fatalf("fault at call %d: %d nodes, %v", n, total, err)
				}
			}
		})
	}
}

// TestProvisionConcurrentCreates: eight clients create the same userName
// at once; one wins, the others get the uniqueness conflict, and the graph
// holds one node with one SCIM id.
func TestProvisionConcurrentCreates(t *testing.T) {
	for name, newStore := range personStores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			base := newStore(t)
			p := oidcuser.NewProvisioner(base.(oidcuser.ProvisionStore), nil, nil)
			var wg sync.WaitGroup
			var ok, conflict atomic.Int64
			errs := make(chan error, 8)
			for range 8 {
				wg.Go(func() {
					_, err := p.Create(ctx, grace())
					switch {
					case err == nil:
						ok.Add(1)
					case schema.KindOf(err) == schema.KindConflict:
						conflict.Add(1)
					default:
						errs <- err
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if ok.Load() != 1 || conflict.Load() != 7 {
				t.Fatalf("%d created, %d conflicts; want 1 and 7", ok.Load(), conflict.Load())
			}
			keys, total, err := base.(proxy.UserIndex).PageSCIMUserKeys(ctx, 0, 10)
			if err != nil || total != 1 || keys[0] != "grace@example.com" {
				t.Fatalf("SCIM nodes %v (%d), %v", keys, total, err)
			}
		})
	}
}

// TestProvisionedPersonIsTheDirectoryPerson: Grace provisioned by SCIM
// (userName her login, her email) and then synced and resolved from Okta
// is one node, in both orders; a SCIM deactivation lands on the node sync
// wrote.
func TestProvisionedPersonIsTheDirectoryPerson(t *testing.T) {
	graceSCIM := schema.ProvisionedUser{UserName: "ghopper", GivenName: "Grace", FamilyName: "Hopper",
		Email: "grace.hopper@example.com", Active: true}
	for name, newStore := range personStores {
		t.Run(name+"/scim first", func(t *testing.T) {
			e := newPersonEnv(t, newStore)
			p := oidcuser.NewProvisioner(e.store.(oidcuser.ProvisionStore), nil, nil)
			created, err := p.Create(context.Background(), graceSCIM)
			if err != nil {
				t.Fatal(err)
			}
			e.sync(t)
			if code, body := e.do(t, "GET", "/user/ghopper"); code != 200 {
				t.Fatalf("GET /user/ghopper = %d %s", code, body)
			}
			e.checkOneGrace(t)
			if got, err := p.Get(context.Background(), created.ID); err != nil || got.Email != "grace.hopper@example.com" {
				t.Fatalf("the SCIM resource after sync: %+v, %v", got, err)
			}
		})
		t.Run(name+"/sync first", func(t *testing.T) {
			e := newPersonEnv(t, newStore)
			e.sync(t)
			p := oidcuser.NewProvisioner(e.store.(oidcuser.ProvisionStore), nil, nil)
			found, err := p.Find(context.Background(), schema.ProvisionQuery{UserName: "ghopper"})
			if err != nil || len(found) != 1 {
				t.Fatalf("Find ghopper after sync: %+v, %v", found, err)
			}
			off := graceSCIM
			off.Active = false
			if _, err := p.Replace(context.Background(), found[0].ID, off); err != nil {
				t.Fatal(err)
			}
			if u, err := e.store.GetUser(context.Background(), "grace.hopper@example.com"); err != nil || u.IsActive {
				t.Fatalf("the synced node after the SCIM deactivation: %+v, %v", u, err)
			}
			if _, err := e.store.GetUser(context.Background(), "ghopper"); !schema.IsNotFound(err) {
				t.Fatalf("a node under the login: %v", err)
			}
		})
	}
}
