package oidcuser_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/usersvc/usersvc/handlers"
	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/oidcuser/okta"
	"github.com/usersvc/usersvc/proxy/embedded"
	"github.com/usersvc/usersvc/proxy/embedded/embeddedtest"
	"github.com/usersvc/usersvc/proxy/proxytest"
	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/oktaapi"
	"github.com/usersvc/usersvc/testsupport/syncbuffer"
)

func init() { gin.SetMode(gin.TestMode) }

type resolutionEnv struct {
	h     http.Handler
	org   *oktaapi.Server
	store *embedded.Store
	logs  *syncbuffer.Buffer
}

// newResolutionEnv serves the real handlers over an embedded store, resolving
// unknown users through the real Okta SDK against the test org.
func newResolutionEnv(t *testing.T, org *oktaapi.Server, budget oidcuser.BudgetConfig) *resolutionEnv {
	t.Helper()
	store := embeddedtest.WithCatalog(t)
	dir := newDirectory(t, org, okta.Config{Transport: oidcuser.NewBudget(nil, budget)})
	logs := &syncbuffer.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	resolver := oidcuser.NewResolver(store, oidcuser.ResolverConfig{Directory: dir, LookupTimeout: 500 * time.Millisecond, Logger: log})
	h := handlers.New(handlers.Deps{Logger: log, Users: resolver, Store: store})
	return &resolutionEnv{h: h, org: org, store: store, logs: logs}
}

func (e *resolutionEnv) get(t *testing.T, path string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	return e.do(t, http.MethodGet, path)
}

func (e *resolutionEnv) do(t *testing.T, method, path string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, httptest.NewRequest(method, path, nil))
	var body map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	return w, body
}

func oktaCalls(org *oktaapi.Server) int { return org.Count(oktaapi.IsAPI) }

func TestUnknownUserIsResolvedAndStored(t *testing.T) {
	e := newResolutionEnv(t, newOrg(t), oidcuser.BudgetConfig{})
	w, body := e.get(t, "/user/grace.hopper@example.com")
	// user_id is her login; the node is keyed by her email (DESIGN §3).
	if w.Code != http.StatusOK || body["full_name"] != "Grace Hopper" || body["user_id"] != "ghopper" || len(body) != 17 {
		t.Fatalf("first GET = %d %s", w.Code, w.Body.String())
	}
	stored, err := e.store.GetUser(context.Background(), "grace.hopper@example.com")
	if err != nil || stored.FirstName != "Grace" || stored.OtherKeyValues["okta_id"] != "00u2grace" {
		t.Fatalf("stored = %+v, %v", stored, err)
	}
	calls := oktaCalls(e.org)
	w, _ = e.get(t, "/user/Grace.Hopper@example.com")
	if w.Code != http.StatusOK || oktaCalls(e.org) != calls {
		t.Fatalf("second GET = %d with %d more Okta calls; want a graph hit", w.Code, oktaCalls(e.org)-calls)
	}
	// One audit record for the resolution, with the Okta id.
	var audits int
	for _, line := range strings.Split(e.logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["audit"] == true {
			audits++
			if rec["key"] != "grace.hopper@example.com" || rec["source"] != "okta" || rec["okta_id"] != "00u2grace" || rec["event"] != "user_created" || rec["actor"] != "anonymous" || rec["outcome"] != "ok" {
				t.Fatalf("audit record = %v", rec)
			}
		}
	}
	if audits != 1 {
		t.Fatalf("%d audit records, want 1", audits)
	}
}

func TestNotFoundIsCached(t *testing.T) {
	e := newResolutionEnv(t, newOrg(t), oidcuser.BudgetConfig{})
	w, body := e.get(t, "/user/nobody@example.com")
	if w.Code != http.StatusNotFound || body["message"] != "user_id nobody@example.com not found" {
		t.Fatalf("first GET = %d %s", w.Code, w.Body.String())
	}
	calls := oktaCalls(e.org)
	w, _ = e.get(t, "/user/nobody@example.com")
	if w.Code != http.StatusNotFound || oktaCalls(e.org) != calls {
		t.Fatalf("second GET = %d with %d Okta calls; want a cached 404", w.Code, oktaCalls(e.org)-calls)
	}
	if _, err := e.store.GetUser(context.Background(), "nobody@example.com"); !schema.IsNotFound(err) {
		t.Fatal("a not-found user was written")
	}
}

