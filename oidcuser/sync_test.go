package oidcuser_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/oidcuser/okta"
	"github.com/usersvc/usersvc/proxy/embedded"
	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/oktaapi"
)

var syncEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// bigOrg holds n people over many pages; every 50th is deprovisioned and
// lastUpdated grows with the index.
func bigOrg(t *testing.T, n int, opts ...oktaapi.Option) *oktaapi.Server {
	t.Helper()
	org := oktaapi.New(t, append([]oktaapi.Option{oktaapi.WithSSWSToken(ssws), oktaapi.WithRateLimits(1200, 600)}, opts...)...)
	users := make([]oktaapi.User, n)
	for i := range users {
		users[i] = person(i, "ACTIVE", fmt.Sprintf("Team%d", i%7), syncEpoch.Add(time.Duration(i)*time.Second))
		if i%50 == 0 {
			users[i].Status = "DEPROVISIONED"
		}
	}
	org.AddUsers(users...)
	return org
}

func person(i int, status, department string, updated time.Time) oktaapi.User {
	email := fmt.Sprintf("user%05d@example.com", i)
	u := oktaapi.NewUser(fmt.Sprintf("00u%05d", i), email, email, "User", fmt.Sprint(i), status).With(map[string]any{"department": department})
	u.LastUpdated = updated
	return u
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

func runSync(t *testing.T, d oidcuser.Lister, s oidcuser.SyncStore, cfg oidcuser.SyncConfig) (oidcuser.SyncReport, error) {
	t.Helper()
	if cfg.Owner == "" {
		cfg.Owner = "test"
	}
	return oidcuser.NewSyncer(d, s, cfg).Run(context.Background())
}

func activeCount(t *testing.T, s *embedded.Store) int {
	users, err := s.GetUsers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(users)
}

func TestSyncFullThenIncremental(t *testing.T) {
	org := bigOrg(t, 5000)
	d := newDirectory(t, org, okta.Config{})
	s := syncStore(t)
	ctx := context.Background()

	rep, err := runSync(t, d, s, oidcuser.SyncConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Fetched != 5000 || rep.Created != 5000 || rep.Updated != 0 {
		t.Fatalf("full import = %+v", rep)
	}
	if got := activeCount(t, s); got != 4900 {
		t.Fatalf("active users = %d, want 4900 (every 50th deprovisioned)", got)
	}
	u, err := s.GetUser(ctx, "user00050@example.com")
	if err != nil || u.IsActive || u.TeamName != "Team1" || u.OtherKeyValues["okta_id"] != "00u00050" {
		t.Fatalf("deprovisioned user = %+v, %v", u, err)
	}
	searches := org.Count(func(r oktaapi.Request) bool { return r.Search != "" })
	if searches < 25 {
		t.Fatalf("%d search pages for 5000 people, want at least 25", searches)
	}
	if org.Count(func(r oktaapi.Request) bool { return r.Status == 429 }) != 0 {
		t.Fatal("the import hit Okta's rate limit")
	}
	st, _ := s.GetSyncState(ctx, "okta")
	if !st.Complete || !st.Watermark.Equal(syncEpoch.Add(4999*time.Second)) {
		t.Fatalf("state = %+v", st)
	}

	// 37 people move teams and 20 leave: the next run sees exactly them.
	later := syncEpoch.Add(3 * time.Hour)
	for i := range 37 {
		org.AddUsers(person(101+i, "ACTIVE", "Moved", later.Add(time.Duration(i)*time.Second)))
	}
	for i := range 20 {
		org.AddUsers(person(1001+i, "DEPROVISIONED", "Team0", later.Add(time.Minute+time.Duration(i)*time.Second)))
	}
	rep, err = runSync(t, d, s, oidcuser.SyncConfig{})
	if err != nil {
		t.Fatal(err)
	}
	// The look-back (2m) re-reads the 120 people changed after
	// watermark-2m; they are unchanged, so only the 57 are written.
	if rep.Fetched != 57+120 || rep.Updated != 57 || rep.Unchanged != 120 || rep.Created != 0 || rep.Deactivated != 20 {
		t.Fatalf("incremental run = %+v, want exactly the 57 changed people written", rep)
	}
	if u, _ := s.GetUser(ctx, "user00101@example.com"); u.TeamName != "Moved" {
		t.Fatalf("moved user team = %q", u.TeamName)
	}
	if u, _ := s.GetUser(ctx, "user01001@example.com"); u.IsActive {
		t.Fatal("a deprovisioned person stayed active")
	}
	if got := activeCount(t, s); got != 4880 {
		t.Fatalf("active users = %d, want 4880", got)
	}
	// Nothing changed since: an incremental run writes nothing, and without
	// a look-back reads nothing either.
	if rep, err = runSync(t, d, s, oidcuser.SyncConfig{}); err != nil || rep.Created+rep.Updated != 0 || rep.Unchanged != rep.Fetched {
		t.Fatalf("idle run = %+v, %v", rep, err)
	}
	if rep, err = runSync(t, d, s, oidcuser.SyncConfig{Lookback: -1}); err != nil || rep.Fetched != 0 {
		t.Fatalf("idle run without look-back = %+v, %v", rep, err)
	}
}

func TestSyncMassChangeGuard(t *testing.T) {
	org := bigOrg(t, 1000)
	d := newDirectory(t, org, okta.Config{})
	s := syncStore(t)
	if _, err := runSync(t, d, s, oidcuser.SyncConfig{}); err != nil {
		t.Fatal(err)
	}
	before, _ := s.GetSyncState(context.Background(), "okta")
	active := activeCount(t, s) // 980
	// 10% of 980 is 98: 98 deactivations pass, 99 trip the guard.
	for _, tt := range []struct {
		leave int
		trip  bool
	}{{99, true}, {98, false}} {
		later := syncEpoch.Add(5 * time.Hour)
		for i, n := 1, 0; n < tt.leave; i++ {
			if i%50 == 0 {
				continue
			}
			org.AddUsers(person(i, "SUSPENDED", "Team0", later))
			n++
		}
		rep, err := runSync(t, d, s, oidcuser.SyncConfig{MaxDeactivatePercent: 10})
		if tt.trip {
			if !errors.Is(err, oidcuser.ErrMassChange) || rep.Deactivated != 99 {
				t.Fatalf("99 deactivations: %+v, %v; want the guard to trip", rep, err)
			}
			if got := activeCount(t, s); got != active {
				t.Fatalf("the guard tripped but %d users were deactivated", active-got)
			}
			if st, _ := s.GetSyncState(context.Background(), "okta"); !st.Watermark.Equal(before.Watermark) {
				t.Fatal("a tripped run moved the watermark")
			}
			// Put person 99's change back so the next case has exactly 98.
			org.AddUsers(person(lastLeaver(99), "ACTIVE", "Team0", later))
			continue
		}
		if err != nil || rep.Deactivated != 98 {
			t.Fatalf("98 deactivations: %+v, %v", rep, err)
		}
		if got := activeCount(t, s); got != active-98 {
			t.Fatalf("active users = %d, want %d", got, active-98)
		}
	}
}

// lastLeaver is the index of the n-th person the guard test deactivates
// (indexes skip multiples of 50).
func lastLeaver(n int) int {
	for i, c := 1, 0; ; i++ {
		if i%50 == 0 {
			continue
		}
		if c++; c == n {
			return i
		}
	}
}

func TestSyncResumesAfterInterruption(t *testing.T) {
	org := bigOrg(t, 3000)
	d := newDirectory(t, org, okta.Config{})
	s := syncStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := oidcuser.NewSyncer(d, s, oidcuser.SyncConfig{Owner: "first", Progress: func(p oidcuser.SyncProgress) {
		if p.Phase == "write" && p.Done == 1750 {
			cancel() // the process dies mid-run
		}
	}}).Run(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	st, _ := s.GetSyncState(context.Background(), "okta")
	if st.Complete || !st.Watermark.Equal(syncEpoch.Add(1699*time.Second)) {
		t.Fatalf("checkpoint = %+v, want the 1700th person's lastUpdated, incomplete", st)
	}
	// The lease was released, so a new runner resumes at once.
	rep, err := runSync(t, d, s, oidcuser.SyncConfig{Owner: "second"})
	if err != nil {
		t.Fatal(err)
	}
	// From the checkpoint (1,700th person, inclusive) less the 2m look-back:
	// 1,421 read, the 171 already written before the interruption unchanged.
	if rep.Fetched != 1421 || rep.Created != 1250 || rep.Unchanged != 171 || rep.Updated != 0 {
		t.Fatalf("resumed run = %+v, want 1,421 read from the checkpoint less the look-back, 1,250 created", rep)
	}
	if users, _ := s.GetUsers(context.Background()); len(users) != 2940 {
		t.Fatalf("%d active users after resuming, want 2940", len(users))
	}
}

func TestSyncSingleRunner(t *testing.T) {
	org := bigOrg(t, 400)
	org.SetLatency(20 * time.Millisecond)
	d := newDirectory(t, org, okta.Config{})
	s := syncStore(t)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = runSync(t, d, s, oidcuser.SyncConfig{Owner: fmt.Sprint("runner", i)})
		}()
	}
	wg.Wait()
	held, done := 0, 0
	for _, err := range errs {
		switch {
		case errors.Is(err, oidcuser.ErrLeaseHeld):
			held++
		case err == nil:
			done++
		default:
			t.Fatal(err)
		}
	}
	if held != 1 || done != 1 {
		t.Fatalf("%d runs did the work and %d were turned away, want 1 and 1", done, held)
	}
}

func TestSyncWaitsOutRateLimits(t *testing.T) {
	org := bigOrg(t, 1000, oktaapi.WithRateLimits(1200, 2), oktaapi.WithWindow(time.Second))
	d := newDirectory(t, org, okta.Config{Transport: oidcuser.NewBudget(nil, oidcuser.BudgetConfig{Reserve: 0})})
	s := syncStore(t)
	rep, err := runSync(t, d, s, oidcuser.SyncConfig{})
	if err != nil || rep.Fetched != 1000 {
		t.Fatalf("rate-limited import = %+v, %v", rep, err)
	}
	if n := org.Count(func(r oktaapi.Request) bool { return r.Status == 429 }); n != 0 {
		t.Fatalf("%d requests reached Okta's 429", n)
	}
}

func TestSyncTeamsFromGroups(t *testing.T) {
	org := bigOrg(t, 3)
	for i := range 3 {
		u := person(i, "ACTIVE", "Dept", syncEpoch.Add(time.Duration(i)*time.Second))
		u.Groups = []oktaapi.Group{{ID: "g0", Name: "Everyone"}, {ID: fmt.Sprint("g", i), Name: fmt.Sprint("team-data-", i)}}
		org.AddUsers(u)
	}
	d := newDirectory(t, org, okta.Config{})
	s := syncStore(t)
	// user1's team was set through the API.
	if _, _, err := s.CreateUpdateUser(context.Background(), schema.User{UserID: "user00001@example.com", Email: "user00001@example.com", DisplayName: "U", TeamName: "Set by hand", IsActive: true}); err != nil {
		t.Fatal(err)
	}
	cfg := oidcuser.SyncConfig{TeamPattern: regexp.MustCompile(`^team-(.+)$`), Groups: d}
	if _, err := runSync(t, d, s, cfg); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"user00000@example.com": "data-0", "user00001@example.com": "Set by hand", "user00002@example.com": "data-2"} {
		if u, _ := s.GetUser(context.Background(), key); u.TeamName != want {
			t.Errorf("%s team = %q, want %q", key, u.TeamName, want)
		}
	}
	cfg.TeamOverwrite, cfg.Full = true, true
	if _, err := runSync(t, d, s, cfg); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.GetUser(context.Background(), "user00001@example.com"); u.TeamName != "data-1" {
		t.Errorf("with overwrite the team = %q, want data-1", u.TeamName)
	}
}

