package google_test

import (
	"strings"
	"testing"

	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/googleapi"
)

// org is a small customer: an administrator, a manager listed after her
// reports (by email), people with several organizations, an alias, an
// archived person, and managers the directory cannot give (deleted, in
// another domain, named rather than emailed).
func org(t *testing.T) *googleapi.Server {
	t.Helper()
	srv := googleapi.New(t, googleapi.WithDomains("example.com", "example.org"))
	admin := googleapi.NewUser("100", adminEmail, "Grace", "Hopper")
	admin.IsAdmin = true
	boss := googleapi.NewUser("200", "zoe.boss@example.com", "Zoë", "Boss")
	boss.FullName = "Zoë B. Boss" // fullName is the directory's, not derived
	a := googleapi.NewUser("300", "alan@example.com", "Alan", "Turing")
	a.Relations = []googleapi.Relation{{Type: "manager", Value: "Zoe.Boss@example.com"}}
	a.Organizations = []googleapi.Organization{
		{Name: "Old", Title: "Intern", Department: "Before"},
		{Name: "Example", Title: "Cryptanalyst", Department: "Hut 8", Primary: true},
	}
	a.Aliases = []string{"prof@example.org"}
	b := googleapi.NewUser("400", "barbara@example.com", "Barbara", "Liskov")
	b.Relations = []googleapi.Relation{{Type: "assistant", Value: "alan@example.com"}, {Type: "manager", Value: "zoe.boss@example.com"}}
	b.Organizations = []googleapi.Organization{{Title: "Professor", Department: "CS"}, {Title: "Other", Department: "Other"}}
	c := googleapi.NewUser("500", "claude@example.com", "Claude", "Shannon")
	c.Relations = []googleapi.Relation{{Type: "manager", Value: "left.long.ago@example.com"}}
	c.Archived = true
	e := googleapi.NewUser("600", "edsger@example.com", "Edsger", "Dijkstra")
	e.Relations = []googleapi.Relation{{Type: "manager", Value: "someone@elsewhere.net"}}
	f := googleapi.NewUser("700", "frances@example.com", "Frances", "Allen")
	f.Relations = []googleapi.Relation{{Type: "manager", Value: "Ada Lovelace"}}
	plus := googleapi.NewUser("800", "ada+test@example.com", "Ada", "Plus")
	srv.AddUsers(admin, boss, a, b, c, e, f, plus)
	return srv
}