func TestAmbiguousEmailIsConflict(t *testing.T) {
	e := newResolutionEnv(t, newOrg(t), oidcuser.BudgetConfig{})
	w, body := e.get(t, "/user/shared@example.com")
	if w.Code != http.StatusConflict || !strings.Contains(body["message"].(string), "matches 2 directory users") {
		t.Fatalf("GET = %d %s", w.Code, w.Body.String())
	}
	if users, _ := e.store.GetUsers(context.Background()); len(users) != 0 {
		t.Fatalf("ambiguous resolution wrote %d users", len(users))
	}
}

func TestDeprovisionedIsInactive(t *testing.T) {
	e := newResolutionEnv(t, newOrg(t), oidcuser.BudgetConfig{})
	w, body := e.get(t, "/user/gone@example.com")
	if w.Code != http.StatusOK || body["is_active"] != false {
		t.Fatalf("GET = %d %s", w.Code, w.Body.String())
	}
	// GET /user is a bare array, as Amundsen answers it.
	w, _ = e.get(t, "/user")
	var users []any
	if err := json.Unmarshal(w.Body.Bytes(), &users); err != nil || len(users) != 0 {
		t.Fatalf("GET /user = %s, want [] (an inactive user is not listed)", w.Body.String())
	}
}

// TestConcurrentFirstRequestsShareOneLookup: 100 simultaneous requests for
// one unknown person make one Okta lookup (GET by login, then the search
// that tells whether the email is shared) and one stored user.
func TestConcurrentFirstRequestsShareOneLookup(t *testing.T) {
	org := newOrg(t)
	org.SetLatency(100 * time.Millisecond) // keep the flight open while requests pile up
	e := newResolutionEnv(t, org, oidcuser.BudgetConfig{})
	var wg sync.WaitGroup
	codes := make([]int, 100)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, _ := e.get(t, "/user/ada.lovelace+data@example.com")
			codes[i] = w.Code
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Fatalf("request %d = %d", i, c)
		}
	}
	if got := oktaCalls(org); got != 2 {
		t.Fatalf("%d Okta calls, want one lookup: 2", got)
	}
	if users, _ := e.store.GetUsers(context.Background()); len(users) != 1 {
		t.Fatalf("%d stored users, want 1", len(users))
	}
}

// TestRateLimitedIs503WithRetryAfter spends one of Okta's two user buckets
// (okta.com's rate limits: fetching one user and listing/searching users
// are counted apart), then asks for an unknown email-shaped id. Its lookup
// needs both calls, so it is answered 503 without sending either: not even
// the call whose bucket has room.
func TestRateLimitedIs503WithRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name              string
		getUser, listUser int
	}{
		{"GET window spent", 1, 600},
		{"search window spent", 600, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Unix(1_800_000_000, 0)
			clock := func() time.Time { return now }
			org := newOrg(t, oktaapi.WithClock(clock), oktaapi.WithRateLimits(tc.getUser, tc.listUser))
			e := newResolutionEnv(t, org, oidcuser.BudgetConfig{Now: clock})
			// A login: one GET, then the search for whether the email is shared.
			if w, _ := e.get(t, "/user/ghopper"); w.Code != http.StatusOK {
				t.Fatalf("first = %d", w.Code)
			}
			calls := oktaCalls(org)
			w, body := e.get(t, "/user/ada.lovelace+data@example.com")
			if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "60" || body["message"] == nil {
				t.Fatalf("past the limit = %d Retry-After %q %s", w.Code, w.Header().Get("Retry-After"), w.Body.String())
			}
			if got := oktaCalls(org); got != calls {
				t.Fatalf("%d calls reached Okta although a window the lookup needs was spent", got-calls)
			}
			// Known users are still served.
			if w, _ := e.get(t, "/user/ghopper"); w.Code != http.StatusOK {
				t.Fatalf("known user while rate-limited = %d", w.Code)
			}
		})
	}
}

