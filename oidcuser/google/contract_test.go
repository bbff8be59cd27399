package google_test

import (
	"strings"
	"testing"
	"time"

	"github.com/usersvc/usersvc/oidcuser/directorytest"
	"github.com/usersvc/usersvc/testsupport/googleapi"
)

func lower(s string) string { return strings.ToLower(s) }

// TestDirectoryContract runs the directory contract against the Google
// directory over the Directory API test server.
func TestDirectoryContract(t *testing.T) {
	directorytest.Run(t, func(t *testing.T, people []directorytest.Person) directorytest.Env {
		srv := googleapi.New(t)
		srv.AddUsers(googlePeople(people)...)
		sa := serviceAccount(t, srv)
		return directorytest.Env{
			Dir:          newDirectory(t, testConfig(srv, sa, nil)),
			LoginIsEmail: true,
			UniqueEmails: true,
			// Google sends no Retry-After: the directory's own backoff
			// sets the hint, whatever retryAfter says.
			Throttle: func(time.Duration) func() {
				srv.FailNext(1000, googleapi.UserRateLimited)
				return srv.ClearFaults
			},
			Outage: func() func() {
				srv.FailNext(1000, googleapi.Unavailable)
				return srv.ClearFaults
			},
			Calls: func() int { return srv.Count(googleapi.IsAPI) },
		}
	})
}
