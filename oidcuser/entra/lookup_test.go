package entra_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usersvc/usersvc/oidcuser/entra"
	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/entraapi"
)

// fakeClock is the directory's clock in tests that wait: sleeping moves
// it on at once, so Retry-After hints are honoured without real waits.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.sleeps = append(c.sleeps, d)
	return nil
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

func (tn *tenant) useClock(c *fakeClock) {
	tn.dir.SetClock(c.Now)
	tn.dir.SetSleep(c.Sleep)
}

func lookup(t *testing.T, d *entra.Directory, id string) (schema.User, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return d.LookupUser(ctx, id)
}

// graphCalls counts the Graph requests whose path starts with prefix.
func graphCalls(srv *entraapi.Server, prefix string) int {
	return srv.Count(func(r entraapi.Request) bool { return !r.Token && strings.HasPrefix(r.Path, prefix) })
}

func TestLookupMapsEveryField(t *testing.T) {
	boss := entraapi.NewUser(entraapi.ObjectID(1), "grace@example.com", "grace.hopper@example.com", "Grace", "Hopper")
	ada := entraapi.NewUser(entraapi.ObjectID(2), "ada@example.com", "Ada.Lovelace@Example.com", "Ada", "Lovelace")
	ada.DisplayName, ada.JobTitle, ada.Department, ada.ManagerID = "Ada L.", "Analyst", "Analytics", boss.ID
	tn := newTenant(t, []entraapi.User{boss, ada})

	u, err := lookup(t, tn.dir, "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	want := schema.User{
		UserID: "ada@example.com", Email: "Ada.Lovelace@Example.com", FirstName: "Ada", LastName: "Lovelace",
		FullName: "Ada Lovelace", DisplayName: "Ada L.", RoleName: "Analyst", TeamName: "Analytics",
		ManagerFullname: "Grace Hopper", ManagerEmail: "grace.hopper@example.com", ManagerID: boss.ID, IsActive: true,
	}
	if u.UserID != want.UserID || u.Email != want.Email || u.FirstName != want.FirstName || u.LastName != want.LastName ||
		u.FullName != want.FullName || u.DisplayName != want.DisplayName || u.RoleName != want.RoleName || u.TeamName != want.TeamName ||
		u.ManagerFullname != want.ManagerFullname || u.ManagerEmail != want.ManagerEmail || u.ManagerID != want.ManagerID || !u.IsActive {
		t.Fatalf("mapped\n%+v\nwant\n%+v", u, want)
	}
	if u.OtherKeyValues[schema.DirectoryIDProperty] != ada.ID || u.Key() != "ada.lovelace@example.com" {
		t.Fatalf("directory id %v, key %q", u.OtherKeyValues, u.Key())
	}
	// Every read names its properties: accountEnabled and department are
	// not in Graph's default set.
	for _, r := range tn.srv.Requests() {
		if !r.Token && !strings.HasSuffix(r.Path, "/manager") && !strings.Contains(r.Query.Get("$select"), "accountEnabled") {
			t.Fatalf("%s?%s has no accountEnabled in $select", r.Path, r.RawQuery)
		}
	}

	// No manager: the manager endpoint answers 404, which is no error.
	u, err = lookup(t, tn.dir, "grace@example.com")
	if err != nil || u.ManagerFullname != "" || u.ManagerEmail != "" {
		t.Fatalf("%+v, %v", u, err)
	}
}

func TestDisabledAccountIsInactive(t *testing.T) {
	gone := entraapi.NewUser(entraapi.ObjectID(1), "gone@example.com", "gone@example.com", "Gone", "Away")
	gone.AccountEnabled = false
	tn := newTenant(t, []entraapi.User{gone})
	u, err := lookup(t, tn.dir, "gone@example.com")
	if err != nil || u.IsActive {
		t.Fatalf("%+v, %v: want found and inactive", u, err)
	}
}

// TestSharedMailConflict: mail is not unique in Entra ID (the UPN is).
// Two people with one mail: a lookup by that mail matches both and no
// UPN, a conflict; a lookup by either's UPN finds them, keyed by login.
func TestSharedMailConflict(t *testing.T) {
	a := entraapi.NewUser(entraapi.ObjectID(1), "twin-a@example.com", "shared@example.com", "Twin", "A")
	b := entraapi.NewUser(entraapi.ObjectID(2), "twin-b@example.com", "Shared@Example.com", "Twin", "B")
	tn := newTenant(t, []entraapi.User{a, b})

	if _, err := lookup(t, tn.dir, "shared@example.com"); schema.KindOf(err) != schema.KindConflict {
		t.Fatalf("shared mail: %v, want conflict", err)
	}
	u, err := lookup(t, tn.dir, "TWIN-A@example.com")
	if err != nil || u.Key() != "twin-a@example.com" || u.UserID != "twin-a@example.com" || u.LastName != "A" {
		t.Fatalf("twin by UPN: %+v, %v; want keyed by login", u, err)
	}
	byID, err := tn.dir.LookupByID(context.Background(), b.ID)
	if err != nil || byID.Key() != "twin-b@example.com" {
		t.Fatalf("twin by id: %+v, %v; want keyed by login", byID, err)
	}
}

