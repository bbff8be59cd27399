package google_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/proxy/embedded"
	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/googleapi"
)

// bigCustomer holds the administrator and n more people, every 4th
// suspended, each managed by the administrator: with pages of two, n+1
// people over (n+2)/2 pages.
func bigCustomer(t *testing.T, n int) *googleapi.Server {
	t.Helper()
	srv := googleapi.New(t)
	admin := googleapi.NewUser("1000", adminEmail, "Grace", "Hopper")
	admin.IsAdmin = true
	users := []googleapi.User{admin}
	for i := range n {
		u := googleapi.NewUser(fmt.Sprint(2000+i), fmt.Sprintf("user%03d@example.com", i), "User", fmt.Sprint(i))
		u.Suspended = i%4 == 3
		u.Relations = []googleapi.Relation{{Type: "manager", Value: adminEmail}}
		u.Organizations = []googleapi.Organization{{Department: fmt.Sprintf("Team%d", i%3), Primary: true}}
		users = append(users, u)
	}
	srv.AddUsers(users...)
	return srv
}

func listAll(ctx context.Context, l oidcuser.Lister) ([]oidcuser.Person, int, error) {
	var people []oidcuser.Person
	pages := 0
	err := l.ListUsers(ctx, oidcuser.ListQuery{}, func(page []oidcuser.Person) error {
		pages++
		people = append(people, page...)
		return nil
	})
	return people, pages, err
}

// TestListingPageFaults breaks each page k of a listing in turn. A blip
// (the page fails twice) is ridden out: everyone is listed exactly once.
// A failure that outlasts PageAttempts fails the listing at page k, after
// the pages before it and none after, never a quiet partial listing.
func TestListingPageFaults(t *testing.T) {
	const n, pages = 9, 5 // 10 people, pages of two
	faults := append(throttles[:len(throttles):len(throttles)], outages...)
	for k := 1; k <= pages; k++ {
		for _, f := range faults {
			t.Run(fmt.Sprintf("page %d %s", k, f.name), func(t *testing.T) {
				t.Parallel()
				srv := bigCustomer(t, n)
				cfg := testConfig(srv, serviceAccount(t, srv), nil)
				cfg.PageAttempts = 3
				d := newDirectory(t, cfg)
				ctx := ctxTimeout(t)

				srv.FailPage(k, f.fault, 2)
				people, got, err := listAll(ctx, d)
				if err != nil || got != pages || len(people) != n+1 {
					t.Fatalf("a blip on page %d: %d people in %d pages, %v", k, len(people), got, err)
				}
				seen := map[string]bool{}
				for _, p := range people {
					if seen[p.ID] {
						t.Fatalf("%s listed twice", p.ID)
					}
					seen[p.ID] = true
				}

				srv.FailPage(k, f.fault, -1)
				before := srv.Count(googleapi.IsList)
				people, got, err = listAll(ctx, d)
				if err == nil || schema.KindOf(err) != schema.KindUnavailable || !strings.Contains(err.Error(), fmt.Sprintf("page %d", k)) {
					t.Fatalf("page %d down: %v", k, err)
				}
				if got != k-1 || len(people) != 2*(k-1) {
					t.Fatalf("page %d down: %d pages handed over", k, got)
				}
				// net/http resends an idempotent GET once when a reused
				// connection drops it unanswered: one call more at most.
				want, slack := k-1+cfg.PageAttempts, 0
				if f.fault == googleapi.Dropped {
					slack = 1
				}
				if calls := srv.Count(googleapi.IsList) - before; calls < want || calls > want+slack {
					t.Fatalf("%d list calls, want %d", calls, want)
				}
			})
		}
	}
}