// TestMapping: the users resource's fields land where Amundsen's user
// wants them.
func TestMapping(t *testing.T) {
	srv := org(t)
	d := newDirectory(t, testConfig(srv, serviceAccount(t, srv), nil))
	ctx := ctxTimeout(t)

	u, err := d.LookupUser(ctx, "ALAN@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if u.UserID != "alan@example.com" || u.Key() != "alan@example.com" || u.Email != "alan@example.com" ||
		u.FirstName != "Alan" || u.LastName != "Turing" || u.FullName != "Alan Turing" || u.DisplayName != "Alan Turing" ||
		u.RoleName != "Cryptanalyst" || u.TeamName != "Hut 8" || !u.IsActive || u.OtherKeyValues[schema.DirectoryIDProperty] != "300" {
		t.Fatalf("mapped %+v", u)
	}
	// The manager relation's value is the manager's email; their own
	// record gives the name, fullName as the directory holds it.
	if u.ManagerFullname != "Zoë B. Boss" || u.ManagerEmail != "zoe.boss@example.com" || u.ManagerID != "200" {
		t.Fatalf("manager %q <%s> %q", u.ManagerFullname, u.ManagerEmail, u.ManagerID)
	}

	// Without a primary organization, the first one counts; the manager
	// relation is found among others.
	if u, err = d.LookupUser(ctx, "barbara@example.com"); err != nil || u.RoleName != "Professor" || u.TeamName != "CS" || u.ManagerFullname != "Zoë B. Boss" {
		t.Fatalf("%+v, %v", u, err)
	}
	// Archived is inactive; a manager the directory no longer has keeps
	// the email the relation names.
	if u, err = d.LookupUser(ctx, "claude@example.com"); err != nil || u.IsActive || u.ManagerEmail != "left.long.ago@example.com" || u.ManagerFullname != "" {
		t.Fatalf("%+v, %v", u, err)
	}
	// A manager outside the customer's domains (the API answers 403 for
	// them) is not a credentials refusal.
	if u, err = d.LookupUser(ctx, "edsger@example.com"); err != nil || u.ManagerEmail != "someone@elsewhere.net" || u.ManagerFullname != "" {
		t.Fatalf("%+v, %v", u, err)
	}
	// A relation that names the manager rather than emailing them is taken
	// as the name, without a call.
	before := srv.Count(googleapi.IsAPI)
	if u, err = d.LookupUser(ctx, "frances@example.com"); err != nil || u.ManagerFullname != "Ada Lovelace" || u.ManagerEmail != "" {
		t.Fatalf("%+v, %v", u, err)
	}
	if n := srv.Count(googleapi.IsAPI) - before; n != 1 {
		t.Fatalf("%d calls, want 1", n)
	}
	// An alias finds the person, keyed by their primary email.
	if u, err = d.LookupUser(ctx, "Prof@Example.org"); err != nil || u.Key() != "alan@example.com" || u.UserID != "alan@example.com" {
		t.Fatalf("by alias: %+v, %v", u, err)
	}
	if u, err = d.LookupUser(ctx, "ada+test@example.com"); err != nil || u.LastName != "Plus" {
		t.Fatalf("plus address: %+v, %v", u, err)
	}
}

// TestLookupNotFound: ids that name no one, or that are not emails, or
// emails outside the customer's domains, are not found; characters that
// mean something in a URL stay part of the id.
func TestLookupNotFound(t *testing.T) {
	srv := org(t)
	d := newDirectory(t, testConfig(srv, serviceAccount(t, srv), nil))
	ctx := ctxTimeout(t)
	if err := d.Probe(ctx); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		id    string
		calls int
	}{
		{"300", 0}, // a unique id is no email: LookupByID's
		{"alan", 0},
		{"nobody@example.com", 1},
		{"alan@example.com/../300", 1},
		// Their domain part is no domain of the customer's: 403, probe.
		{"alan@example.com?projection=full", 2},
		{"alan@example.com#x", 2},
		{"%61lan@example.com", 1},
		{"a/b@example.com", 1},
		{"alan@example.com\x00", 0},
		{"someone@gmail.com", 2}, // 403 outside the domains, then a probe
	}
	for _, c := range cases {
		before := srv.Count(googleapi.IsAPI)
		if u, err := d.LookupUser(ctx, c.id); schema.KindOf(err) != schema.KindNotFound {
			t.Errorf("%q: %+v, %v; want not found", c.id, u, err)
		}
		if n := srv.Count(googleapi.IsAPI) - before; n != c.calls {
			t.Errorf("%q: %d calls, want %d", c.id, n, c.calls)
		}
	}
	// The id travels as one escaped path segment.
	for _, r := range srv.Requests() {
		if googleapi.IsGet(r) && strings.Contains(r.Path, "/../") {
			t.Fatalf("unescaped path %s", r.Path)
		}
	}
	for _, id := range []string{"alan@example.com", "9999", "", "3/00"} {
		if _, err := d.LookupByID(ctx, id); schema.KindOf(err) != schema.KindNotFound {
			t.Errorf("LookupByID(%q): %v; want not found", id, err)
		}
	}
	if u, err := d.LookupByID(ctx, "300"); err != nil || u.Key() != "alan@example.com" || u.ManagerFullname != "Zoë B. Boss" {
		t.Fatalf("LookupByID: %+v, %v", u, err)
	}
}

// TestListingManagers: a listing names every manager, reading each one it
// has not listed yet once, however many people report to them.
func TestListingManagers(t *testing.T) {
	srv := org(t)
	d := newDirectory(t, testConfig(srv, serviceAccount(t, srv), nil))
	ctx := ctxTimeout(t)
	var listed []oidcuser.Person
	pages := 0
	err := d.ListUsers(ctx, oidcuser.ListQuery{}, func(page []oidcuser.Person) error {
		pages++
		if len(page) > 2 {
			t.Errorf("a page of %d", len(page))
		}
		listed = append(listed, page...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != 8 || pages != 4 {
		t.Fatalf("%d people in %d pages", len(listed), pages)
	}
	by := map[string]oidcuser.Person{}
	for _, p := range listed {
		if p.Login != p.Email || !p.LastUpdated.IsZero() || p.User.OtherKeyValues[schema.DirectoryIDProperty] != p.ID {
			t.Fatalf("%+v", p)
		}
		by[strings.ToLower(p.Email)] = p
	}
	for _, e := range []string{"alan@example.com", "barbara@example.com"} {
		if m := by[e].User; m.ManagerFullname != "Zoë B. Boss" || m.ManagerID != "200" {
			t.Fatalf("%s: manager %q %q", e, m.ManagerFullname, m.ManagerID)
		}
	}
	if by["claude@example.com"].User.IsActive || by["frances@example.com"].User.ManagerFullname != "Ada Lovelace" {
		t.Fatal("archived or named manager")
	}
	// Zoë is listed last (by email): read once for both her reports; the
	// departed and the foreign manager once each.
	if n := srv.Count(googleapi.IsGet); n != 3 {
		t.Fatalf("%d users.get calls, want 3", n)
	}
	for _, r := range srv.Requests() {
		if googleapi.IsList(r) && (r.Query.Get("customer") != "my_customer" || r.Query.Get("maxResults") != "2" || r.Query.Get("orderBy") != "email") {
			t.Fatalf("listing query %v", r.Query)
		}
	}
}
