package oidcuser_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/oidcuser/okta"
	"github.com/usersvc/usersvc/testsupport/oktaapi"
	"github.com/usersvc/usersvc/testsupport/syncbuffer"
)

// TestOktaErrorClasses: one row per class of Okta failure (codes from
// Okta's error-code reference and the Management API spec; DESIGN §5),
// through the real SDK and the HTTP handlers. Okta keeps failing until the
// row's fault is cleared; then a negative-cached answer stays 404 without
// calling Okta, while every other class is retried and finds the person.
func TestOktaErrorClasses(t *testing.T) {
	tests := []struct {
		name       string
		fault      func(org *oktaapi.Server)
		wantStatus int
		wantRetry  bool // Retry-After present
		cached     bool
	}{
		{"E0000007 not found", func(o *oktaapi.Server) { o.FailNextWith(100, 404, oktaapi.CodeNotFound) }, 404, false, true},
		{"E0000031 invalid search", func(o *oktaapi.Server) { o.FailNextWith(100, 400, oktaapi.CodeInvalidSearch) }, 404, false, true},
		{"E0000001 validation failed", func(o *oktaapi.Server) { o.FailNextWith(100, 400, "E0000001") }, 404, false, true},
		{"plain 400", func(o *oktaapi.Server) { o.FailNextWith(100, 400, "") }, 404, false, true},
		{"E0000011 bad token", func(o *oktaapi.Server) { o.FailNextWith(100, 401, oktaapi.CodeInvalidToken) }, 503, true, false},
		{"plain 401", func(o *oktaapi.Server) { o.FailNextWith(100, 401, "") }, 503, true, false},
		{"E0000006 no permission", func(o *oktaapi.Server) { o.FailNextWith(100, 403, "E0000006") }, 503, true, false},
		{"plain 403", func(o *oktaapi.Server) { o.FailNextWith(100, 403, "") }, 503, true, false},
		{"E0000047 rate limited", func(o *oktaapi.Server) { o.FailNextWith(100, 429, oktaapi.CodeRateLimited) }, 503, true, false},
		{"500", func(o *oktaapi.Server) { o.FailNextWith(100, 500, oktaapi.CodeInternalError) }, 503, true, false},
		{"503", func(o *oktaapi.Server) { o.FailNextWith(100, 503, oktaapi.CodeServiceUnavail) }, 503, true, false},
		{"unknown code on a 409", func(o *oktaapi.Server) { o.FailNextWith(100, 409, "E0000999") }, 503, true, false},
		{"malformed answer", func(o *oktaapi.Server) { o.MalformNext(100) }, 503, true, false},
		{"dropped connections", func(o *oktaapi.Server) { o.DropNext(100) }, 503, true, false},
		{"timeout", func(o *oktaapi.Server) { o.HangNext(100) }, 503, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			org := newOrg(t)
			e := newResolutionEnv(t, org, oidcuser.BudgetConfig{})
			tt.fault(org)
			w, body := e.get(t, "/user/ghopper")
			if w.Code != tt.wantStatus || body["message"] == nil {
				t.Fatalf("GET = %d %s, want %d with a message", w.Code, w.Body.String(), tt.wantStatus)
			}
			if ra := w.Header().Get("Retry-After"); tt.wantRetry != (ra != "") {
				t.Fatalf("Retry-After = %q, want present: %v", ra, tt.wantRetry)
			} else if ra != "" {
				if n, err := strconv.Atoi(ra); err != nil || n < 1 {
					t.Fatalf("Retry-After = %q, want whole seconds", ra)
				}
			}
			if tt.wantStatus == 503 && strings.HasPrefix(body["message"].(string), "the directory's rate limit") {
				// The budget keeps a 429'd bucket closed for Retry-After.
				n, _ := strconv.Atoi(w.Header().Get("Retry-After"))
				time.Sleep(time.Duration(n) * time.Second)
			}
			org.ClearFaults() // Okta recovers
			calls := oktaCalls(org)
			w, _ = e.get(t, "/user/ghopper")
			switch {
			case tt.cached && (w.Code != 404 || oktaCalls(org) != calls):
				t.Fatalf("repeat = %d after %d Okta calls, want a negative-cached 404", w.Code, oktaCalls(org)-calls)
			case !tt.cached && w.Code != 200:
				t.Fatalf("repeat after recovery = %d %s, want the person", w.Code, w.Body.String())
			}
		})
	}
}

// TestRandomIDsCostOneCallEach: ids that name no one, or that Okta refuses
// as input, are each looked up once per NEGATIVE_CACHE_TTL however often
// they are asked; ids without "@" cost exactly one Okta call.
func TestRandomIDsCostOneCallEach(t *testing.T) {
	org := newOrg(t)
	e := newResolutionEnv(t, org, oidcuser.BudgetConfig{})
	const ids = 30
	for round := range 3 {
		for i := range ids {
			if i == 0 {
				org.FailNextWith(1, 400, oktaapi.CodeInvalidSearch) // the first id is refused as input
			}
			if w, _ := e.get(t, fmt.Sprintf("/user/random-%d-%x", i, i*7919)); w.Code != http.StatusNotFound {
				t.Fatalf("round %d id %d = %d, want 404", round, i, w.Code)
			}
		}
		if got := oktaCalls(org); got != ids {
			t.Fatalf("after round %d: %d Okta calls for %d random ids, want %d", round, got, ids, ids)
		}
	}
}

// TestRefusedCredentialsLoggedOncePerMinute: every lookup answers 503
// while Okta refuses usersvc's token, but the error record is written at
// most once a minute.
func TestRefusedCredentialsLoggedOncePerMinute(t *testing.T) {
	org := newOrg(t)
	var mu sync.Mutex
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	logs := &syncbuffer.Buffer{}
	r := oidcuser.NewResolver(syncStore(t), oidcuser.ResolverConfig{
		Directory: newDirectory(t, org, okta.Config{}),
		Logger:    slog.New(slog.NewJSONHandler(logs, nil)), Now: clock,
	})
	org.FailNextWith(1000, 401, oktaapi.CodeInvalidToken)
	errorRecords := func() int { return strings.Count(logs.String(), `"level":"ERROR"`) }
	for step, advance := range []time.Duration{0, 10 * time.Second, 40 * time.Second, 11 * time.Second, time.Second} {
		mu.Lock()
		now = now.Add(advance)
		mu.Unlock()
		if _, err := r.ResolveUser(context.Background(), fmt.Sprintf("someone%d", step)); err == nil || !strings.Contains(err.Error(), "credentials") {
			t.Fatalf("step %d: %v, want refused credentials", step, err)
		}
		want := 1
		if step >= 3 { // 61s after the first record
			want = 2
		}
		if got := errorRecords(); got != want {
			t.Fatalf("step %d: %d error records, want %d\n%s", step, got, want, logs.String())
		}
	}
	if strings.Contains(logs.String(), ssws) {
		t.Fatal("the API token reached the log")
	}
}
