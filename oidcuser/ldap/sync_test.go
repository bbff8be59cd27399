package ldap_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/oidcuser/directorytest"
	"github.com/usersvc/usersvc/oidcuser/ldap"
	"github.com/usersvc/usersvc/proxy/embedded"
	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/slapd"
)

// syncPeople are n people with their own emails; every fourth is
// locked (inactive), and each reports to the first.
func syncPeople(n int) []directorytest.Person {
	people := make([]directorytest.Person, n)
	for i := range people {
		people[i] = directorytest.Person{
			Login: fmt.Sprintf("p%02d", i), Email: fmt.Sprintf("person%02d@example.com", i),
			GivenName: "Person", FamilyName: fmt.Sprint(i), Department: fmt.Sprintf("Team %d", i%3),
			Active: i%4 != 3,
		}
		if i > 0 {
			people[i].Manager = "p00"
		}
	}
	return people
}

func syncStore(t *testing.T) *embedded.Store {
	t.Helper()
	s, err := embedded.Open(filepath.Join(t.TempDir(), "u.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func runSync(dir oidcuser.Lister, store oidcuser.SyncStore) (oidcuser.SyncReport, error) {
	return oidcuser.NewSyncer(dir, store, oidcuser.SyncConfig{Owner: "test"}).Run(context.Background())
}

// everyoneOnce: the run succeeded and wrote every person, each once, as
// the directory has them.
func everyoneOnce(t *testing.T, store *embedded.Store, rep oidcuser.SyncReport, err error, people []directorytest.Person) {
	t.Helper()
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	if rep.Fetched != len(people) || rep.Created != len(people) || rep.Updated != 0 || rep.Skipped != 0 {
		t.Fatalf("report %+v, want %d fetched and created, nothing else", rep, len(people))
	}
	ctx := context.Background()
	active := 0
	for _, p := range people {
		u, err := store.GetUser(ctx, strings.ToLower(p.Email))
		if err != nil {
			t.Fatalf("%s not written: %v", p.Email, err)
		}
		if u.UserID != p.Login || u.IsActive != p.Active || u.OtherKeyValues[schema.DirectoryIDProperty] == "" {
			t.Fatalf("%s written as %+v", p.Email, u)
		}
		if p.Manager != "" && u.ManagerFullname != "Person 0" {
			t.Fatalf("%s: manager %q", p.Email, u.ManagerFullname)
		}
		if p.Active {
			active++
		}
	}
	if users, err := store.GetUsers(ctx); err != nil || len(users) != active {
		t.Fatalf("%d active users in the store (%v), want %d", len(users), err, active)
	}
}

// A sync over LDAP paged results (RFC 2696, two people a page) whose
// connection drops in the middle of page k, for every k: the run either
// fails or writes everyone; it never reports success with people missing.
// A paged search lives on the connection it ran on (OpenLDAP drops its
// cookie with the connection), so a dropped page restarts the search on a
// new connection: one drop costs a pass and
// the run succeeds whole; a page that drops on every pass fails the
// listing after a bounded number of passes, and the run writes nothing.
// A clean run then writes every person once.
func TestSyncPageFaults(t *testing.T) {
	ldap.SetListBackoff(t, 10*time.Millisecond)
	srv := slapd.Start(t)
	people := syncPeople(9)
	srv.Add(t, openLDAPEntries(srv, people)...)
	cutter := slapd.StartPageCutter(t, srv.Addr, nil)
	dir := newDir(t, rootConfig(srv, "ldap://"+cutter.Addr(), ldap.FlavorOpenLDAP))

	pages := 0
	if err := dir.ListUsers(context.Background(), oidcuser.ListQuery{}, func(page []oidcuser.Person) error {
		pages++
		return nil
	}); err != nil || pages != (len(people)+1)/2 {
		t.Fatalf("a clean listing: %d pages, %v; want %d", pages, err, (len(people)+1)/2)
	}

	for k := 1; k <= pages; k++ {
		t.Run(fmt.Sprintf("page %d of %d dropped once", k, pages), func(t *testing.T) {
			store := syncStore(t)
			cutter.CutIn(k, 1)
			rep, err := runSync(dir, store)
			if n := cutter.Cuts(); n != 1 {
				t.Fatalf("%d cuts, want 1", n)
			}
			everyoneOnce(t, store, rep, err, people)
		})
		t.Run(fmt.Sprintf("page %d of %d dropped every time", k, pages), func(t *testing.T) {
			store := syncStore(t)
			cutter.CutIn(k, -1)
			rep, err := runSync(dir, store)
			cuts := cutter.Cuts()
			cutter.CutIn(0, 0)
			if err == nil {
				t.Fatalf("the sync reported success (%+v) though page %d never arrived", rep, k)
			}
			if schema.KindOf(err) != schema.KindUnavailable || cuts != ldap.MaxListAttempts {
				t.Fatalf("%v after %d cuts; want unavailable after %d", err, cuts, ldap.MaxListAttempts)
			}
			if users, _ := store.GetUsers(context.Background()); len(users) != 0 || rep.Created+rep.Updated != 0 {
				t.Fatalf("the failed sync wrote %d people (%+v)", len(users), rep)
			}
			rep, err = runSync(dir, store)
			everyoneOnce(t, store, rep, err, people)
		})
	}
}
