package entra_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/proxy/embedded"
	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/entraapi"
)

// listAll lists the tenant, returning the people and the page sizes fn saw.
func listAll(t *testing.T, d oidcuser.Lister, q oidcuser.ListQuery) ([]oidcuser.Person, []int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []oidcuser.Person
	var pages []int
	err := d.ListUsers(ctx, q, func(page []oidcuser.Person) error {
		got = append(got, page...)
		pages = append(pages, len(page))
		return nil
	})
	return got, pages, err
}

// eachOnce checks that listed holds every user exactly once.
func eachOnce(t *testing.T, listed []oidcuser.Person, users []entraapi.User) {
	t.Helper()
	seen := map[string]int{}
	for _, p := range listed {
		seen[p.ID]++
	}
	for _, u := range users {
		if seen[u.ID] != 1 {
			t.Fatalf("%s listed %d times (listed %d people)", u.UserPrincipalName, seen[u.ID], len(listed))
		}
	}
	if len(listed) != len(users) {
		t.Fatalf("listed %d people, want %d", len(listed), len(users))
	}
}

// pageRequests counts the listing requests for page k.
func pageRequests(srv *entraapi.Server, k int) int {
	return srv.Count(func(r entraapi.Request) bool { return r.Page == k })
}

// TestListingFollowsNextLinks: $top pages, each @odata.nextLink followed
// as Graph wrote it (the server refuses a $skiptoken sent with other
// parameters than those it was issued with), managers expanded, one fn
// call per page.
func TestListingFollowsNextLinks(t *testing.T) {
	users := people(7)
	users[3].ManagerID, users[3].AccountEnabled = users[0].ID, false
	tn := newTenant(t, users)
	listed, pages, err := listAll(t, tn.dir, oidcuser.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	eachOnce(t, listed, users)
	if !slices.Equal(pages, []int{2, 2, 2, 1}) {
		t.Fatalf("pages of %v, want 2,2,2,1", pages)
	}
	for _, p := range listed {
		if p.ID == users[3].ID && (p.User.IsActive || p.User.ManagerFullname != "User 0" || p.User.ManagerEmail != "user00@example.com") {
			t.Fatalf("listed %+v", p.User)
		}
		if p.Login == "" || p.User.OtherKeyValues[schema.DirectoryIDProperty] != p.ID || !p.LastUpdated.IsZero() {
			t.Fatalf("listed %+v", p)
		}
	}
	reqs := tn.srv.Requests()
	first := reqs[1] // after the token request
	if first.Query.Get("$top") != "2" || !strings.HasPrefix(first.Query.Get("$expand"), "manager($select=") || !strings.Contains(first.Query.Get("$select"), "accountEnabled") {
		t.Fatalf("first page asked %s", first.RawQuery)
	}
	for _, r := range reqs[2:] {
		if r.Query.Get("$skiptoken") == "" || r.Status != http.StatusOK {
			t.Fatalf("page request %s answered %d", r.RawQuery, r.Status)
		}
	}
}

// TestListingIsAlwaysFull: Graph v1.0 users have no last-modified filter,
// so UpdatedAfter cannot narrow a listing: everyone is listed.
func TestListingIsAlwaysFull(t *testing.T) {
	users := people(3)
	tn := newTenant(t, users)
	listed, _, err := listAll(t, tn.dir, oidcuser.ListQuery{UpdatedAfter: time.Now(), Inclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	eachOnce(t, listed, users)
}

// TestListingRidesOutAFailedPage: whichever page fails once (429 with
// Retry-After, 503, a dropped connection), the page is asked again and the
// listing completes with everyone once. A Retry-After is waited out as
// sent ("Microsoft Graph throttling guidance": wait the seconds in
// Retry-After, then retry); other failures back off.
func TestListingRidesOutAFailedPage(t *testing.T) {
	users := people(7) // pages 1..4
	for _, tc := range []struct {
		name  string
		fault entraapi.Fault
		wait  time.Duration // the wait wanted before the retry; 0: the backoff
	}{
		{"429 Retry-After", entraapi.Throttled(3 * time.Second), 3 * time.Second},
		{"503", entraapi.Unavailable(), 0},
		{"503 Retry-After", entraapi.Fault{Status: 503, RetryAfter: 2 * time.Second}, 2 * time.Second},
		{"dropped", entraapi.Dropped(), 0},
	} {
		for k := 1; k <= 4; k++ {
			t.Run(fmt.Sprintf("%s on page %d", tc.name, k), func(t *testing.T) {
				tn := newTenant(t, users)
				clock := newFakeClock()
				tn.useClock(clock)
				tn.srv.FailPage(k, 1, tc.fault)
				listed, pages, err := listAll(t, tn.dir, oidcuser.ListQuery{})
				if err != nil {
					t.Fatal(err)
				}
				eachOnce(t, listed, users)
				if len(pages) != 4 {
					t.Fatalf("fn called for %d pages, want 4", len(pages))
				}
				if n := pageRequests(tn.srv, k); n < 2 {
					t.Fatalf("page %d asked %d times, want a retry", k, n)
				}
				sleeps := clock.Sleeps()
				if tc.fault.Drop && len(sleeps) == 0 {
					// Go's transport retried by itself: a GET on a reused
					// connection that dropped unanswered is sent again once.
					return
				}
				if len(sleeps) != 1 || (tc.wait > 0 && sleeps[0] != tc.wait) {
					t.Fatalf("waited %v before the retry, want one wait of %v (0: the backoff)", sleeps, tc.wait)
				}
			})
		}
	}
}

// TestListingFailsOnAPageThatKeepsFailing: a page still failing after the
// bounded retries fails the whole listing with an error naming the page;
// it never ends early as if complete.
func TestListingFailsOnAPageThatKeepsFailing(t *testing.T) {
	users := people(7)
	for _, fault := range []entraapi.Fault{entraapi.Throttled(time.Second), entraapi.Unavailable(), entraapi.Dropped()} {
		for k := 1; k <= 4; k++ {
			t.Run(fmt.Sprintf("%+v on page %d", fault, k), func(t *testing.T) {
				tn := newTenant(t, users)
				tn.useClock(newFakeClock())
				tn.srv.FailPage(k, -1, fault)
				listed, pages, err := listAll(t, tn.dir, oidcuser.ListQuery{})
				if err == nil || schema.KindOf(err) != schema.KindUnavailable || !strings.Contains(err.Error(), fmt.Sprintf("page %d", k)) {
					t.Fatalf("%v, want unavailable naming page %d", err, k)
				}
				if len(pages) != k-1 || len(listed) != 2*(k-1) {
					t.Fatalf("fn saw %v before the failure", pages)
				}
				// A few attempts, then the error: no endless loop (a drop may
				// be retried once more by the transport itself).
				if n := pageRequests(tn.srv, k); n < 4 || n > 8 {
					t.Fatalf("page %d asked %d times, want 4 attempts", k, n)
				}
			})
		}
	}
}

func TestListingStops(t *testing.T) {
	users := people(7)
	t.Run("when fn fails", func(t *testing.T) {
		tn := newTenant(t, users)
		stop := errors.New("stop")
		err := tn.dir.ListUsers(context.Background(), oidcuser.ListQuery{}, func([]oidcuser.Person) error { return stop })
		if !errors.Is(err, stop) || pageRequests(tn.srv, 2) != 0 {
			t.Fatalf("%v; page 2 asked %d times", err, pageRequests(tn.srv, 2))
		}
	})
	t.Run("on refused credentials, without retries", func(t *testing.T) {
		tn := newTenant(t, users)
		tn.srv.Deny(true)
		_, _, err := listAll(t, tn.dir, oidcuser.ListQuery{})
		if !errors.Is(err, oidcuser.ErrDirectoryCredentials) || graphCalls(tn.srv, "/v1.0/users") != 1 {
			t.Fatalf("%v after %d calls", err, graphCalls(tn.srv, "/v1.0/users"))
		}
	})
	t.Run("when the context ends", func(t *testing.T) {
		tn := newTenant(t, users)
		tn.srv.FailPage(2, -1, entraapi.Throttled(time.Hour))
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		err := tn.dir.ListUsers(ctx, oidcuser.ListQuery{}, func([]oidcuser.Person) error { return nil })
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%v, want the context's end", err)
		}
	})
}

// TestNextLinkToAnotherHostIsRefused: the token is only ever sent to the
// Graph host: a nextLink to another scheme or host fails the listing
// before any request goes there.
func TestNextLinkToAnotherHostIsRefused(t *testing.T) {
	var foreignCalls atomic.Int32
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		foreignCalls.Add(1)
		http.Error(w, "not Graph", http.StatusTeapot)
	}))
	defer foreign.Close()
	users := people(5)
	for _, base := range []func(tn *tenant) string{
		func(*tenant) string { return foreign.URL },
		func(tn *tenant) string { return strings.Replace(tn.srv.GraphURL(), "http://", "https://", 1) },
		func(tn *tenant) string { return strings.Replace(tn.srv.GraphURL(), "127.0.0.1", "localhost", 1) },
	} {
		tn := newTenant(t, users)
		tn.srv.SetNextLinkBase(base(tn))
		_, pages, err := listAll(t, tn.dir, oidcuser.ListQuery{})
		if err == nil || !strings.Contains(err.Error(), "refused an @odata.nextLink") || len(pages) != 1 {
			t.Fatalf("%v after %d pages, want the nextLink refused", err, len(pages))
		}
		if pageRequests(tn.srv, 2) != 0 || foreignCalls.Load() != 0 {
			t.Fatalf("a request followed the foreign nextLink")
		}
	}
}

