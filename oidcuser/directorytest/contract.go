// Package directorytest is the contract every directory (oidcuser.Directory
// and its capabilities) passes: the same people, seeded into each
// directory's backend (a provider's test server, a real slapd, a file), must
// come back the same way. A directory's test calls Run with a Factory that
// seeds its backend with People.
package directorytest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/schema"
)

// Person is one fixture person, in no directory's shape: each Factory
// writes it into its backend the way that directory holds people (an Okta
// user, an Entra user with accountEnabled, a Google user with suspended and
// relations, an inetOrgPerson or AD user entry).
type Person struct {
	Login      string // Okta login, Entra userPrincipalName, Google primaryEmail... (see the Factory)
	Email      string // the mail attribute; "" for none
	GivenName  string
	FamilyName string
	Title      string
	Department string
	Manager    string // the manager's Login; "" for none
	Active     bool   // false: deactivated, suspended or disabled
}

// People is the fixture set. The logins are shaped so that every
// directory can hold them: where a directory's login must be an email (an
// Entra UPN, a Google primary email), the Factory may use Email as the
// login for people that have one and say so with LoginIsEmail.
func People() []Person {
	return []Person{
		{Login: "ada", Email: "ada.lovelace@example.com", GivenName: "Ada", FamilyName: "Lovelace", Title: "Analyst", Department: "Analytics", Manager: "ghopper", Active: true},
		{Login: "ghopper", Email: "grace.hopper@example.com", GivenName: "Grace", FamilyName: "Hopper", Title: "Rear Admiral", Department: "Navy", Active: true},
		{Login: "gone", Email: "gone@example.com", GivenName: "Gone", FamilyName: "Away", Title: "Former", Department: "Alumni", Active: false},
		{Login: "twin-a", Email: "shared@example.com", GivenName: "Twin", FamilyName: "A", Active: true},
		{Login: "twin-b", Email: "Shared@Example.com", GivenName: "Twin", FamilyName: "B", Active: true},
		{Login: "obrien", Email: "o'brien@example.com", GivenName: "Flann", FamilyName: "O'Brien", Department: "R&D (east)", Active: true},
		{Login: "elodie", Email: "élodie@exemple.fr", GivenName: "Élodie", FamilyName: "Durand", Active: true},
	}
}

// Env is what a Factory returns: the directory over its seeded backend,
// and what the backend can be made to do for the fault cases.
type Env struct {
	Dir oidcuser.Directory
	// LoginIsEmail says the directory's login is the person's email (an
	// Entra UPN, a Google primary email): lookups by Person.Login are then
	// lookups by email.
	LoginIsEmail bool
	// NoManagerEmail says the directory names a person's manager but not
	// their email (Okta's profile carries manager and managerId only).
	NoManagerEmail bool
	// UniqueEmails says the directory cannot hold two people with one
	// email (Google Workspace): the Factory then seeds the first of people
	// sharing an email only, the listing expects that one, and the
	// shared-email conflict is not checked.
	UniqueEmails bool
	// Throttle, when set, makes the backend answer every call from now on
	// as the provider does when its rate limit is spent, with a retry-after
	// of retryAfter, until restore is called.
	Throttle func(retryAfter time.Duration) (restore func())
	// Outage, when set, makes the backend fail every call (5xx, or the
	// connection dropped) until restore is called.
	Outage func() (restore func())
	// Calls, when set, counts the calls the backend received so far.
	Calls func() int
}

// Factory seeds a backend with people and builds the directory over it.
type Factory func(t *testing.T, people []Person) Env

func login(env Env, p Person) string {
	if env.LoginIsEmail && p.Email != "" {
		return p.Email
	}
	return p.Login
}

func find(people []Person, login string) Person {
	for _, p := range people {
		if p.Login == login {
			return p
		}
	}
	return Person{}
}

