package google_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/usersvc/usersvc/oidcuser/directorytest"
	"github.com/usersvc/usersvc/oidcuser/google"
	"github.com/usersvc/usersvc/testsupport/googleapi"
	"github.com/usersvc/usersvc/testsupport/syncbuffer"
)

// TestMain fails the package when a goroutine outlives its test (token
// fetches, retries and sleeps included).
func TestMain(m *testing.M) {
	code := m.Run()
	if err := goleak.Find(); code == 0 && err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

// adminEmail is the subject: the fixture's administrator.
const adminEmail = "grace.hopper@example.com"

// Backoff settings that keep tests fast; the bounds under test are counts
// of calls, not durations.
const (
	testBackoff    = 5 * time.Millisecond
	testMaxBackoff = 40 * time.Millisecond
)

var (
	keyOnce   sync.Once
	sharedKey *rsa.PrivateKey
)

// serviceAccount registers, on srv, a service account whose key's
// token_uri is srv's token endpoint. The RSA key is made once for the
// package (2048-bit keys are slow to make under -race).
func serviceAccount(t *testing.T, srv *googleapi.Server) *googleapi.ServiceAccount {
	t.Helper()
	keyOnce.Do(func() {
		var err error
		if sharedKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	sa := &googleapi.ServiceAccount{
		ClientEmail:  "usersvc-sync@test-project.iam.gserviceaccount.com",
		ClientID:     "100000000000000000042",
		PrivateKeyID: "0123456789abcdef0123456789abcdef01234567",
		ProjectID:    "test-project",
		Key:          sharedKey,
		TokenURI:     srv.TokenURL(),
	}
	srv.Register(sa)
	return sa
}

// testConfig is a directory over srv with sa's key, pages of two and fast
// backoff.
func testConfig(srv *googleapi.Server, sa *googleapi.ServiceAccount, logs *syncbuffer.Buffer) google.Config {
	cfg := google.Config{
		CredentialsJSON: sa.JSON(),
		Subject:         adminEmail,
		DirectoryURL:    srv.URL(),
		PageSize:        2,
		Timeout:         10 * time.Second,
		Backoff:         testBackoff,
		MaxBackoff:      testMaxBackoff,
	}
	if logs != nil {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return cfg
}

func newDirectory(t *testing.T, cfg google.Config) *google.Directory {
	t.Helper()
	d, err := google.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// googleID is the unique id of the i-th fixture person (Google's ids are
// numeric strings).
func googleID(i int) string { return fmt.Sprintf("1%020d", 1000+i) }

// googlePeople writes the contract's people as Workspace users: the primary
// email is the login (people without one get login@example.com); suspended
// for the inactive; one primary organization with title and department;
// the manager as a relation of type manager whose value is the manager's
// email, as the Admin console records it. Grace is the administrator the
// service account acts as.
//
// Workspace holds an email once, so the twins cannot share one: only the
// first is seeded (directorytest.Env.UniqueEmails).
func googlePeople(people []directorytest.Person) []googleapi.User {
	email := func(p directorytest.Person) string {
		if p.Email == "" {
			return p.Login + "@example.com"
		}
		return p.Email
	}
	byLogin := map[string]directorytest.Person{}
	for _, p := range people {
		byLogin[p.Login] = p
	}
	seen := map[string]bool{}
	users := make([]googleapi.User, 0, len(people))
	for i, p := range people {
		u := googleapi.NewUser(googleID(i), email(p), p.GivenName, p.FamilyName)
		if key := lower(u.PrimaryEmail); seen[key] {
			continue
		}
		seen[lower(u.PrimaryEmail)] = true
		u.Suspended = !p.Active
		u.IsAdmin = u.PrimaryEmail == adminEmail
		if p.Title != "" || p.Department != "" {
			u.Organizations = []googleapi.Organization{{Name: "Example", Title: p.Title, Department: p.Department, Primary: true}}
		}
		if m, ok := byLogin[p.Manager]; ok {
			u.Relations = []googleapi.Relation{{Type: "manager", Value: email(m)}}
		}
		users = append(users, u)
	}
	return users
}
