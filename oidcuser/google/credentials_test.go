package google_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/oidcuser/directorytest"
	"github.com/usersvc/usersvc/oidcuser/google"
	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/googleapi"
	"github.com/usersvc/usersvc/testsupport/syncbuffer"
)

// seeded is a test server holding the contract's people.
func seeded(t *testing.T, opts ...googleapi.Option) *googleapi.Server {
	t.Helper()
	srv := googleapi.New(t, opts...)
	srv.AddUsers(googlePeople(directorytest.People())...)
	return srv
}

func ctxTimeout(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wantCredentials checks err is a refusal of usersvc's credentials: 503
// with a Retry-After, wrapping oidcuser.ErrDirectoryCredentials, with
// hint in its text.
func wantCredentials(t *testing.T, what string, err error, hint string) {
	t.Helper()
	var se *schema.Error
	if !errors.Is(err, oidcuser.ErrDirectoryCredentials) || !errors.As(err, &se) || se.Kind != schema.KindUnavailable || se.RetryAfter <= 0 {
		t.Fatalf("%s: %v; want unavailable wrapping ErrDirectoryCredentials", what, err)
	}
	t.Logf("%s: %v", what, err)
	if !strings.Contains(err.Error(), hint) {
		t.Fatalf("%s: %q does not say %q", what, err, hint)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Fatalf("%s: %q is not one line", what, err)
	}
}

// TestCredentialsRefused: a key Google does not know or whose signature
// fails, domain-wide delegation not granted (the token endpoint's
// unauthorized_client), and a subject without the right to read users
// (the API's 403) come back as ErrDirectoryCredentials from Probe and from
// lookups, after one token call each (never retried), and the key shows in
// no error and no log line.
func TestCredentialsRefused(t *testing.T) {
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, srv *googleapi.Server, sa *googleapi.ServiceAccount) google.Config
		hint  string
		// apiCalls is how many API calls the four requests make in all.
		apiCalls int
	}{
		{"delegation not granted", func(t *testing.T, srv *googleapi.Server, sa *googleapi.ServiceAccount) google.Config {
			srv.SetDelegation(false)
			return testConfig(srv, sa, nil)
		}, "unauthorized_client", 0},
		{"delegation granted for another scope", func(t *testing.T, srv *googleapi.Server, sa *googleapi.ServiceAccount) google.Config {
			srv.Register(sa, "https://www.googleapis.com/auth/admin.directory.group.readonly")
			return testConfig(srv, sa, nil)
		}, "domain-wide delegation", 0},
		{"a key Google does not know", func(t *testing.T, srv *googleapi.Server, sa *googleapi.ServiceAccount) google.Config {
			stranger := *sa
			stranger.ClientEmail = "deleted@test-project.iam.gserviceaccount.com"
			cfg := testConfig(srv, &stranger, nil)
			return cfg
		}, "invalid_grant", 0},
		{"a key that is not the account's", func(t *testing.T, srv *googleapi.Server, sa *googleapi.ServiceAccount) google.Config {
			forged := *sa
			forged.Key = otherKey
			return testConfig(srv, &forged, nil)
		}, "invalid_grant", 0},
		{"a subject that is not a user", func(t *testing.T, srv *googleapi.Server, sa *googleapi.ServiceAccount) google.Config {
			cfg := testConfig(srv, sa, nil)
			cfg.Subject = "nobody@example.com"
			return cfg
		}, "GOOGLE_ADMIN_SUBJECT", 0},
		{"a subject that is no administrator", func(t *testing.T, srv *googleapi.Server, sa *googleapi.ServiceAccount) google.Config {
			cfg := testConfig(srv, sa, nil)
			cfg.Subject = "ada.lovelace@example.com"
			return cfg
		}, "GOOGLE_ADMIN_SUBJECT must be an administrator", 6}, // probe; users.get and a probe for each lookup; the listing's page
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := seeded(t)
			sa := serviceAccount(t, srv)
			var logs syncbuffer.Buffer
			cfg := tt.setup(t, srv, sa)
			cfg.Logger = testConfig(srv, sa, &logs).Logger
			d := newDirectory(t, cfg)
			ctx := ctxTimeout(t)

			perr := d.Probe(ctx)
			wantCredentials(t, "probe", perr, tt.hint)
			_, lerr := d.LookupUser(ctx, "ada.lovelace@example.com")
			wantCredentials(t, "lookup", lerr, tt.hint)
			_, ierr := d.LookupByID(ctx, googleID(0))
			wantCredentials(t, "lookup by id", ierr, tt.hint)
			lsErr := d.ListUsers(ctx, oidcuser.ListQuery{}, func([]oidcuser.Person) error { return nil })
			wantCredentials(t, "listing", lsErr, tt.hint)

			tokens, api := srv.Count(googleapi.IsToken), srv.Count(googleapi.IsAPI)
			if tt.apiCalls == 0 && (tokens != 4 || api != 0) {
				t.Fatalf("%d token and %d API calls; want one token call per request, never retried, and no API call", tokens, api)
			}
			if tt.apiCalls > 0 && (tokens != 1 || api != tt.apiCalls) {
				t.Fatalf("%d token and %d API calls; want 1 and %d", tokens, api, tt.apiCalls)
			}
			lines := keyLines(t, sa)
			for _, err := range []error{perr, lerr, ierr, lsErr} {
				assertNoKey(t, "an error", err.Error(), lines)
			}
			if !strings.Contains(logs.String(), "google directory call failed") {
				t.Fatalf("nothing logged: %q", logs.String())
			}
			assertNoKey(t, "the log", logs.String(), lines)
		})
	}
}

