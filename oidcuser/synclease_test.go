package oidcuser_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/oidcuser/okta"
	"github.com/usersvc/usersvc/testsupport/oktaapi"
)

// teamsOrg holds n people whose group lists take a while to read, so the
// teams phase (one Okta call per person) outlasts a short lease.
func teamsOrg(t *testing.T, n int) *oktaapi.Server {
	t.Helper()
	org := oktaapi.New(t, oktaapi.WithSSWSToken(ssws))
	for i := range n {
		u := person(i, "ACTIVE", "Dept", syncEpoch.Add(time.Duration(i)*time.Second))
		u.Groups = []oktaapi.Group{{ID: fmt.Sprint("g", i), Name: fmt.Sprint("team-", i%3)}}
		org.AddUsers(u)
	}
	org.SetLatency(25 * time.Millisecond)
	return org
}

func groupCalls(org *oktaapi.Server) int {
	return org.Count(func(r oktaapi.Request) bool { return strings.HasSuffix(r.Path, "/groups") })
}

// waitFor polls cond for up to 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestSyncRenewsTheLeaseThroughTheTeamsPhase: the teams phase lasts about
// three lease TTLs; the lease is renewed throughout, so a second runner
// arriving in the middle of it is turned away.
func TestSyncRenewsTheLeaseThroughTheTeamsPhase(t *testing.T) {
	org := teamsOrg(t, 40)
	d := newDirectory(t, org, okta.Config{})
	s := syncStore(t)
	cfg := oidcuser.SyncConfig{LeaseTTL: 300 * time.Millisecond, TeamPattern: regexp.MustCompile(`^team-(.+)$`), Groups: d}
	done := make(chan error, 1)
	go func() {
		c := cfg
		c.Owner = "first"
		_, err := oidcuser.NewSyncer(d, s, c).Run(context.Background())
		done <- err
	}()
	waitFor(t, "the teams phase to pass one TTL", func() bool { return groupCalls(org) >= 16 }) // ≈ 400ms in
	second := cfg
	second.Owner = "second"
	if _, err := oidcuser.NewSyncer(d, s, second).Run(context.Background()); !errors.Is(err, oidcuser.ErrLeaseHeld) {
		t.Fatalf("second runner mid-teams: %v, want ErrLeaseHeld", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("first run: %v", err)
	}
	if u, err := s.GetUser(context.Background(), "user00004@example.com"); err != nil || u.TeamName != "1" {
		t.Fatalf("synced person = %+v, %v", u, err)
	}
}

// TestSyncStopsWhenItsLeaseIsTaken: a runner whose lease was taken while it
// read group lists stops before writing anyone.
func TestSyncStopsWhenItsLeaseIsTaken(t *testing.T) {
	org := teamsOrg(t, 40)
	d := newDirectory(t, org, okta.Config{})
	s := syncStore(t)
	ctx := context.Background()
	done := make(chan error, 1)
	go func() {
		_, err := oidcuser.NewSyncer(d, s, oidcuser.SyncConfig{Owner: "first", LeaseTTL: 300 * time.Millisecond,
			TeamPattern: regexp.MustCompile(`^team-(.+)$`), Groups: d}).Run(ctx)
		done <- err
	}()
	waitFor(t, "the teams phase", func() bool { return groupCalls(org) >= 2 })
	// An operator frees the lease and another runner takes it.
	if err := s.ReleaseLease(ctx, "okta", "first"); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.AcquireLease(ctx, "okta", "thief", time.Minute); err != nil || !ok {
		t.Fatalf("thief: %v %v", ok, err)
	}
	if err := <-done; !errors.Is(err, oidcuser.ErrLeaseLost) {
		t.Fatalf("run after losing its lease: %v, want ErrLeaseLost", err)
	}
	if n := activeCount(t, s); n != 0 {
		t.Fatalf("%d people written after the lease was lost", n)
	}
}
