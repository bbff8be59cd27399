package entra_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/oidcuser/entra"
	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/entraapi"
)

func people(n int) []entraapi.User {
	users := make([]entraapi.User, n)
	for i := range users {
		mail := fmt.Sprintf("user%02d@example.com", i)
		users[i] = entraapi.NewUser(entraapi.ObjectID(i), mail, mail, "User", fmt.Sprint(i))
	}
	return users
}

// TestTokenCached: one token request serves many lookups, concurrent ones
// included ("the client credentials flow ... the access token is valid for
// expires_in seconds"; a client reuses it).
func TestTokenCached(t *testing.T) {
	tn := newTenant(t, people(5))
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if _, err := lookup(t, tn.dir, fmt.Sprintf("user%02d@example.com", i%5)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := tn.srv.Count(entraapi.IsToken); n != 1 {
		t.Fatalf("%d token requests for 20 lookups, want 1", n)
	}
	for _, r := range tn.srv.Requests() {
		if r.Token && (r.RawQuery != "" || r.Authorization != "") {
			t.Fatalf("token request carried credentials outside the form: query %q, authorization %q", r.RawQuery, r.Authorization)
		}
	}
}

// TestTokenRenewedBeforeExpiry: a token is renewed shortly before
// expires_in runs out, not after.
func TestTokenRenewedBeforeExpiry(t *testing.T) {
	tn := newTenant(t, people(1), entraapi.WithTokenLifetime(time.Hour))
	clock := newFakeClock()
	tn.useClock(clock)
	for range 3 {
		if _, err := lookup(t, tn.dir, "user00@example.com"); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(50 * time.Minute)
	if _, err := lookup(t, tn.dir, "user00@example.com"); err != nil {
		t.Fatal(err)
	}
	if n := tn.srv.Count(entraapi.IsToken); n != 1 {
		t.Fatalf("%d token requests within the token's life, want 1", n)
	}
	clock.Advance(6 * time.Minute) // within the last tenth of the hour
	if _, err := lookup(t, tn.dir, "user00@example.com"); err != nil {
		t.Fatal(err)
	}
	if n := tn.srv.Count(entraapi.IsToken); n != 2 {
		t.Fatalf("%d token requests, want a renewal", n)
	}
}

// TestTokenRefusedIsRenewed: a token Graph refuses before its time (401
// InvalidAuthenticationToken: expired, revoked) is dropped and a new one
// fetched, once.
func TestTokenRefusedIsRenewed(t *testing.T) {
	tn := newTenant(t, people(1))
	if _, err := lookup(t, tn.dir, "user00@example.com"); err != nil {
		t.Fatal(err)
	}
	tn.srv.ExpireTokens()
	if _, err := lookup(t, tn.dir, "user00@example.com"); err != nil {
		t.Fatal(err)
	}
	if n := tn.srv.Count(entraapi.IsToken); n != 2 {
		t.Fatalf("%d token requests, want 2", n)
	}
}

// credentialsRefused checks err is what an operator must act on, and
// carries no secret.
func credentialsRefused(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if !errors.Is(err, oidcuser.ErrDirectoryCredentials) || schema.KindOf(err) != schema.KindUnavailable {
		t.Fatalf("%v, want unavailable wrapping ErrDirectoryCredentials", err)
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("the error text holds a secret: %v", err)
		}
	}
}

// TestWrongSecret: a rotated (or mistyped) client secret is refused by the
// token endpoint with 401 invalid_client, AADSTS7000215 ("Microsoft
// identity platform and the OAuth 2.0 client credentials flow", error
// response; Entra error codes). Lookups and Probe answer an error wrapping
// ErrDirectoryCredentials; neither errors nor logs ever hold the secret.
func TestWrongSecret(t *testing.T) {
	tn := newTenant(t, people(2))
	secret := tn.srv.ClientSecret()
	if _, err := lookup(t, tn.dir, "user00@example.com"); err != nil {
		t.Fatal(err)
	}
	tn.srv.RotateSecret()

	// The cached token still works (as on the real service); Probe asks
	// for a new one and finds out.
	if _, err := lookup(t, tn.dir, "user01@example.com"); err != nil {
		t.Fatal(err)
	}
	err := tn.dir.Probe(context.Background())
	credentialsRefused(t, err, secret)
	if !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Fatalf("%v: want the AADSTS code named", err)
	}

	// A directory started with the wrong secret fails its lookups alike.
	cfg := config(tn.srv, tn.logs)
	cfg.ClientSecret = secret
	dir, err := entra.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	_, err = lookup(t, dir, "user00@example.com")
	credentialsRefused(t, err, secret)

	for _, leaked := range []string{secret, tn.srv.ClientSecret()} {
		if strings.Contains(tn.logs.String(), leaked) {
			t.Fatalf("the logs hold a secret:\n%s", tn.logs.String())
		}
	}
}