func TestOktaDownOrSlowIs503AndKnownUsersServed(t *testing.T) {
	for _, tt := range []struct {
		name  string
		fault func(*oktaapi.Server)
	}{
		{"500", func(s *oktaapi.Server) { s.FailNext(100, http.StatusInternalServerError) }},
		{"slow", func(s *oktaapi.Server) { s.SetLatency(5 * time.Second) }},
		{"down", func(s *oktaapi.Server) { s.Close() }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newResolutionEnv(t, newOrg(t), oidcuser.BudgetConfig{})
			if w, _ := e.get(t, "/user/ghopper"); w.Code != http.StatusOK {
				t.Fatalf("warm-up = %d", w.Code)
			}
			tt.fault(e.org)
			start := time.Now()
			w, body := e.get(t, "/user/ada.lovelace+data@example.com")
			if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" || body["message"] == nil {
				t.Fatalf("unknown user = %d %s", w.Code, w.Body.String())
			}
			if took := time.Since(start); took > time.Second {
				t.Fatalf("503 took %s, want it within the 500ms lookup timeout", took)
			}
			if w, _ := e.get(t, "/user/ghopper"); w.Code != http.StatusOK {
				t.Fatalf("known user = %d", w.Code)
			}
			// A failure is not remembered as "not found".
			if w, _ := e.get(t, "/user/ada.lovelace+data@example.com"); w.Code != http.StatusServiceUnavailable {
				t.Fatalf("retry = %d, want 503 again", w.Code)
			}
		})
	}
}

func TestStubNodeIsCompletedFromOkta(t *testing.T) {
	e := newResolutionEnv(t, newOrg(t), oidcuser.BudgetConfig{})
	if w, _ := e.do(t, http.MethodPut, "/user/grace.hopper@example.com/follow/table/"+proxytest.TableOrders); w.Code != http.StatusOK {
		t.Fatalf("follow = %d", w.Code)
	}
	w, body := e.get(t, "/user/grace.hopper@example.com")
	if w.Code != http.StatusOK || body["full_name"] != "Grace Hopper" || body["email"] != "grace.hopper@example.com" {
		t.Fatalf("GET = %d %s", w.Code, w.Body.String())
	}
	_, follows := e.get(t, "/user/grace.hopper@example.com/follow/")
	if tables := follows["table"].([]any); len(tables) != 1 {
		t.Fatalf("follow lost while completing the node: %v", follows)
	}
	// A stub the directory does not know is still served as it is.
	if w, _ := e.do(t, http.MethodPut, "/user/alias@example.com/own/table/"+proxytest.TableOrders); w.Code != http.StatusOK {
		t.Fatalf("own = %d", w.Code)
	}
	if w, body := e.get(t, "/user/alias@example.com"); w.Code != http.StatusOK || body["email"] != "alias@example.com" {
		t.Fatalf("stub GET = %d %s", w.Code, w.Body.String())
	}
}

func TestResolutionOffWithoutDirectory(t *testing.T) {
	store, err := embedded.Open(filepath.Join(t.TempDir(), "u.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	h := handlers.New(handlers.Deps{Users: oidcuser.NewResolver(store, oidcuser.ResolverConfig{}), Store: store})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/user/grace.hopper@example.com", nil))
	body, _ := io.ReadAll(w.Body)
	if w.Code != http.StatusNotFound || string(body) != `{"message":"user_id grace.hopper@example.com not found"}` {
		t.Fatalf("GET without directory = %d %s", w.Code, body)
	}
}