// Run runs the contract against the directory newDir builds.
func Run(t *testing.T, newDir Factory) {
	people := People()
	env := newDir(t, people)
	ctx := context.Background()
	lookup := func(t *testing.T, id string) (schema.User, error) {
		t.Helper()
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return env.Dir.LookupUser(lctx, id)
	}
	ada, grace := find(people, "ada"), find(people, "ghopper")

	t.Run("by login", func(t *testing.T) {
		u, err := lookup(t, login(env, grace))
		if err != nil {
			t.Fatal(err)
		}
		if u.UserID != schema.UserKey(login(env, grace)) || u.Key() != schema.UserKey(grace.Email) {
			t.Fatalf("user_id %q key %q, want %q keyed by the email %q", u.UserID, u.Key(), login(env, grace), grace.Email)
		}
		if u.FirstName != "Grace" || u.LastName != "Hopper" || u.FullName != "Grace Hopper" || !strings.EqualFold(u.Email, grace.Email) ||
			u.RoleName != "Rear Admiral" || u.TeamName != "Navy" || !u.IsActive {
			t.Fatalf("mapped %+v", u)
		}
		if u.OtherKeyValues[schema.DirectoryIDProperty] == "" {
			t.Fatalf("no directory id in %v", u.OtherKeyValues)
		}
	})
	t.Run("by email, any case", func(t *testing.T) {
		u, err := lookup(t, strings.ToUpper(grace.Email))
		if err != nil || u.Key() != schema.UserKey(grace.Email) {
			t.Fatalf("%+v, %v", u, err)
		}
	})
	t.Run("manager name and email", func(t *testing.T) {
		u, err := lookup(t, ada.Email)
		if err != nil {
			t.Fatal(err)
		}
		if u.ManagerFullname != "Grace Hopper" || (!env.NoManagerEmail && !strings.EqualFold(u.ManagerEmail, grace.Email)) {
			t.Fatalf("manager %q <%s>, want Grace Hopper <%s>", u.ManagerFullname, u.ManagerEmail, grace.Email)
		}
		if u.TeamName != "Analytics" || u.RoleName != "Analyst" {
			t.Fatalf("team %q title %q", u.TeamName, u.RoleName)
		}
	})
	t.Run("inactive", func(t *testing.T) {
		u, err := lookup(t, "gone@example.com")
		if err != nil || u.IsActive {
			t.Fatalf("%+v, %v: want found and inactive", u, err)
		}
	})
	t.Run("not found", func(t *testing.T) {
		// Filter and query metacharacters stay values: no wildcard, no
		// injected clause matches anyone.
		for _, id := range []string{"nobody@example.com", "nobody", "*", "*)(uid=*", `x" or "1"="1`, "' or ''='", "a*@example.com"} {
			if _, err := lookup(t, id); schema.KindOf(err) != schema.KindNotFound {
				t.Errorf("%q: %v, want not found", id, err)
			}
		}
	})
	if !env.UniqueEmails {
		t.Run("shared email", func(t *testing.T) {
			if _, err := lookup(t, "shared@example.com"); schema.KindOf(err) != schema.KindConflict {
				t.Fatalf("shared email: %v, want conflict", err)
			}
			twin := find(people, "twin-a")
			if env.LoginIsEmail {
				return // the twins' logins are their (shared) email
			}
			u, err := lookup(t, login(env, twin))
			if err != nil || u.Key() != "twin-a" {
				t.Fatalf("a twin by login: %+v, %v; want keyed by login", u, err)
			}
		})
	}
	t.Run("quotes and unicode are values", func(t *testing.T) {
		for _, p := range []Person{find(people, "obrien"), find(people, "elodie")} {
			u, err := lookup(t, p.Email)
			if err != nil || u.Key() != schema.UserKey(p.Email) || u.LastName != p.FamilyName {
				t.Fatalf("%s: %+v, %v", p.Email, u, err)
			}
		}
		if u, err := lookup(t, find(people, "obrien").Email); err == nil && u.TeamName != "R&D (east)" {
			t.Fatalf("team %q", u.TeamName)
		}
	})
	if l, ok := env.Dir.(oidcuser.Lister); ok {
		t.Run("listing", func(t *testing.T) { runListing(t, env, l, people) })
	}
	if il, ok := env.Dir.(oidcuser.IDLookup); ok {
		t.Run("by directory id", func(t *testing.T) {
			u, err := lookup(t, ada.Email)
			if err != nil {
				t.Fatal(err)
			}
			id := u.OtherKeyValues[schema.DirectoryIDProperty]
			byID, err := il.LookupByID(ctx, id)
			if err != nil || byID.Key() != u.Key() || byID.ManagerFullname != "Grace Hopper" {
				t.Fatalf("LookupByID(%q) = %+v, %v", id, byID, err)
			}
			if _, err := il.LookupByID(ctx, "no-such-id-0000"); schema.KindOf(err) != schema.KindNotFound {
				t.Fatalf("unknown id: %v", err)
			}
		})
	}
	if env.Throttle != nil {
		t.Run("throttled", func(t *testing.T) {
			restore := env.Throttle(2 * time.Second)
			before := callCount(env)
			_, err := lookup(t, "someone.new@example.com")
			restore()
			var e *schema.Error
			if schema.KindOf(err) != schema.KindUnavailable || !errors.As(err, &e) || e.RetryAfter <= 0 {
				t.Fatalf("throttled lookup: %v, want unavailable with a retry-after", err)
			}
			if n := callCount(env) - before; env.Calls != nil && n > 4 {
				t.Fatalf("a throttled lookup made %d calls; want a bounded few", n)
			}
			recovers(t, lookup, grace.Email, "the throttle")
		})
	}
	if env.Outage != nil {
		t.Run("outage", func(t *testing.T) {
			restore := env.Outage()
			before := callCount(env)
			_, err := lookup(t, grace.Email)
			restore()
			if schema.KindOf(err) != schema.KindUnavailable {
				t.Fatalf("lookup during an outage: %v, want unavailable", err)
			}
			if n := callCount(env) - before; env.Calls != nil && n > 8 {
				t.Fatalf("a lookup during an outage made %d calls; want a bounded few", n)
			}
			recovers(t, lookup, grace.Email, "the outage")
		})
	}
}

