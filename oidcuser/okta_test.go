package oidcuser_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/oidcuser/okta"
	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/oktaapi"
)

const ssws = "00test-ssws-token"

// isolateSDK points every OKTA_* variable the SDK reads at something wrong,
// so a test passes only if usersvc sets every setting itself.
func isolateSDK(t *testing.T) {
	t.Helper()
	for k, v := range map[string]string{
		"OKTA_CLIENT_ORGURL":               "http://127.0.0.1:1",
		"OKTA_CLIENT_TOKEN":                "stray-token",
		"OKTA_CLIENT_AUTHORIZATIONMODE":    "PrivateKey",
		"OKTA_CLIENT_CLIENTID":             "stray-client",
		"OKTA_CLIENT_CACHE_ENABLED":        "true",
		"OKTA_CLIENT_PROXY_HOST":           "127.0.0.1",
		"OKTA_CLIENT_PROXY_PORT":           "1",
		"OKTA_CLIENT_RATELIMIT_MAXRETRIES": "5",
		"OKTA_CLIENT_REQUESTTIMEOUT":       "1",
	} {
		t.Setenv(k, v)
	}
	t.Setenv("HOME", t.TempDir())
}

// people is the shared fixture org.
func people() []oktaapi.User {
	return []oktaapi.User{
		oktaapi.NewUser("00u1ada", "ada.lovelace+data@example.com", "ada.lovelace+data@example.com", "Ada", "Lovelace", "ACTIVE").
			With(map[string]any{"title": "Analyst", "department": "Data", "userType": "Employee", "manager": "Charles Babbage", "managerId": "00u0cb"}),
		oktaapi.NewUser("00u2grace", "ghopper", "grace.hopper@example.com", "Grace", "Hopper", "ACTIVE"),
		oktaapi.NewUser("00u3gone", "gone@example.com", "gone@example.com", "Gone", "Away", "DEPROVISIONED"),
		oktaapi.NewUser("00u4sus", "paused@example.com", "paused@example.com", "Paused", "Person", "SUSPENDED"),
		oktaapi.NewUser("00u5twin", "twin-a", "shared@example.com", "Twin", "A", "ACTIVE"),
		oktaapi.NewUser("00u6twin", "twin-b", "Shared@Example.com", "Twin", "B", "ACTIVE"),
		oktaapi.NewUser("00u7quote", `odd"quote\back@example.com`, `odd"quote\back@example.com`, "Odd", "Quote", "ACTIVE"),
		oktaapi.NewUser("00u8uni", "élodie@exemple.fr", "élodie@exemple.fr", "Élodie", "Dupré", "ACTIVE"),
	}
}

func newOrg(t *testing.T, opts ...oktaapi.Option) *oktaapi.Server {
	t.Helper()
	org := oktaapi.New(t, append([]oktaapi.Option{oktaapi.WithSSWSToken(ssws)}, opts...)...)
	org.AddUsers(people()...)
	return org
}

func newDirectory(t *testing.T, org *oktaapi.Server, cfg okta.Config) *okta.Directory {
	t.Helper()
	isolateSDK(t)
	cfg.OrgURL = org.URL() + "/" // a trailing slash must not break paths
	cfg.DisableHTTPSCheck = true
	if cfg.AuthorizationMode == "" {
		cfg.Token = ssws
	}
	if cfg.Transport == nil {
		cfg.Transport = oidcuser.NewBudget(nil, oidcuser.BudgetConfig{})
	}
	d, err := okta.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func lookup(t *testing.T, d oidcuser.Directory, id string) (schema.User, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return d.LookupUser(ctx, id)
}

func TestOktaProfileMapping(t *testing.T) {
	org := newOrg(t)
	d := newDirectory(t, org, okta.Config{})
	u, err := lookup(t, d, "ada.lovelace+data@example.com")
	if err != nil {
		t.Fatal(err)
	}
	want := schema.User{
		UserID: "ada.lovelace+data@example.com", Email: "ada.lovelace+data@example.com", FirstName: "Ada", LastName: "Lovelace",
		FullName: "Ada Lovelace", DisplayName: "Ada Lovelace", RoleName: "Analyst", TeamName: "Data", EmployeeType: "Employee",
		ManagerFullname: "Charles Babbage", ManagerID: "00u0cb", ProfileURL: org.URL() + "/api/v1/users/00u1ada", IsActive: true,
		OtherKeyValues: map[string]string{"okta_id": "00u1ada"},
	}
	got, _ := u.MarshalJSON()
	exp, _ := want.MarshalJSON()
	if string(got) != string(exp) {
		t.Fatalf("\n got %s\nwant %s", got, exp)
	}
}

func pemPKCS1(t *testing.T, k *rsa.PrivateKey) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
}

