package oidcuser_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/oidcuser/okta"
	"github.com/usersvc/usersvc/testsupport/oktaapi"
)

// TestSyncFailedPageFailsTheRun: a page that still fails after its retries,
// at any position of the listing, fails the run before anything is written
// and leaves the saved state where it was; the next run then imports every
// change made during the outage. (The old loop dropped a failed page after
// the first one and saved the partial listing as complete.)
func TestSyncFailedPageFailsTheRun(t *testing.T) {
	const people, pages = 600, 3 // the directory pages by 200
	org := bigOrg(t, people)
	d := newDirectory(t, org, okta.Config{BatchBackoff: 5 * time.Millisecond})
	s := syncStore(t)
	ctx := context.Background()
	if _, err := runSync(t, d, s, oidcuser.SyncConfig{}); err != nil {
		t.Fatal(err)
	}
	faults := []struct {
		name  string
		fault oktaapi.PageFault
	}{{"503", oktaapi.PageUnavailable}, {"dropped connection", oktaapi.PageDropped}, {"malformed body", oktaapi.PageMalformed}}
	changeAt := syncEpoch.Add(time.Hour)
	round := 0
	for _, f := range faults {
		for k := 1; k <= pages; k++ {
			round++
			// During the outage everyone moves team and one person on the
			// last page leaves: a listing of all three pages.
			team := fmt.Sprintf("Round%d", round)
			leaver := people - 1 - round
			for i := range people {
				status := "ACTIVE"
				if i == leaver {
					status = "DEPROVISIONED"
				}
				changeAt = changeAt.Add(time.Second)
				org.AddUsers(person(i, status, team, changeAt))
			}
			before, err := s.GetSyncState(ctx, "okta")
			if err != nil {
				t.Fatal(err)
			}
			org.FailPage(k, f.fault)
			rep, err := runSync(t, d, s, oidcuser.SyncConfig{})
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("page %d:", k)) {
				t.Fatalf("%s on page %d: run error %v, want a failure naming page %d", f.name, k, err, k)
			}
			if rep.Created+rep.Updated+rep.Unchanged != 0 {
				t.Fatalf("%s on page %d: %+v written before the listing was whole", f.name, k, rep)
			}
			if after, _ := s.GetSyncState(ctx, "okta"); after != before {
				t.Fatalf("%s on page %d: state moved from %+v to %+v", f.name, k, before, after)
			}

			org.FailPage(0, 0)
			if _, err := runSync(t, d, s, oidcuser.SyncConfig{}); err != nil {
				t.Fatalf("%s on page %d: recovery run: %v", f.name, k, err)
			}
			for i := range people {
				u, err := s.GetUser(ctx, fmt.Sprintf("user%05d@example.com", i))
				if err != nil || u.TeamName != team || u.IsActive == (i == leaver) {
					t.Fatalf("%s on page %d: after recovery person %d = %+v, %v; want team %s, active %v",
						f.name, k, i, u, err, team, i != leaver)
				}
			}
			if st, _ := s.GetSyncState(ctx, "okta"); !st.Complete || !st.Watermark.Equal(changeAt) {
				t.Fatalf("%s on page %d: state after recovery %+v, want complete at %s", f.name, k, st, changeAt)
			}
		}
	}
}