// recovers: once the backend is back, the directory finds people again
// after at most the retry-after it was told (a directory that remembers a
// spent rate-limit window waits it out, as it must).
func recovers(t *testing.T, lookup func(*testing.T, string) (schema.User, error), id, after string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := lookup(t, id)
		if err == nil {
			return
		}
		if schema.KindOf(err) != schema.KindUnavailable || time.Now().After(deadline) {
			t.Fatalf("after %s: %v", after, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func callCount(env Env) int {
	if env.Calls == nil {
		return 0
	}
	return env.Calls()
}

// runListing: every person is listed exactly once, mapped as a lookup
// maps them, and the listing is resumable from a lastUpdated.
func runListing(t *testing.T, env Env, l oidcuser.Lister, people []Person) {
	ctx := context.Background()
	var listed []oidcuser.Person
	pages := 0
	if err := l.ListUsers(ctx, oidcuser.ListQuery{}, func(page []oidcuser.Person) error {
		pages++
		listed = append(listed, page...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if env.UniqueEmails {
		seen := map[string]bool{}
		var unique []Person
		for _, p := range people {
			if e := strings.ToLower(p.Email); e == "" || !seen[e] {
				seen[e] = true
				unique = append(unique, p)
			}
		}
		people = unique
	}
	if len(listed) != len(people) {
		t.Fatalf("listed %d people in %d pages, want %d", len(listed), pages, len(people))
	}
	ids := map[string]bool{}
	var logins []string
	for _, p := range listed {
		if p.ID == "" || ids[p.ID] {
			t.Fatalf("listed id %q empty or twice", p.ID)
		}
		ids[p.ID] = true
		logins = append(logins, strings.ToLower(p.Login))
		if p.User.OtherKeyValues[schema.DirectoryIDProperty] != p.ID {
			t.Fatalf("%s: the mapped user's directory id %q, want %q", p.Login, p.User.OtherKeyValues[schema.DirectoryIDProperty], p.ID)
		}
	}
	for _, want := range people {
		if !slices.Contains(logins, strings.ToLower(login(env, want))) {
			t.Fatalf("%s not listed (listed %v)", login(env, want), logins)
		}
	}
	for _, p := range listed {
		if !strings.EqualFold(p.Email, "gone@example.com") {
			continue
		}
		if p.User.IsActive {
			t.Fatal("the inactive person is listed active")
		}
	}
	for _, p := range listed {
		if strings.EqualFold(p.Email, "ada.lovelace@example.com") && p.User.ManagerFullname != "Grace Hopper" {
			t.Fatalf("listed ada's manager %q", p.User.ManagerFullname)
		}
	}
}