func TestAuditNamesTheActor(t *testing.T) {
	store, err := embedded.Open(filepath.Join(t.TempDir(), "u.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	logs := &syncbuffer.Buffer{}
	r := oidcuser.NewResolver(store, oidcuser.ResolverConfig{
		Directory: newDirectory(t, newOrg(t), okta.Config{}),
		Logger:    slog.New(slog.NewJSONHandler(logs, nil)),
	})
	ctx := schema.WithPrincipal(context.Background(), schema.Principal{Subject: "00u-caller", UserID: "caller@example.com"})
	if _, err := r.ResolveUser(ctx, "ghopper"); err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(logs.String())), &rec); err != nil {
		t.Fatalf("log = %q", logs.String())
	}
	// The record names the node written: Grace is keyed by her email.
	if rec["audit"] != true || rec["actor"] != "00u-caller" || rec["key"] != "grace.hopper@example.com" || rec["okta_id"] != "00u2grace" {
		t.Fatalf("audit record = %v", rec)
	}
}

// TestOktaFaultsAtDefaultTimeouts: with the production lookup deadline (2s),
// every Okta failure leaves known users served and answers unknown ones 503
// with Retry-After within the Amundsen frontend's 3 seconds.
func TestOktaFaultsAtDefaultTimeouts(t *testing.T) {
	for _, tt := range []struct {
		name  string
		opts  []oktaapi.Option
		fault func(*oktaapi.Server)
		// some lookups get through: those unknown people are 404
		throughAllowed bool
	}{
		{"slow (5s)", nil, func(s *oktaapi.Server) { s.SetLatency(5 * time.Second) }, false},
		{"down", nil, func(s *oktaapi.Server) { s.Close() }, false},
		{"500s", nil, func(s *oktaapi.Server) { s.FailNext(1000, http.StatusInternalServerError) }, false},
		{"malformed JSON", nil, func(s *oktaapi.Server) { s.MalformNext(1000) }, false},
		{"429 storm (concurrency limit)", []oktaapi.Option{oktaapi.WithConcurrencyLimit(1)}, func(s *oktaapi.Server) { s.SetLatency(300 * time.Millisecond) }, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			org := newOrg(t, tt.opts...)
			store, err := embedded.Open(filepath.Join(t.TempDir(), "u.db"), time.Second)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = store.Close() })
			if _, _, err := store.CreateUpdateUser(context.Background(), schema.User{UserID: "known@example.com", Email: "known@example.com", DisplayName: "Known", IsActive: true}); err != nil {
				t.Fatal(err)
			}
			dir := newDirectory(t, org, okta.Config{})
			h := handlers.New(handlers.Deps{Users: oidcuser.NewResolver(store, oidcuser.ResolverConfig{Directory: dir}), Store: store})
			tt.fault(org)

			var wg sync.WaitGroup
			type answer struct {
				code       int
				retryAfter string
				took       time.Duration
			}
			answers := make([]answer, 24)
			for i := range answers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					path := "/user/known@example.com"
					if i%2 == 0 {
						path = fmt.Sprintf("/user/unknown%d@example.com", i)
					}
					start := time.Now()
					w := httptest.NewRecorder()
					h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
					answers[i] = answer{w.Code, w.Header().Get("Retry-After"), time.Since(start)}
				}()
			}
			wg.Wait()
			unavailable := 0
			for i, a := range answers {
				if a.code == http.StatusServiceUnavailable {
					unavailable++
				}
				switch {
				case i%2 == 1 && a.code != http.StatusOK:
					t.Errorf("known user answered %d", a.code)
				case i%2 == 0 && tt.throughAllowed && a.code == http.StatusNotFound:
				case i%2 == 0 && (a.code != http.StatusServiceUnavailable || a.retryAfter == ""):
					t.Errorf("unknown user answered %d (Retry-After %q), want 503 with Retry-After", a.code, a.retryAfter)
				case a.took >= 3*time.Second:
					t.Errorf("an answer took %s", a.took)
				}
			}
			if unavailable == 0 {
				t.Error("no unknown user was refused: the fault did not bite")
			}
		})
	}
}

// roundTrips counts the graph reads a resolution makes through the store.
type roundTrips struct {
	oidcuser.UserStore
	mu    sync.Mutex
	calls []string
}