// TestSyncKeysSharedEmailsByLogin: nodes are keyed by email unless another
// directory person shares it (in the listing, or as the owner of the node
// under that email); then by login. People are never merged, and a person
// whose login node belongs to someone else too is skipped.
func TestSyncKeysSharedEmailsByLogin(t *testing.T) {
	org := newOrg(t) // twin-a and twin-b share an email
	d := newDirectory(t, org, okta.Config{})
	s := syncStore(t)
	ctx := context.Background()
	for _, other := range []schema.User{
		{UserID: "grace.hopper@example.com", Email: "grace.hopper@example.com", DisplayName: "Another Grace",
			IsActive: true, OtherKeyValues: map[string]string{oidcuser.OtherKeyOktaID: "00u9other"}},
		{UserID: "paused@example.com", DisplayName: "Another Paused", IsActive: true, OtherKeyValues: map[string]string{oidcuser.OtherKeyOktaID: "00u9else"}},
	} {
		if _, _, err := s.CreateUpdateUser(ctx, other); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := runSync(t, d, s, oidcuser.SyncConfig{})
	if err != nil {
		t.Fatal(err)
	}
	// paused@example.com is that person's login and email alike: skipped.
	if rep.Fetched != len(people()) || rep.Skipped != 1 || rep.Created != len(people())-1 {
		t.Fatalf("report = %+v, want everyone but the paused person written", rep)
	}
	if _, err := s.GetUser(ctx, "shared@example.com"); !schema.IsNotFound(err) {
		t.Fatalf("a node was written for the shared email: %v", err)
	}
	for key, okta := range map[string]string{"twin-a": "00u5twin", "twin-b": "00u6twin", "ghopper": "00u2grace"} {
		if u, err := s.GetUser(ctx, key); err != nil || u.OtherKeyValues["okta_id"] != okta || u.UserID != key {
			t.Fatalf("node %s = %+v, %v; want %s keyed by login", key, u, err, okta)
		}
	}
	if u, _ := s.GetUser(ctx, "grace.hopper@example.com"); u.DisplayName != "Another Grace" {
		t.Fatalf("the other person's node was overwritten: %+v", u)
	}
	if u, _ := s.GetUser(ctx, "paused@example.com"); u.DisplayName != "Another Paused" {
		t.Fatalf("the other person's node was overwritten: %+v", u)
	}
	if u, err := s.GetUser(ctx, "gone@example.com"); err != nil || u.IsActive {
		t.Fatalf("deprovisioned person = %+v, %v", u, err)
	}
	// A second, full run finds everyone where the first put them. The two
	// people made up above are in no listing, so it deactivates them, as
	// deleted from the directory (2 of 9 active: past the default guard).
	if rep, err := runSync(t, d, s, oidcuser.SyncConfig{Full: true, MaxDeactivatePercent: 50}); err != nil || rep.Created != 0 || rep.Skipped != 1 || rep.Deactivated != 2 {
		t.Fatalf("second run = %+v, %v", rep, err)
	}
}

// TestSyncLookbackCatchesLateArrivals: Okta's search is eventually
// consistent, so a change can become visible after a later one was synced.
func TestSyncLookbackCatchesLateArrivals(t *testing.T) {
	org := bigOrg(t, 300)
	d := newDirectory(t, org, okta.Config{})
	s := syncStore(t)
	if _, err := runSync(t, d, s, oidcuser.SyncConfig{}); err != nil {
		t.Fatal(err)
	}
	// Person 299 (the watermark) was synced; person 280's change, made 19s
	// before it, shows up in the index only now.
	org.AddUsers(person(280, "ACTIVE", "Late", syncEpoch.Add(280*time.Second)))
	rep, err := runSync(t, d, s, oidcuser.SyncConfig{})
	if err != nil || rep.Updated != 1 {
		t.Fatalf("run after a late arrival = %+v, %v; want the late change written", rep, err)
	}
	if u, _ := s.GetUser(context.Background(), "user00280@example.com"); u.TeamName != "Late" {
		t.Fatalf("late change lost: team %q", u.TeamName)
	}
}

// TestSyncRidesOutBriefOutages: a few failed pages are retried with
// backoff; an outage that outlasts the retries fails the run without
// moving the watermark past what was written.
func TestSyncRidesOutBriefOutages(t *testing.T) {
	org := bigOrg(t, 700)
	d := newDirectory(t, org, okta.Config{})
	s := syncStore(t)
	faults := []struct {
		name   string
		inject func()
	}{
		{"500s", func() { org.FailNext(2, 500) }},
		{"malformed answers", func() { org.MalformNext(2) }},
		{"dropped connections", func() { org.DropNext(2) }},
	}
	for _, f := range faults {
		f.inject()
		if rep, err := runSync(t, d, s, oidcuser.SyncConfig{Full: true}); err != nil || rep.Fetched != 700 {
			t.Fatalf("%s: %+v, %v; want the run to ride them out", f.name, rep, err)
		}
	}
	org.FailNext(4, 503)
	rep, err := runSync(t, d, s, oidcuser.SyncConfig{Full: true})
	if schema.KindOf(err) != schema.KindUnavailable || rep.Created+rep.Updated+rep.Unchanged != 0 {
		t.Fatalf("long outage: %+v, %v; want an unavailable error before any write", rep, err)
	}
}

// TestSyncInterruptedFullPassResumes: a --full run interrupted midway saves
// how far the pass got, not the newer watermark of the earlier run, so the
// next incremental run reads the rest of the pass.
func TestSyncInterruptedFullPassResumes(t *testing.T) {
	org := bigOrg(t, 3000)
	d := newDirectory(t, org, okta.Config{})
	s := syncStore(t)
	if _, err := runSync(t, d, s, oidcuser.SyncConfig{Owner: "first"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	_, err := oidcuser.NewSyncer(d, s, oidcuser.SyncConfig{Owner: "full", Full: true, Progress: func(p oidcuser.SyncProgress) {
		if p.Phase == "write" && p.Done == 1750 {
			cancel()
		}
	}}).Run(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted full run: %v", err)
	}
	st, _ := s.GetSyncState(context.Background(), "okta")
	if st.Complete || !st.Watermark.Equal(syncEpoch.Add(1699*time.Second)) {
		t.Fatalf("checkpoint of the interrupted full pass = %+v, want the 1700th person's lastUpdated, incomplete", st)
	}
	rep, err := runSync(t, d, s, oidcuser.SyncConfig{Owner: "next"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Fetched != 1421 {
		t.Fatalf("the run after it read %d people, want the rest of the pass (1,421 from the checkpoint less the look-back)", rep.Fetched)
	}
	if st, _ := s.GetSyncState(context.Background(), "okta"); !st.Complete || !st.Watermark.Equal(syncEpoch.Add(2999*time.Second)) {
		t.Fatalf("state after resuming = %+v, want complete at the newest person", st)
	}
}

// hangingRelease is a store whose ReleaseLease never answers, as a hung
// Neo4j would not.
type hangingRelease struct{ *embedded.Store }

func (h hangingRelease) ReleaseLease(ctx context.Context, _, _ string) error {
	<-ctx.Done()
	return ctx.Err()
}

// TestSyncReleaseLeaseIsBounded: giving the lease up cannot hold a run (and
// the process exiting after it) beyond a bound; the lease expires by itself.
func TestSyncReleaseLeaseIsBounded(t *testing.T) {
	org := bigOrg(t, 10)
	d := newDirectory(t, org, okta.Config{})
	done := make(chan error, 1)
	go func() {
		_, err := oidcuser.NewSyncer(d, hangingRelease{syncStore(t)}, oidcuser.SyncConfig{Owner: "x"}).Run(context.Background())
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the run did not return within 15s of a hung ReleaseLease")
	}
}

// TestSyncFullPassDeactivatesDeletedPeople: a person deleted from Okta (not
// only deactivated) is never listed again, so only a whole listing can
// notice them; a full pass deactivates their node, within the mass-change
// guard, and an incremental run leaves it alone.
func TestSyncFullPassDeactivatesDeletedPeople(t *testing.T) {
	org := bigOrg(t, 200)
	d := newDirectory(t, org, okta.Config{})
	s := syncStore(t)
	if _, err := runSync(t, d, s, oidcuser.SyncConfig{}); err != nil {
		t.Fatal(err)
	}
	before := activeCount(t, s)
	org.DeleteUsers("00u00011", "00u00012", "00u00013")
	// A node not from the directory stays whatever the listing says.
	if _, _, err := s.CreateUpdateUser(context.Background(), schema.User{UserID: "api@example.com", Email: "api@example.com", FirstName: "A", LastName: "P", IsActive: true}); err != nil {
		t.Fatal(err)
	}
	if rep, err := runSync(t, d, s, oidcuser.SyncConfig{}); err != nil || rep.Deactivated != 0 {
		t.Fatalf("incremental run = %+v, %v: it cannot see deletions and must not guess", rep, err)
	}
	rep, err := runSync(t, d, s, oidcuser.SyncConfig{Full: true})
	if err != nil || rep.Deactivated != 3 {
		t.Fatalf("full run = %+v, %v; want the 3 deleted people deactivated", rep, err)
	}
	if got := activeCount(t, s); got != before-3+1 {
		t.Fatalf("%d active users, want %d", got, before-3+1)
	}
	for _, key := range []string{"user00011@example.com", "user00013@example.com"} {
		if u, err := s.GetUser(context.Background(), key); err != nil || u.IsActive || u.FullName == "" {
			t.Fatalf("%s = %+v, %v; want the node kept, inactive", key, u, err)
		}
	}
	// Deleting a fifth of the people trips the guard instead.
	var ids []string
	for i := 100; i < 140; i++ {
		ids = append(ids, fmt.Sprintf("00u%05d", i))
	}
	org.DeleteUsers(ids...)
	if _, err := runSync(t, d, s, oidcuser.SyncConfig{Full: true}); !errors.Is(err, oidcuser.ErrMassChange) {
		t.Fatalf("full run deleting 40 of ~190: %v, want the mass-change guard", err)
	}
}
