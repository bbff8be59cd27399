package entra_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/usersvc/usersvc/oidcuser/directorytest"
	"github.com/usersvc/usersvc/oidcuser/entra"
	"github.com/usersvc/usersvc/testsupport/entraapi"
	"github.com/usersvc/usersvc/testsupport/syncbuffer"
)

// tenant is a test tenant and the directory over it.
type tenant struct {
	srv  *entraapi.Server
	dir  *entra.Directory
	logs *syncbuffer.Buffer
}

// config is the directory's configuration for srv, as cmd/usersvc would
// build it from ENTRA_* (page size 2, so a handful of people spans pages).
func config(srv *entraapi.Server, logs *syncbuffer.Buffer) entra.Config {
	return entra.Config{
		TenantID:     srv.TenantID(),
		ClientID:     srv.ClientID(),
		ClientSecret: srv.ClientSecret(),
		GraphURL:     srv.GraphURL(),
		LoginURL:     srv.LoginURL(),
		PageSize:     2,
		Timeout:      5 * time.Second,
		Logger:       slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

func newTenant(t *testing.T, users []entraapi.User, opts ...entraapi.Option) *tenant {
	t.Helper()
	srv := entraapi.New(t, opts...)
	srv.AddUsers(users...)
	logs := &syncbuffer.Buffer{}
	dir, err := entra.New(context.Background(), config(srv, logs))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dir.Close() })
	// Backoffs without a Retry-After are short in tests; Retry-After
	// hints are honoured as Graph sends them (whole seconds).
	dir.SetRetryBase(10 * time.Millisecond)
	return &tenant{srv: srv, dir: dir, logs: logs}
}

// entraUsers writes the contract's people as Entra users. The login is
// the userPrincipalName, which in Entra has the shape of an email and is
// usually the person's address: every fixture person has an email, so it
// is their UPN (LoginIsEmail). UPNs are unique in a tenant, so the twins,
// who share one address, cannot both have it as UPN: only the first is
// seeded (UniqueEmails; the contract then skips the shared-email
// conflict, which TestSharedMailConflict covers with two people whose
// mail is shared and whose UPNs differ). Disabled people have
// accountEnabled false; the manager is the manager navigation property.
func entraUsers(people []directorytest.Person) []entraapi.User {
	ids := map[string]string{}
	for i, p := range people {
		ids[p.Login] = entraapi.ObjectID(i)
	}
	users := make([]entraapi.User, 0, len(people))
	seen := map[string]bool{}
	for i, p := range people {
		upn := p.Email
		if upn == "" {
			upn = p.Login + "@example.com"
		}
		if seen[strings.ToLower(upn)] {
			continue
		}
		seen[strings.ToLower(upn)] = true
		u := entraapi.NewUser(entraapi.ObjectID(i), upn, p.Email, p.GivenName, p.FamilyName)
		u.JobTitle, u.Department, u.AccountEnabled = p.Title, p.Department, p.Active
		u.ManagerID = ids[p.Manager]
		users = append(users, u)
	}
	return users
}

func TestDirectoryContract(t *testing.T) {
	directorytest.Run(t, func(t *testing.T, people []directorytest.Person) directorytest.Env {
		tn := newTenant(t, entraUsers(people))
		return directorytest.Env{
			Dir:          tn.dir,
			LoginIsEmail: true,
			UniqueEmails: true,
			Throttle: func(retryAfter time.Duration) func() {
				tn.srv.Throttle(retryAfter)
				return tn.srv.ClearFaults
			},
			Outage: func() func() {
				tn.srv.Outage()
				return tn.srv.ClearFaults
			},
			Calls: tn.srv.Calls,
		}
	})
}