func (r *roundTrips) note(call string) {
	r.mu.Lock()
	r.calls = append(r.calls, call)
	r.mu.Unlock()
}

func (r *roundTrips) GetUser(ctx context.Context, key string) (schema.User, error) {
	r.note("GetUser")
	return r.UserStore.GetUser(ctx, key)
}

func (r *roundTrips) LookupUser(ctx context.Context, key string) (schema.User, error) {
	r.note("LookupUser")
	return r.UserStore.LookupUser(ctx, key)
}

// TestFirstRequestReadsTheGraphOnceBeforeItsLookup: a first request for a
// person reads the graph once before its directory lookup, by key and by
// user_id in one LookupUser (one statement on Neo4j). Its flight reads again only when another flight ended
// since (TestConcurrentFirstRequestsShareOneLookup covers that case): on
// Neo4j each read is a round trip on the first request's path (issue 31).
// Before the flight counter, the flight always read again: 5 reads; before
// LookupUser, the first read was GetUser then GetUserByUserID.
func TestFirstRequestReadsTheGraphOnceBeforeItsLookup(t *testing.T) {
	org := newOrg(t)
	store := &roundTrips{UserStore: embeddedtest.WithCatalog(t)}
	resolver := oidcuser.NewResolver(store, oidcuser.ResolverConfig{Directory: newDirectory(t, org, okta.Config{}), LookupTimeout: time.Second})
	u, err := resolver.ResolveUser(context.Background(), "grace.hopper@example.com")
	if err != nil || u.FullName != "Grace Hopper" {
		t.Fatalf("resolve = %+v, %v", u, err)
	}
	// By key and user_id; then writePerson's look at the node under her key.
	want := []string{"LookupUser", "GetUser"}
	if !slices.Equal(store.calls, want) {
		t.Fatalf("graph reads = %v, want %v", store.calls, want)
	}
}

// staleAliasRead answers the first LookupUser with what the graph held when
// it began, but only once released: a read that started just before
// another lookup stored the person.
type staleAliasRead struct {
	oidcuser.UserStore
	began, release chan struct{}
	once           sync.Once
}

func (s *staleAliasRead) LookupUser(ctx context.Context, key string) (schema.User, error) {
	u, err := s.UserStore.LookupUser(ctx, key)
	first := false
	s.once.Do(func() { first = true })
	if first {
		close(s.began)
		<-s.release
	}
	return u, err
}

// TestFlightLooksAgainAfterAnotherFlightEnded: a caller whose first read
// missed while another lookup of the same person (asked by email, this one
// by login) was storing them looks at the graph again in its own flight,
// and makes no second directory lookup.
func TestFlightLooksAgainAfterAnotherFlightEnded(t *testing.T) {
	org := newOrg(t)
	store := &staleAliasRead{UserStore: embeddedtest.WithCatalog(t), began: make(chan struct{}), release: make(chan struct{})}
	resolver := oidcuser.NewResolver(store, oidcuser.ResolverConfig{Directory: newDirectory(t, org, okta.Config{}), LookupTimeout: 5 * time.Second})
	ctx := context.Background()
	byLogin := make(chan error, 1)
	go func() {
		u, err := resolver.ResolveUser(ctx, "ghopper")
		if err == nil && u.FullName != "Grace Hopper" {
			err = fmt.Errorf("by login: %+v", u)
		}
		byLogin <- err
	}()
	<-store.began // the login's read found nothing and is held
	if u, err := resolver.ResolveUser(ctx, "grace.hopper@example.com"); err != nil || u.FullName != "Grace Hopper" {
		t.Fatalf("by email: %+v, %v", u, err)
	}
	lookups := oktaCalls(org)
	close(store.release)
	if err := <-byLogin; err != nil {
		t.Fatal(err)
	}
	if got := oktaCalls(org); got != lookups {
		t.Fatalf("Okta calls %d after the second caller, %d before: it looked the person up again instead of reading the graph", got, lookups)
	}
}