// TestMailDiffersFromUPN: a person found by mail (GET by UPN answers 404,
// the mail filter finds them) and by UPN.
func TestMailDiffersFromUPN(t *testing.T) {
	u := entraapi.NewUser(entraapi.ObjectID(1), "fobrien@contoso.example", "flann.obrien@example.com", "Flann", "O'Brien")
	tn := newTenant(t, []entraapi.User{u})
	for _, id := range []string{"flann.obrien@example.com", "FOBRIEN@contoso.example"} {
		got, err := lookup(t, tn.dir, id)
		if err != nil || got.UserID != "fobrien@contoso.example" || got.Key() != "flann.obrien@example.com" {
			t.Fatalf("%s: %+v, %v", id, got, err)
		}
	}
}

// TestODataQuotesDoubled: the mail filter is an OData string literal, in
// which a single quote is written twice ("Use query parameters", escaping
// single quotes). A quote in the id stays part of the value: it cannot end
// the literal and add a clause.
func TestODataQuotesDoubled(t *testing.T) {
	obrien := entraapi.NewUser(entraapi.ObjectID(1), "flann@example.com", "o'brien@example.com", "Flann", "O'Brien")
	ada := entraapi.NewUser(entraapi.ObjectID(2), "ada@example.com", "ada@example.com", "Ada", "Lovelace")
	tn := newTenant(t, []entraapi.User{obrien, ada})

	u, err := lookup(t, tn.dir, "o'brien@example.com")
	if err != nil || u.LastName != "O'Brien" || u.Key() != "o'brien@example.com" {
		t.Fatalf("%+v, %v", u, err)
	}
	sent := false
	for _, r := range tn.srv.Requests() {
		if f := r.Query.Get("$filter"); f != "" {
			if f != "mail eq 'o''brien@example.com'" {
				t.Fatalf("filter %q, want the quote doubled", f)
			}
			sent = true
		}
	}
	if !sent {
		t.Fatal("no mail filter was sent")
	}
	for _, id := range []string{"x' or mail eq 'ada@example.com", "ada@example.com' or '1' eq '1", "'@example.com"} {
		if _, err := lookup(t, tn.dir, id); schema.KindOf(err) != schema.KindNotFound {
			t.Fatalf("%q: %v, want not found", id, err)
		}
	}
}

// TestDollarUPN: "When the userPrincipalName begins with a $ character,
// the GET request URL syntax /users/$x@y.com fails with a 400 Bad Request
// error code" (Graph "Get user"); the key goes in parentheses and quotes.
func TestDollarUPN(t *testing.T) {
	svc := entraapi.NewUser(entraapi.ObjectID(1), "$svc'x@example.com", "svc@example.com", "Service", "Account")
	tn := newTenant(t, []entraapi.User{svc})
	u, err := lookup(t, tn.dir, "$svc'x@example.com")
	if err != nil || u.UserID != "$svc'x@example.com" {
		t.Fatalf("%+v, %v", u, err)
	}
	if graphCalls(tn.srv, "/v1.0/users(") == 0 {
		t.Fatalf("no /users('...') request: %+v", tn.srv.Requests())
	}
}

// TestObjectIDIsNotALogin: GET /users/{id} also answers an object id; a
// lookup by one does not find the person (ids are not aliases), while
// LookupByID does, and only by the id.
func TestObjectIDIsNotALogin(t *testing.T) {
	ada := entraapi.NewUser(entraapi.ObjectID(7), "ada@example.com", "ada@example.com", "Ada", "Lovelace")
	tn := newTenant(t, []entraapi.User{ada})
	if _, err := lookup(t, tn.dir, ada.ID); schema.KindOf(err) != schema.KindNotFound {
		t.Fatalf("lookup by object id: %v, want not found", err)
	}
	ctx := context.Background()
	if u, err := tn.dir.LookupByID(ctx, ada.ID); err != nil || u.Key() != "ada@example.com" {
		t.Fatalf("%+v, %v", u, err)
	}
	if _, err := tn.dir.LookupByID(ctx, "ada@example.com"); schema.KindOf(err) != schema.KindNotFound {
		t.Fatalf("LookupByID by UPN: %v, want not found", err)
	}
}