func pemPKCS8(t *testing.T, k crypto.PrivateKey) string {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func TestOktaPrivateKeyMode(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	tests := []struct {
		name string
		pub  crypto.PublicKey
		pem  string
		ok   bool
	}{
		{"PKCS#1 RSA", rsaKey.Public(), pemPKCS1(t, rsaKey), true},
		{"PKCS#8 RSA", rsaKey.Public(), pemPKCS8(t, rsaKey), true},
		{"PKCS#8 RSA with literal \\n", rsaKey.Public(), strings.ReplaceAll(pemPKCS8(t, rsaKey), "\n", `\n`), true},
		{"PKCS#8 EC", ecKey.Public(), pemPKCS8(t, ecKey), true},
		{"wrong key", rsaKey.Public(), pemPKCS8(t, otherKey), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			org := oktaapi.New(t, oktaapi.WithPrivateKeyClient("0oa-usersvc", tt.pub))
			org.AddUsers(people()...)
			d := newDirectory(t, org, okta.Config{AuthorizationMode: "PrivateKey", ClientID: "0oa-usersvc",
				PrivateKey: tt.pem, PrivateKeyID: "key-1", Scopes: []string{"okta.users.read"}})
			u, err := lookup(t, d, "ghopper")
			if tt.ok && (err != nil || u.Email != "grace.hopper@example.com") {
				t.Fatalf("lookup = %+v, %v", u, err)
			}
			if !tt.ok && schema.KindOf(err) != schema.KindUnavailable {
				t.Fatalf("wrong key: err = %v, want unavailable", err)
			}
			if tt.ok && org.Count(func(r oktaapi.Request) bool { return strings.HasPrefix(r.Authorization, "Bearer at.") }) == 0 {
				t.Fatal("API calls did not carry the issued access token")
			}
		})
	}
	if err := okta.ValidatePrivateKey("not a pem"); err == nil {
		t.Fatal("garbage accepted as a private key")
	}
}

func TestOktaFailuresAreUnavailable(t *testing.T) {
	tests := []struct {
		name  string
		fault func(*oktaapi.Server)
	}{
		{"500", func(s *oktaapi.Server) { s.FailNext(5, http.StatusInternalServerError) }},
		{"503", func(s *oktaapi.Server) { s.FailNext(5, http.StatusServiceUnavailable) }},
		{"malformed JSON", func(s *oktaapi.Server) { s.MalformNext(5) }},
		{"dropped connection", func(s *oktaapi.Server) { s.DropNext(5) }},
		{"hangs past the deadline", func(s *oktaapi.Server) { s.HangNext(5) }},
		{"slow (5s)", func(s *oktaapi.Server) { s.SetLatency(5 * time.Second) }},
		{"down", func(s *oktaapi.Server) { s.Close() }},
		{"bad credentials", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			org := newOrg(t)
			cfg := okta.Config{}
			if tt.fault == nil {
				cfg = okta.Config{AuthorizationMode: "SSWS", Token: "revoked"}
			} else {
				tt.fault(org)
			}
			d := newDirectory(t, org, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := d.LookupUser(ctx, "ghopper")
			var e *schema.Error
			if schema.KindOf(err) != schema.KindUnavailable || !errors.As(err, &e) || e.RetryAfter <= 0 {
				t.Fatalf("err = %v, want unavailable with a retry hint", err)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Fatalf("took %s, want the caller's deadline to bound it", took)
			}
		})
	}
}

func TestOktaRateLimitStopsCalling(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	org := newOrg(t, oktaapi.WithClock(clock), oktaapi.WithRateLimits(3, 600))
	d := newDirectory(t, org, okta.Config{Transport: oidcuser.NewBudget(nil, oidcuser.BudgetConfig{Reserve: 0, Now: clock})})
	for i := range 3 {
		if _, err := lookup(t, d, "ghopper"); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	before := len(org.Requests())
	_, err := lookup(t, d, "ghopper")
	var e *schema.Error
	if schema.KindOf(err) != schema.KindUnavailable || !errors.As(err, &e) || e.RetryAfter <= 0 || e.RetryAfter > time.Minute {
		t.Fatalf("past the limit: %v", err)
	}
	if got := len(org.Requests()) - before; got != 0 {
		t.Fatalf("%d calls reached Okta after the window was spent", got)
	}
}
