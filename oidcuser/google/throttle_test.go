package google_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/oidcuser/google"
	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/googleapi"
)

// throttles are the answers the Directory API's "Limits and quotas" page
// says to retry with exponential backoff (Google sends no Retry-After).
var throttles = []struct {
	name  string
	fault googleapi.Fault
}{
	{"403 userRateLimitExceeded", googleapi.UserRateLimited},
	{"403 quotaExceeded", googleapi.QuotaExceeded},
	{"429 rateLimitExceeded", googleapi.RateLimited},
}

// outages are failures of the service itself.
var outages = []struct {
	name  string
	fault googleapi.Fault
}{
	{"503 backendError", googleapi.Unavailable},
	{"connection dropped", googleapi.Dropped},
	{"unreadable answer", googleapi.Malformed},
}

func wantUnavailable(t *testing.T, what string, err error) *schema.Error {
	t.Helper()
	var se *schema.Error
	if !errors.As(err, &se) || se.Kind != schema.KindUnavailable || se.RetryAfter <= 0 || errors.Is(err, oidcuser.ErrDirectoryCredentials) {
		t.Fatalf("%s: %v; want unavailable with a retry-after, not a credentials refusal", what, err)
	}
	return se
}

// TestThrottledLookupsAreBounded: an interactive lookup makes at most two
// calls (one retry after a first-level backoff) and answers 503 with a
// Retry-After of the backoff; while that backoff runs, further lookups
// answer at once without a call; one throttled answer is ridden out.
func TestThrottledLookupsAreBounded(t *testing.T) {
	for _, tt := range throttles {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := seeded(t)
			cfg := testConfig(srv, serviceAccount(t, srv), nil)
			// Long enough that the backoff is still running when the next
			// lookups come, on a loaded machine too.
			cfg.Backoff, cfg.MaxBackoff = 500*time.Millisecond, 10*time.Second
			d := newDirectory(t, cfg)
			ctx := ctxTimeout(t)
			if err := d.Probe(ctx); err != nil { // the token, fetched before the count
				t.Fatal(err)
			}

			srv.FailNext(1, tt.fault)
			before := srv.Count(googleapi.IsAPI)
			if _, err := d.LookupUser(ctx, "ada.lovelace@example.com"); err != nil {
				t.Fatalf("one throttled answer: %v", err)
			}
			if n := srv.Count(googleapi.IsAPI) - before; n != 3 { // throttled get, get, manager's get
				t.Fatalf("%d calls, want 3", n)
			}

			srv.FailNext(1000, tt.fault)
			before = srv.Count(googleapi.IsAPI)
			_, err := d.LookupUser(ctx, "grace.hopper@example.com")
			se := wantUnavailable(t, "throttled", err)
			if n := srv.Count(googleapi.IsAPI) - before; n != 2 {
				t.Fatalf("a throttled lookup made %d calls, want 2", n)
			}
			// Two strikes: 2·500ms plus jitter.
			if se.RetryAfter < 100*time.Millisecond || se.RetryAfter > cfg.MaxBackoff {
				t.Fatalf("retry-after %v", se.RetryAfter)
			}
			before = srv.Count(googleapi.IsAPI)
			_, err = d.LookupUser(ctx, "grace.hopper@example.com")
			wantUnavailable(t, "held back", err)
			_, err = d.LookupByID(ctx, googleID(1))
			wantUnavailable(t, "held back by id", err)
			if n := srv.Count(googleapi.IsAPI) - before; n != 0 {
				t.Fatalf("lookups during the backoff made %d calls, want none", n)
			}
			srv.ClearFaults()
			deadline := time.Now().Add(15 * time.Second)
			for {
				_, err := d.LookupUser(ctx, "grace.hopper@example.com")
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no recovery: %v", err)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// TestOutageLookupsAreBounded: 5xx, dropped connections and unreadable
// answers cost a lookup two calls at most, then 503.
func TestOutageLookupsAreBounded(t *testing.T) {
	for _, tt := range outages {
		t.Run(tt.name, func(t *testing.T) {
			srv := seeded(t)
			d := newDirectory(t, testConfig(srv, serviceAccount(t, srv), nil))
			ctx := ctxTimeout(t)
			if err := d.Probe(ctx); err != nil {
				t.Fatal(err)
			}
			srv.FailNext(1000, tt.fault)
			before := srv.Count(googleapi.IsAPI)
			_, err := d.LookupUser(ctx, "grace.hopper@example.com")
			wantUnavailable(t, "outage", err)
			// A dropped connection may be retried once by net/http itself
			// (an idempotent GET on a reused connection): still bounded.
			if n := srv.Count(googleapi.IsAPI) - before; n < 2 || n > 4 {
				t.Fatalf("a lookup during an outage made %d calls, want 2 (4 at most)", n)
			}
			srv.ClearFaults()
			if _, err := d.LookupUser(ctx, "grace.hopper@example.com"); err != nil {
				t.Fatalf("after the outage: %v", err)
			}
		})
	}
}

// TestLookupRetryFitsTheDeadline: a lookup whose context cannot outlast
// the backoff does not retry: it answers at once.
func TestLookupRetryFitsTheDeadline(t *testing.T) {
	srv := seeded(t)
	cfg := testConfig(srv, serviceAccount(t, srv), nil)
	cfg.Backoff, cfg.MaxBackoff = 2*time.Second, 30*time.Second
	d := newDirectory(t, cfg)
	if err := d.Probe(ctxTimeout(t)); err != nil {
		t.Fatal(err)
	}
	srv.FailNext(1000, googleapi.Unavailable)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start, before := time.Now(), srv.Count(googleapi.IsAPI)
	_, err := d.LookupUser(ctx, "grace.hopper@example.com")
	wantUnavailable(t, "outage", err)
	if n := srv.Count(googleapi.IsAPI) - before; n != 1 {
		t.Fatalf("%d calls; want 1: the backoff does not fit in the deadline", n)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Fatalf("the lookup waited %v", elapsed)
	}
}

// TestListingRetriesAreBounded: a listing page is tried PageAttempts times
// with backoff, then the listing fails; the HTTP client adds no calls of
// its own.
func TestListingRetriesAreBounded(t *testing.T) {
	for _, tt := range append(throttles[:len(throttles):len(throttles)], outages[0]) {
		t.Run(tt.name, func(t *testing.T) {
			srv := seeded(t)
			cfg := testConfig(srv, serviceAccount(t, srv), nil)
			cfg.PageAttempts = 4
			d := newDirectory(t, cfg)
			ctx := ctxTimeout(t)
			if err := d.Probe(ctx); err != nil {
				t.Fatal(err)
			}
			srv.FailNext(1000, tt.fault)
			before := srv.Count(googleapi.IsAPI)
			start := time.Now()
			err := d.ListUsers(ctx, oidcuser.ListQuery{}, func([]oidcuser.Person) error {
				t.Fatal("a page was handed over")
				return nil
			})
			wantUnavailable(t, "listing", err)
			if n := srv.Count(googleapi.IsAPI) - before; n != 4 {
				t.Fatalf("%d calls, want PageAttempts = 4", n)
			}
			// Three waits of at most MaxBackoff each.
			if elapsed := time.Since(start); elapsed > 3*testMaxBackoff+5*time.Second {
				t.Fatalf("the listing took %v", elapsed)
			}
		})
	}
}

// TestBackoffDefaults: without settings the backoff follows Google's
// advice (first wait about a second, at most 32 seconds), and a listing
// under a persistent throttle waits it out page by page rather than
// hammering: here, cut short by its context.
func TestBackoffDefaults(t *testing.T) {
	srv := seeded(t)
	cfg := testConfig(srv, serviceAccount(t, srv), nil)
	cfg.Backoff, cfg.MaxBackoff, cfg.PageAttempts = 0, 0, 0
	d := newDirectory(t, cfg)
	if err := d.Probe(ctxTimeout(t)); err != nil {
		t.Fatal(err)
	}
	srv.FailNext(1000, googleapi.UserRateLimited)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	before := srv.Count(googleapi.IsAPI)
	err := d.ListUsers(ctx, oidcuser.ListQuery{}, func([]oidcuser.Person) error { return nil })
	if schema.KindOf(err) != schema.KindUnavailable {
		t.Fatalf("listing: %v", err)
	}
	// One call, then a wait of 1–2s that outlives the context (a second
	// call may slip in on a slow machine; never more).
	if n := srv.Count(googleapi.IsAPI) - before; n < 1 || n > 2 {
		t.Fatalf("%d calls in 1.5s with a 1s backoff", n)
	}
	if google.DefaultBackoff != time.Second || google.DefaultMaxBackoff != 32*time.Second {
		t.Fatal("defaults changed")
	}
}

// TestDailyLimitNotRetried: a spent daily quota is not retried ("do not
// retry without fixing the problem"): one call, 503 with a long hint.
func TestDailyLimitNotRetried(t *testing.T) {
	srv := seeded(t)
	cfg := testConfig(srv, serviceAccount(t, srv), nil)
	d := newDirectory(t, cfg)
	ctx := ctxTimeout(t)
	if err := d.Probe(ctx); err != nil {
		t.Fatal(err)
	}
	srv.FailNext(1000, googleapi.DailyLimitExceeded)
	before := srv.Count(googleapi.IsAPI)
	_, err := d.LookupUser(ctx, "grace.hopper@example.com")
	if se := wantUnavailable(t, "daily limit", err); se.RetryAfter < cfg.MaxBackoff {
		t.Fatalf("retry-after %v", se.RetryAfter)
	}
	lerr := d.ListUsers(ctx, oidcuser.ListQuery{}, func([]oidcuser.Person) error { return nil })
	wantUnavailable(t, "listing", lerr)
	if n := srv.Count(googleapi.IsAPI) - before; n != 2 {
		t.Fatalf("%d calls, want one each", n)
	}
}