func TestNotFoundCostsBoundedCalls(t *testing.T) {
	tn := newTenant(t, nil)
	if _, err := lookup(t, tn.dir, "nobody"); schema.KindOf(err) != schema.KindNotFound {
		t.Fatal(err)
	}
	// An id without @ is no mail: one GET, no filter.
	if n := graphCalls(tn.srv, "/v1.0/users"); n != 1 {
		t.Fatalf("%d Graph calls for a non-email id, want 1", n)
	}
	for _, id := range []string{"", "a\x00b", "bad\xffutf8"} {
		if _, err := lookup(t, tn.dir, id); err == nil || schema.KindOf(err) == schema.KindUnavailable {
			t.Fatalf("%q: %v", id, err)
		}
	}
}

func TestErrorsAreClassified(t *testing.T) {
	ada := entraapi.NewUser(entraapi.ObjectID(1), "ada@example.com", "ada@example.com", "Ada", "Lovelace")
	for _, tc := range []struct {
		name  string
		fault entraapi.Fault
		retry time.Duration // the RetryAfter wanted; 0: any positive
	}{
		{"429 with Retry-After", entraapi.Throttled(7 * time.Second), 7 * time.Second},
		{"503 with Retry-After", entraapi.Fault{Status: 503, RetryAfter: 3 * time.Second}, 3 * time.Second},
		{"503", entraapi.Unavailable(), 0},
		{"504", entraapi.Fault{Status: 504}, 0},
		{"500", entraapi.Fault{Status: 500}, 0},
		{"dropped connection", entraapi.Dropped(), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tn := newTenant(t, []entraapi.User{ada})
			// A frozen clock: a remembered Retry-After reads back exactly.
			tn.useClock(newFakeClock())
			if _, err := lookup(t, tn.dir, "ada@example.com"); err != nil { // token cached
				t.Fatal(err)
			}
			before := tn.srv.Calls()
			// Every call fails: Go's transport itself retries a GET once when
			// a reused connection drops before any answer.
			tn.srv.FailNext(100, tc.fault)
			_, err := lookup(t, tn.dir, "ada@example.com")
			var se *schema.Error
			if !errors.As(err, &se) || se.Kind != schema.KindUnavailable || se.RetryAfter <= 0 || (tc.retry > 0 && se.RetryAfter != tc.retry) {
				t.Fatalf("%v (%#v), want unavailable with retry-after %v", err, se, tc.retry)
			}
			// One GET and one filter, each tried once (the transport may
			// retry a request on a dropped idle connection once).
			if n := tn.srv.Calls() - before; n > 4 {
				t.Fatalf("%d calls for one lookup", n)
			}
		})
	}
}

// TestThrottleIsHonoured: after a 429 with Retry-After, lookups answer
// unavailable without calling Graph until the wait is over (Graph's
// throttling guidance: wait the Retry-After before retrying).
func TestThrottleIsHonoured(t *testing.T) {
	ada := entraapi.NewUser(entraapi.ObjectID(1), "ada@example.com", "ada@example.com", "Ada", "Lovelace")
	tn := newTenant(t, []entraapi.User{ada})
	clock := newFakeClock()
	tn.useClock(clock)
	tn.srv.FailNext(1, entraapi.Throttled(30*time.Second))
	if _, err := lookup(t, tn.dir, "ada"); schema.KindOf(err) != schema.KindUnavailable {
		t.Fatal(err)
	}
	before := tn.srv.Calls()
	clock.Advance(10 * time.Second)
	_, err := lookup(t, tn.dir, "ada@example.com")
	var se *schema.Error
	if !errors.As(err, &se) || se.Kind != schema.KindUnavailable || se.RetryAfter != 20*time.Second {
		t.Fatalf("%v, want unavailable, retry after the 20s left", err)
	}
	if n := tn.srv.Calls() - before; n != 0 {
		t.Fatalf("%d calls while throttled", n)
	}
	clock.Advance(21 * time.Second)
	if _, err := lookup(t, tn.dir, "ada@example.com"); err != nil {
		t.Fatal(err)
	}
}

func TestTimeoutIsUnavailable(t *testing.T) {
	ada := entraapi.NewUser(entraapi.ObjectID(1), "ada@example.com", "ada@example.com", "Ada", "Lovelace")
	tn := newTenant(t, []entraapi.User{ada})
	cfg := config(tn.srv, tn.logs)
	cfg.Timeout = time.Second
	dir, err := entra.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	if _, err := lookup(t, dir, "ada@example.com"); err != nil { // token cached
		t.Fatal(err)
	}
	tn.srv.HangNext(100)
	_, err = lookup(t, dir, "ada@example.com")
	if schema.KindOf(err) != schema.KindUnavailable || !strings.Contains(err.Error(), "in time") {
		t.Fatalf("%v, want unavailable: did not answer in time", err)
	}
}