func TestProbe(t *testing.T) {
	ctx := context.Background()
	t.Run("ok", func(t *testing.T) {
		tn := newTenant(t, people(3))
		if err := tn.dir.Probe(ctx); err != nil {
			t.Fatal(err)
		}
		for _, r := range tn.srv.Requests() {
			if !r.Token && (r.Query.Get("$top") != "1" || r.Query.Get("$select") != "id") {
				t.Fatalf("probe sent %s?%s, want $top=1&$select=id", r.Path, r.RawQuery)
			}
		}
	})
	t.Run("no permission", func(t *testing.T) {
		// 403 Authorization_RequestDenied: the application lacks
		// User.Read.All (Graph error responses: 403 Forbidden, "The user
		// does not have enough permission").
		tn := newTenant(t, people(1))
		tn.srv.Deny(true)
		err := tn.dir.Probe(ctx)
		credentialsRefused(t, err, tn.srv.ClientSecret())
		_, err = lookup(t, tn.dir, "user00@example.com")
		credentialsRefused(t, err)
	})
	t.Run("unknown tenant or client", func(t *testing.T) {
		tn := newTenant(t, people(1))
		for _, mutate := range []func(*entra.Config){
			func(c *entra.Config) { c.TenantID = "contoso.example" },                      // AADSTS90002
			func(c *entra.Config) { c.ClientID = "00000000-0000-0000-0000-000000000000" }, // AADSTS700016
		} {
			cfg := config(tn.srv, tn.logs)
			mutate(&cfg)
			dir, err := entra.New(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			credentialsRefused(t, dir.Probe(ctx), cfg.ClientSecret)
			_ = dir.Close()
		}
	})
	t.Run("outage", func(t *testing.T) {
		tn := newTenant(t, people(1))
		tn.srv.Outage()
		err := tn.dir.Probe(ctx)
		if schema.KindOf(err) != schema.KindUnavailable || errors.Is(err, oidcuser.ErrDirectoryCredentials) {
			t.Fatalf("%v: want unavailable, not a credentials error", err)
		}
	})
}

func TestConfig(t *testing.T) {
	srv := entraapi.New(t)
	srv.AddUsers(people(1)...)
	ok := func() entra.Config {
		return entra.Config{TenantID: srv.TenantID(), ClientID: srv.ClientID(), ClientSecret: srv.ClientSecret(),
			GraphURL: srv.GraphURL(), LoginURL: srv.LoginURL()}
	}
	secret := srv.ClientSecret()
	for _, tc := range []struct {
		name   string
		mutate func(*entra.Config)
		want   string // "" for valid
	}{
		{"valid", func(*entra.Config) {}, ""},
		{"secret file with a newline", func(c *entra.Config) { c.ClientSecret += "\n" }, ""},
		{"trailing slashes", func(c *entra.Config) { c.GraphURL += "/"; c.LoginURL += "//" }, ""},
		{"no tenant", func(c *entra.Config) { c.TenantID = " " }, "ENTRA_TENANT_ID"},
		{"tenant with a slash", func(c *entra.Config) { c.TenantID = "common/../x" }, "ENTRA_TENANT_ID"},
		{"no client", func(c *entra.Config) { c.ClientID = "" }, "ENTRA_CLIENT_ID"},
		{"no secret", func(c *entra.Config) { c.ClientSecret = "\n" }, "ENTRA_CLIENT_SECRET_FILE"},
		{"http graph", func(c *entra.Config) { c.GraphURL = "http://graph.microsoft.com" }, "ENTRA_GRAPH_URL"},
		{"graph with a query", func(c *entra.Config) { c.GraphURL = "https://graph.microsoft.com/?x=1" }, "ENTRA_GRAPH_URL"},
		{"graph with credentials", func(c *entra.Config) { c.GraphURL = "https://u:" + secret + "@graph.microsoft.com" }, "ENTRA_GRAPH_URL"},
		{"graph not a URL", func(c *entra.Config) { c.GraphURL = "graph.microsoft.com" }, "ENTRA_GRAPH_URL"},
		{"http login", func(c *entra.Config) { c.LoginURL = "http://login.microsoftonline.com" }, "ENTRA_LOGIN_URL"},
		{"ftp login", func(c *entra.Config) { c.LoginURL = "ftp://127.0.0.1" }, "ENTRA_LOGIN_URL"},
		{"page too large", func(c *entra.Config) { c.PageSize = 1000 }, "page size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok()
			tc.mutate(&cfg)
			dir, err := entra.New(context.Background(), cfg)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				defer dir.Close()
				if _, err := lookup(t, dir, "user00@example.com"); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") || strings.Contains(msg, secret) {
				t.Fatalf("%q: want one line naming %s, without the secret", msg, tc.want)
			}
		})
	}
	t.Run("defaults", func(t *testing.T) {
		// The public cloud's hosts; no call is made by New.
		dir, err := entra.New(context.Background(), entra.Config{TenantID: "contoso.onmicrosoft.com", ClientID: "c", ClientSecret: "s"})
		if err != nil {
			t.Fatal(err)
		}
		_ = dir.Close()
	})
}