// TestSyncNeverPartial: a sync whose listing breaks on page k fails and
// writes nothing; once the directory is back, a rerun writes every person
// once.
func TestSyncNeverPartial(t *testing.T) {
	const n = 9
	for k := 1; k <= 5; k++ {
		t.Run(fmt.Sprintf("page %d", k), func(t *testing.T) {
			t.Parallel()
			srv := bigCustomer(t, n)
			cfg := testConfig(srv, serviceAccount(t, srv), nil)
			cfg.PageAttempts = 2
			d := newDirectory(t, cfg)
			store, err := embedded.Open(filepath.Join(t.TempDir(), "u.db"), time.Second)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = store.Close() })
			ctx := ctxTimeout(t)
			syncer := oidcuser.NewSyncer(d, store, oidcuser.SyncConfig{Name: "google", Owner: "test", Full: true})

			srv.FailPage(k, googleapi.Unavailable, -1)
			if rep, err := syncer.Run(ctx); err == nil || rep.Created+rep.Updated != 0 {
				t.Fatalf("a sync over a broken listing: %+v, %v", rep, err)
			}
			if users, err := store.GetUsers(ctx); err != nil || len(users) != 0 {
				t.Fatalf("written: %d users, %v", len(users), err)
			}

			srv.ClearFaults()
			rep, err := syncer.Run(ctx)
			if err != nil || rep.Fetched != n+1 || rep.Created != n+1 || rep.Updated != 0 || rep.Skipped != 0 {
				t.Fatalf("rerun: %+v, %v", rep, err)
			}
			u, err := store.GetUser(ctx, "user001@example.com")
			if err != nil || u.ManagerFullname != "Grace Hopper" || u.TeamName != "Team1" || u.OtherKeyValues[schema.DirectoryIDProperty] != "2001" {
				t.Fatalf("synced %+v, %v", u, err)
			}
			if u, err := store.GetUser(ctx, "user003@example.com"); err != nil || u.IsActive {
				t.Fatalf("suspended: %+v, %v", u, err)
			}
			// No lastUpdated: the next run reads everyone again, and writes
			// nothing that has not changed.
			rep, err = syncer.Run(ctx)
			if err != nil || rep.Fetched != n+1 || rep.Unchanged != n+1 {
				t.Fatalf("third run: %+v, %v", rep, err)
			}
		})
	}
}

// TestListingIgnoresUpdatedAfter: the API cannot filter on changes, so a
// listing "since" any time is whole.
func TestListingIgnoresUpdatedAfter(t *testing.T) {
	srv := bigCustomer(t, 3)
	d := newDirectory(t, testConfig(srv, serviceAccount(t, srv), nil))
	var got int
	err := d.ListUsers(ctxTimeout(t), oidcuser.ListQuery{UpdatedAfter: time.Now().Add(time.Hour)}, func(p []oidcuser.Person) error {
		got += len(p)
		return nil
	})
	if err != nil || got != 4 {
		t.Fatalf("%d, %v", got, err)
	}
}

// TestListingStopsOnCallerError: fn's error ends the listing, as is.
func TestListingStopsOnCallerError(t *testing.T) {
	srv := bigCustomer(t, 9)
	d := newDirectory(t, testConfig(srv, serviceAccount(t, srv), nil))
	stop := errors.New("stop")
	pages := 0
	err := d.ListUsers(ctxTimeout(t), oidcuser.ListQuery{}, func([]oidcuser.Person) error {
		pages++
		return stop
	})
	if err != stop || pages != 1 || srv.Count(googleapi.IsList) != 1 {
		t.Fatalf("%v after %d pages", err, pages)
	}
}

// TestListingWrongCustomer: a customer the API does not know is the
// operator's to fix.
func TestListingWrongCustomer(t *testing.T) {
	srv := bigCustomer(t, 1)
	cfg := testConfig(srv, serviceAccount(t, srv), nil)
	cfg.Customer = "C0nosuch"
	d := newDirectory(t, cfg)
	ctx := ctxTimeout(t)
	_, _, err := listAll(ctx, d)
	wantCredentials(t, "listing", err, "GOOGLE_CUSTOMER")
	wantCredentials(t, "probe", d.Probe(ctx), "GOOGLE_CUSTOMER")
	if n := srv.Count(googleapi.IsList); n != 2 {
		t.Fatalf("%d calls; a refusal is not retried", n)
	}
	cfg.Customer = googleapi.DefaultCustomerID
	if _, got, err := listAll(ctx, newDirectory(t, cfg)); err != nil || got != 1 {
		t.Fatalf("by customer id: %d pages, %v", got, err)
	}
}