// TestTokenRecovery: a token the API stops taking (401) is dropped and the
// next call fetches another; a token endpoint that is down is unavailable,
// not a credentials refusal, and recovers.
func TestTokenRecovery(t *testing.T) {
	srv := seeded(t)
	sa := serviceAccount(t, srv)
	var logs syncbuffer.Buffer
	d := newDirectory(t, testConfig(srv, sa, &logs))
	defer func() { assertNoKey(t, "the log", logs.String(), keyLines(t, sa)) }()
	ctx := ctxTimeout(t)
	if err := d.Probe(ctx); err != nil {
		t.Fatal(err)
	}
	srv.RevokeTokens()
	_, err := d.LookupUser(ctx, "ada.lovelace@example.com")
	wantCredentials(t, "lookup with a revoked token", err, "401")
	if _, err := d.LookupUser(ctx, "ada.lovelace@example.com"); err != nil {
		t.Fatalf("after a new token: %v", err)
	}
	if n := srv.Count(googleapi.IsToken); n != 2 {
		t.Fatalf("%d token calls, want 2", n)
	}

	srv.RevokeTokens()
	srv.FailTokens(100, googleapi.Unavailable)
	_, err = d.LookupUser(ctx, "grace.hopper@example.com") // 401: the token is dropped
	wantCredentials(t, "lookup with a revoked token", err, "401")
	_, err = d.LookupUser(ctx, "grace.hopper@example.com") // a token endpoint that fails
	if schema.KindOf(err) != schema.KindUnavailable || errors.Is(err, oidcuser.ErrDirectoryCredentials) {
		t.Fatalf("token endpoint down: %v; want unavailable, not a credentials refusal", err)
	}
	srv.ClearFaults()
	if _, err := d.LookupUser(ctx, "grace.hopper@example.com"); err != nil {
		t.Fatalf("after the token endpoint recovered: %v", err)
	}
}

// TestTokenShared: concurrent lookups share one token fetch, and a token is
// reused until it nears its expiry.
func TestTokenShared(t *testing.T) {
	srv := seeded(t)
	sa := serviceAccount(t, srv)
	d := newDirectory(t, testConfig(srv, sa, nil))
	ctx := ctxTimeout(t)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := d.LookupUser(ctx, "ada.lovelace@example.com")
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.Count(googleapi.IsToken); n != 1 {
		t.Fatalf("%d token calls for 8 concurrent lookups, want 1", n)
	}
	// The assertion the server verified carried the subject and the scope:
	// the API answered, which it does only for the admin's token with the
	// users scope.
	for _, r := range srv.Requests() {
		if googleapi.IsAPI(r) && !strings.HasPrefix(r.Authorization, "Bearer ya29.test-") {
			t.Fatalf("API call without the token: %q", r.Authorization)
		}
	}
}