// TestSyncNeverCommitsAPartialListing: a sync over a listing whose page
// keeps failing fails and writes nothing (no user, no complete
// checkpoint); once Graph recovers, a rerun writes every person once.
func TestSyncNeverCommitsAPartialListing(t *testing.T) {
	users := people(9) // pages 1..5
	tn := newTenant(t, users)
	tn.useClock(newFakeClock())
	store, err := embedded.Open(filepath.Join(t.TempDir(), "u.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	cfg := oidcuser.SyncConfig{Name: "entra", Owner: "test"}

	tn.srv.FailPage(3, -1, entraapi.Throttled(time.Second))
	if _, err := oidcuser.NewSyncer(tn.dir, store, cfg).Run(ctx); err == nil || !strings.Contains(err.Error(), "page 3") {
		t.Fatalf("sync over a failing page: %v", err)
	}
	if got, err := store.GetUsers(ctx); err != nil || len(got) != 0 {
		t.Fatalf("a failed sync wrote %d users (%v)", len(got), err)
	}
	if st, err := store.GetSyncState(ctx, "entra"); err != nil || st.Complete {
		t.Fatalf("a failed sync saved %+v (%v)", st, err)
	}

	tn.srv.ClearFaults()
	rep, err := oidcuser.NewSyncer(tn.dir, store, cfg).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Fetched != len(users) || rep.Created != len(users) || rep.Skipped != 0 {
		t.Fatalf("rerun %+v, want %d fetched and created", rep, len(users))
	}
	got, err := store.GetUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for _, u := range got {
		keys[u.Key()] = true
	}
	for _, u := range users {
		if !keys[strings.ToLower(u.Mail)] {
			t.Fatalf("%s not written (have %v)", u.Mail, keys)
		}
	}
	if len(got) != len(users) {
		t.Fatalf("%d users in the graph, want %d", len(got), len(users))
	}
	if st, err := store.GetSyncState(ctx, "entra"); err != nil || !st.Complete {
		t.Fatalf("after the rerun the state is %+v (%v)", st, err)
	}
}
