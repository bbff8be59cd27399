package ldap_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/oidcuser/directorytest"
	"github.com/usersvc/usersvc/oidcuser/ldap"
	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/slapd"
	"github.com/usersvc/usersvc/testsupport/syncbuffer"
	"github.com/usersvc/usersvc/testsupport/tcpproxy"
)

var grace = directorytest.Person{Login: "ghopper", Email: "grace.hopper@example.com", GivenName: "Grace", FamilyName: "Hopper", Title: "Rear Admiral", Department: "Navy", Active: true}

func lookup(t *testing.T, d oidcuser.Directory, id string) (schema.User, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return d.LookupUser(ctx, id)
}

// TLS (RFC 4511 section 4.14 StartTLS, and ldaps://) verifies the
// server's certificate against LDAP_CA_FILE: the test CA passes, an
// unrelated CA is refused, and so are the system roots.
func TestTLS(t *testing.T) {
	srv := slapd.Start(t, slapd.WithTLS())
	srv.Add(t, openLDAPEntries(srv, []directorytest.Person{grace})...)
	for _, tc := range []struct {
		name     string
		url      string
		startTLS bool
	}{
		{"ldaps", srv.LDAPSURL, false},
		{"StartTLS", srv.URL, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := rootConfig(srv, tc.url, "")
			cfg.StartTLS, cfg.CAFile = tc.startTLS, srv.CAFile
			d := newDir(t, cfg)
			if err := d.Probe(context.Background()); err != nil {
				t.Fatal(err)
			}
			if u, err := lookup(t, d, "ghopper"); err != nil || u.Email != grace.Email {
				t.Fatalf("%+v, %v", u, err)
			}
			var people int
			if err := d.ListUsers(context.Background(), oidcuser.ListQuery{}, func(p []oidcuser.Person) error { people += len(p); return nil }); err != nil || people != 1 {
				t.Fatalf("listed %d: %v", people, err)
			}
			for name, ca := range map[string]string{"an unrelated CA": slapd.OtherCA(t), "the system roots": ""} {
				cfg.CAFile = ca
				d := newDir(t, cfg)
				err := d.Probe(context.Background())
				var unknown x509.UnknownAuthorityError
				var verify *tls.CertificateVerificationError
				if schema.KindOf(err) != schema.KindUnavailable || !strings.Contains(err.Error(), "LDAP_CA_FILE") ||
					!(errors.As(err, &unknown) || errors.As(err, &verify)) {
					t.Fatalf("with %s: %v; want the certificate refused", name, err)
				}
				if _, err := lookup(t, d, "ghopper"); !strings.Contains(fmt.Sprint(err), "LDAP_CA_FILE") {
					t.Fatalf("lookup with %s: %v", name, err)
				}
			}
		})
	}
	// StartTLS really ran: slapd logged the extended operation.
	if !strings.Contains(srv.Output(), "1.3.6.1.4.1.1466.20037") {
		t.Fatal("slapd saw no StartTLS request")
	}
}

// A refused bind (RFC 4511 section 4.2.2: invalidCredentials, 49) is
// usersvc's credentials: every call fails unavailable, wrapping
// oidcuser.ErrDirectoryCredentials, and the password appears in no error
// and no log line.
func TestBadCredentials(t *testing.T) {
	srv := slapd.Start(t)
	srv.Add(t, openLDAPEntries(srv, []directorytest.Person{grace})...)
	const password = "Wr0ng-Pa55word-7f3c"
	var logs syncbuffer.Buffer
	cfg := rootConfig(srv, srv.URL, "")
	cfg.BindPassword = password
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d := newDir(t, cfg)
	ctx := context.Background()
	_, lookupErr := d.LookupUser(ctx, "ghopper")
	_, idErr := d.LookupByID(ctx, "00000000-0000-0000-0000-000000000000")
	for name, err := range map[string]error{
		"probe":  d.Probe(ctx),
		"lookup": lookupErr,
		"by id":  idErr,
		"list":   d.ListUsers(ctx, oidcuser.ListQuery{}, func([]oidcuser.Person) error { return nil }),
	} {
		var e *schema.Error
		if !errors.Is(err, oidcuser.ErrDirectoryCredentials) || !errors.As(err, &e) || e.Kind != schema.KindUnavailable || e.RetryAfter <= 0 {
			t.Errorf("%s: %v; want unavailable with a retry-after, wrapping ErrDirectoryCredentials", name, err)
			continue
		}
		if strings.Contains(err.Error(), password) || strings.Contains(e.Message, password) {
			t.Errorf("%s: the error shows the password: %v", name, err)
		}
		if !strings.Contains(e.Message, "LDAP_BIND_PASSWORD_FILE") {
			t.Errorf("%s: %q names no setting to check", name, e.Message)
		}
	}
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), logs.String()} {
		if strings.Contains(s, password) {
			t.Fatalf("the password shows in %q", s)
		}
	}
	var out syncbuffer.Buffer
	slog.New(slog.NewTextHandler(&out, nil)).Info("config", "ldap", cfg)
	if strings.Contains(out.String(), password) || !strings.Contains(out.String(), "redacted") {
		t.Fatalf("logged config: %s", out.String())
	}
}

// Every value usersvc is asked about is escaped (RFC 4515 section 3:
// '*', '(', ')', '\' and NUL as \XX): logins holding the metacharacters
// are found by exactly their value, and ids made of metacharacters,
// escapes and NUL match nothing else.
func TestFilterEscaping(t *testing.T) {
	srv := slapd.Start(t)
	odd := []directorytest.Person{
		{Login: "*", Email: "star@example.com", GivenName: "Star", FamilyName: "Only", Active: true},
		{Login: `a*(b)\c`, Email: "meta@example.com", GivenName: "Meta", FamilyName: "Chars", Active: true},
		{Login: "plain", Email: "plain@example.com", GivenName: "Plain", FamilyName: "Person", Active: true},
	}
	srv.Add(t, openLDAPEntries(srv, odd)...)
	d := newDir(t, rootConfig(srv, srv.URL, ""))
	for _, p := range odd {
		u, err := lookup(t, d, p.Login)
		if err != nil || u.Email != p.Email {
			t.Fatalf("%q: %+v, %v", p.Login, u, err)
		}
	}
	for _, id := range []string{
		`\2a`, // the escaped form of "*" is a value of three characters
		"a*", "a*(b)*", `a*(b)\5cc`, "pla*", "*)(uid=*", "*)(|(uid=*", "plain)(uid=*",
		"plain\x00", "\x00", "pl\x00ain", `\00`, "(", ")", `\`, "plain\xff", "",
	} {
		if _, err := lookup(t, d, id); schema.KindOf(err) != schema.KindNotFound {
			t.Errorf("%q: %v, want not found", id, err)
		}
	}
	// The AD flavor's binary id: GUID bytes that are metacharacters
	// ('(' ')' '*' '\' NUL) are escaped like the rest.
}

// AD: the ACCOUNTDISABLE bit (0x2) of userAccountControl, whatever the
// other flags, makes a person inactive (Microsoft: "UserAccountControl
// property flags"); lookups by sAMAccountName and userPrincipalName find
// them; a computer account is never a person; objectGUID is the id,
// written in the GUID string form, and found again by it.
func TestActiveDirectory(t *testing.T) {
	srv := slapd.Start(t)
	accounts := []struct {
		login string
		uac   int
	}{
		{"normal", uacNormalAccount},
		{"disabled", uacNormalAccount | uacAccountDisable},
		{"noexpiry", uacNormalAccount | uacDontExpire},
		{"noexpiry-disabled", uacNormalAccount | uacDontExpire | uacAccountDisable},
		{"lockedout", uacNormalAccount | 0x10}, // LOCKOUT: a lockout is not a departure
	}
	var people []directorytest.Person
	for _, a := range accounts {
		people = append(people, directorytest.Person{Login: a.login, Email: a.login + "@example.com", GivenName: "Account", FamilyName: a.login, Active: true})
	}
	entries := adEntries(srv, people)
	for i, a := range accounts {
		entries[i].Attrs["userAccountControl"] = []string{fmt.Sprint(a.uac)}
	}
	// One GUID made of filter metacharacters and NUL.
	odd := []byte{0x2a, 0x28, 0x29, 0x5c, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0xff}
	entries[0].Attrs["objectGUID"] = []string{string(odd)}
	srv.Add(t, entries...)
	d := newDir(t, rootConfig(srv, srv.URL, ldap.FlavorAD))

	for _, a := range accounts {
		u, err := lookup(t, d, a.login)
		if err != nil {
			t.Fatal(err)
		}
		if want := a.uac&uacAccountDisable == 0; u.IsActive != want {
			t.Errorf("%s (userAccountControl %#x): active %v, want %v", a.login, a.uac, u.IsActive, want)
		}
	}
	u, err := lookup(t, d, "NoExpiry@Corp.Example.Com") // the userPrincipalName, in another case
	if err != nil || u.UserID != "noexpiry" || u.Key() != "noexpiry@example.com" {
		t.Fatalf("by userPrincipalName: %+v, %v", u, err)
	}
	for _, id := range []string{"WS01$", "ws01@example.com", "WS01"} {
		if _, err := lookup(t, d, id); schema.KindOf(err) != schema.KindNotFound {
			t.Errorf("the computer account by %q: %v", id, err)
		}
	}

	// objectGUID bytes 2a 28 29 5c | 00 01 | 02 03 | 04 05 ... ff: the
	// first three fields are little-endian (Data1, Data2, Data3 of a
	// Windows GUID), the last eight bytes are as stored.
	const guid = "5c29282a-0100-0302-0405-060708090aff"
	u, err = lookup(t, d, "normal")
	if err != nil || u.OtherKeyValues[schema.DirectoryIDProperty] != guid {
		t.Fatalf("id %q (%v), want %s", u.OtherKeyValues[schema.DirectoryIDProperty], err, guid)
	}
	for _, id := range []string{guid, strings.ToUpper(guid), "{" + guid + "}"} {
		byID, err := d.LookupByID(context.Background(), id)
		if err != nil || byID.UserID != "normal" {
			t.Fatalf("LookupByID(%q): %+v, %v", id, byID, err)
		}
	}
	for _, id := range []string{"5c29282a-0100-0302-0405-060708090afe", "*", "5c29282a*", "not-a-guid", ""} {
		if _, err := d.LookupByID(context.Background(), id); schema.KindOf(err) != schema.KindNotFound {
			t.Errorf("LookupByID(%q): %v, want not found", id, err)
		}
	}
}

// OpenLDAP's id is entryUUID (RFC 4530), any case; a person's lastUpdated
// is modifyTimestamp, and a listing from a watermark (>=, RFC 4517
// generalized time) returns who changed since, inclusive or not.
func TestOpenLDAPIDAndWatermark(t *testing.T) {
	srv := slapd.Start(t)
	people := syncPeople(4)
	srv.Add(t, openLDAPEntries(srv, people)...)
	d := newDir(t, rootConfig(srv, srv.URL, ""))
	ctx := context.Background()

	u, err := lookup(t, d, "p01")
	if err != nil {
		t.Fatal(err)
	}
	id := u.OtherKeyValues[schema.DirectoryIDProperty]
	for _, v := range []string{id, strings.ToUpper(id)} {
		if byID, err := d.LookupByID(ctx, v); err != nil || byID.Key() != u.Key() || byID.ManagerFullname != "Person 0" {
			t.Fatalf("LookupByID(%q): %+v, %v", v, byID, err)
		}
	}
	if _, err := d.LookupByID(ctx, "00000000-0000-0000-0000-000000000000"); schema.KindOf(err) != schema.KindNotFound {
		t.Fatalf("unknown entryUUID: %v", err)
	}

	// modifyTimestamp has whole seconds: change p02 a second later.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1100 * time.Millisecond)))
	srv.Replace(t, "uid=p02,"+srv.People, "title", "Promoted")
	list := func(q oidcuser.ListQuery) map[string]oidcuser.Person {
		got := map[string]oidcuser.Person{}
		if err := d.ListUsers(ctx, q, func(page []oidcuser.Person) error {
			for _, p := range page {
				got[p.Login] = p
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	all := list(oidcuser.ListQuery{})
	changed := all["p02"].LastUpdated
	if len(all) != 4 || changed.IsZero() || !changed.After(all["p01"].LastUpdated) || all["p02"].User.RoleName != "Promoted" {
		t.Fatalf("listed %v", all)
	}
	if got := list(oidcuser.ListQuery{UpdatedAfter: changed, Inclusive: true}); len(got) != 1 || got["p02"].ID == "" {
		t.Fatalf("from %s inclusive: %v", changed, got)
	}
	if got := list(oidcuser.ListQuery{UpdatedAfter: changed}); len(got) != 0 {
		t.Fatalf("after %s: %v", changed, got)
	}
	if got := list(oidcuser.ListQuery{UpdatedAfter: changed.Add(-time.Second)}); len(got) != 1 {
		t.Fatalf("after %s: %v", changed.Add(-time.Second), got)
	}
}

// AD's lastUpdated is whenChanged (AD writes 20260101000003.0Z).
func TestADWatermark(t *testing.T) {
	srv := slapd.Start(t)
	people := syncPeople(5)
	srv.Add(t, adEntries(srv, people)...)
	d := newDir(t, rootConfig(srv, srv.URL, ldap.FlavorAD))
	count := func(q oidcuser.ListQuery) (n int) {
		err := d.ListUsers(context.Background(), q, func(page []oidcuser.Person) error {
			for _, p := range page {
				if !p.LastUpdated.Equal(adEpoch.Add(time.Duration(p.Login[2]-'0') * time.Second)) {
					t.Errorf("%s: lastUpdated %s", p.Login, p.LastUpdated)
				}
			}
			n += len(page)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	third := adEpoch.Add(3 * time.Second)
	if n := count(oidcuser.ListQuery{}); n != 5 {
		t.Fatalf("%d listed, want 5 (no computer)", n)
	}
	if n := count(oidcuser.ListQuery{UpdatedAfter: third, Inclusive: true}); n != 2 {
		t.Fatalf("%d from %s inclusive, want 2", n, third)
	}
	if n := count(oidcuser.ListQuery{UpdatedAfter: third.Add(500 * time.Millisecond)}); n != 1 {
		t.Fatalf("%d after %s, want 1", n, third.Add(500*time.Millisecond))
	}
}

// New checks the configuration, one line naming the variable to fix, and
// does not connect.
func TestConfig(t *testing.T) {
	ca := slapd.OtherCA(t)
	base := ldap.Config{URL: "ldap://127.0.0.1:1", BaseDN: "dc=example,dc=com"}
	for _, tc := range []struct {
		name   string
		change func(*ldap.Config)
		want   string // in the error; "" for none
	}{
		{"minimal", func(*ldap.Config) {}, ""},
		{"ldaps with a CA", func(c *ldap.Config) { c.URL, c.CAFile = "ldaps://ldap.example.com", ca }, ""},
		{"StartTLS", func(c *ldap.Config) { c.StartTLS, c.CAFile = true, ca }, ""},
		{"bind", func(c *ldap.Config) { c.BindDN, c.BindPassword = "cn=usersvc,dc=example,dc=com", "pw" }, ""},
		{"ad", func(c *ldap.Config) { c.Flavor = "AD" }, ""},
		{"no URL", func(c *ldap.Config) { c.URL = "" }, "LDAP_URL is required"},
		{"http", func(c *ldap.Config) { c.URL = "http://ldap.example.com" }, "LDAP_URL"},
		{"no host", func(c *ldap.Config) { c.URL = "ldap://" }, "LDAP_URL"},
		{"a base in the URL", func(c *ldap.Config) { c.URL = "ldap://h/dc=example,dc=com" }, "LDAP_BASE_DN"},
		{"StartTLS over ldaps", func(c *ldap.Config) { c.URL, c.StartTLS = "ldaps://h", true }, "LDAP_START_TLS"},
		{"a CA without TLS", func(c *ldap.Config) { c.CAFile = ca }, "LDAP_CA_FILE"},
		{"a missing CA file", func(c *ldap.Config) { c.URL, c.CAFile = "ldaps://h", "/nonexistent/ca.pem" }, "LDAP_CA_FILE"},
		{"a CA file without PEM", func(c *ldap.Config) { c.URL, c.CAFile = "ldaps://h", "ldap_test.go" }, "LDAP_CA_FILE"},
		{"a bind DN without password", func(c *ldap.Config) { c.BindDN = "cn=usersvc,dc=example,dc=com" }, "LDAP_BIND_PASSWORD_FILE"},
		{"a password without bind DN", func(c *ldap.Config) { c.BindPassword = "pw" }, "LDAP_BIND_DN"},
		{"a bad bind DN", func(c *ldap.Config) { c.BindDN, c.BindPassword = "usersvc", "pw" }, "LDAP_BIND_DN"},
		{"no base DN", func(c *ldap.Config) { c.BaseDN = " " }, "LDAP_BASE_DN is required"},
		{"a bad base DN", func(c *ldap.Config) { c.BaseDN = "example.com" }, "LDAP_BASE_DN"},
		{"an unparenthesised filter", func(c *ldap.Config) { c.UserFilter = "objectClass=person" }, "LDAP_USER_FILTER"},
		{"an unbalanced filter", func(c *ldap.Config) { c.UserFilter = "(&(objectClass=person)" }, "LDAP_USER_FILTER"},
		{"an unknown flavor", func(c *ldap.Config) { c.Flavor = "novell" }, "LDAP_FLAVOR"},
		{"a negative page size", func(c *ldap.Config) { c.PageSize = -1 }, "page size"},
		{"a negative timeout", func(c *ldap.Config) { c.Timeout = -time.Second }, "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			tc.change(&cfg)
			d, err := ldap.New(context.Background(), cfg)
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n")):
				t.Fatalf("%v; want one line naming %s", err, tc.want)
			}
			if d != nil {
				_ = d.Close()
			}
		})
	}
}

// New connects to nothing; the first call does.
func TestLazyConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	d := newDir(t, ldap.Config{URL: "ldap://" + ln.Addr().String(), BaseDN: "dc=example,dc=com", Timeout: time.Second})
	time.Sleep(50 * time.Millisecond)
	if n := accepted.Load(); n != 0 {
		t.Fatalf("New made %d connections", n)
	}
	if _, err := lookup(t, d, "someone"); schema.KindOf(err) != schema.KindUnavailable {
		t.Fatalf("lookup: %v", err)
	}
	if accepted.Load() == 0 {
		t.Fatal("the lookup made no connection")
	}
	_ = d.Close()
	if _, err := lookup(t, d, "someone"); schema.KindOf(err) != schema.KindUnavailable {
		t.Fatalf("lookup after Close: %v", err)
	}
}

// A dropped connection is replaced: at once and unseen when the relay
// cuts it under an idle directory; after a server restart (or crash), the
// lookups meanwhile are unavailable and the first one after it succeeds.
func TestReconnect(t *testing.T) {
	srv := slapd.Start(t)
	srv.Add(t, openLDAPEntries(srv, []directorytest.Person{grace})...)
	relay := tcpproxy.Start(t, srv.Addr)
	d := newDir(t, rootConfig(srv, "ldap://"+relay.Addr(), ""))
	for i := range 3 {
		if _, err := lookup(t, d, "ghopper"); err != nil {
			t.Fatalf("lookup %d after a cut: %v", i, err)
		}
		relay.CutAll()
	}
	for _, crash := range []bool{false, true} {
		if crash {
			srv.Kill()
		} else {
			srv.Stop()
		}
		var e *schema.Error
		if _, err := lookup(t, d, "ghopper"); !errors.As(err, &e) || e.Kind != schema.KindUnavailable || e.RetryAfter <= 0 {
			t.Fatalf("lookup with the server down (crash %v): %v; want unavailable with a retry-after", crash, err)
		}
		if err := d.Probe(context.Background()); schema.KindOf(err) != schema.KindUnavailable {
			t.Fatalf("probe with the server down: %v", err)
		}
		srv.Restart(t)
		if _, err := lookup(t, d, "ghopper"); err != nil {
			t.Fatalf("lookup after the restart: %v", err)
		}
	}
}

// A server that accepts connections and never answers: each call is
// unavailable within about the Timeout, or sooner when the caller's
// context ends.
func TestUnresponsiveServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		held []net.Conn // never read, never answered
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		for _, c := range held {
			_ = c.Close()
		}
	})
	const timeout = 300 * time.Millisecond
	cfg := ldap.Config{URL: "ldap://" + ln.Addr().String(), BaseDN: "dc=example,dc=com", Timeout: timeout,
		BindDN: "cn=admin,dc=example,dc=com", BindPassword: "pw"}
	d := newDir(t, cfg)
	ctx := context.Background()
	calls := map[string]func(context.Context) error{
		"lookup": func(ctx context.Context) error { _, err := d.LookupUser(ctx, "someone"); return err },
		"by id": func(ctx context.Context) error {
			_, err := d.LookupByID(ctx, "00000000-0000-0000-0000-000000000000")
			return err
		},
		"probe": d.Probe,
		"list": func(ctx context.Context) error {
			return d.ListUsers(ctx, oidcuser.ListQuery{}, func([]oidcuser.Person) error { return nil })
		},
	}
	for name, call := range calls {
		start := time.Now()
		err := call(ctx)
		took := time.Since(start)
		var e *schema.Error
		if !errors.As(err, &e) || e.Kind != schema.KindUnavailable {
			t.Fatalf("%s: %v, want unavailable", name, err)
		}
		// A listing makes up to MaxListAttempts passes.
		if limit := time.Duration(ldap.MaxListAttempts)*timeout + 3*time.Second; took > limit {
			t.Fatalf("%s took %s", name, took)
		}
	}
	cfg.Timeout = time.Minute
	d = newDir(t, cfg)
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := d.LookupUser(cctx, "someone"); schema.KindOf(err) != schema.KindUnavailable || time.Since(start) > 5*time.Second {
		t.Fatalf("lookup with a 200ms context: %v after %s", err, time.Since(start))
	}
}

// A listing stops at fn's error, which it returns as is.
func TestListStopsAtCallbackError(t *testing.T) {
	srv := slapd.Start(t)
	srv.Add(t, openLDAPEntries(srv, syncPeople(5))...)
	d := newDir(t, rootConfig(srv, srv.URL, ""))
	stop := errors.New("enough")
	pages := 0
	err := d.ListUsers(context.Background(), oidcuser.ListQuery{}, func([]oidcuser.Person) error {
		pages++
		return stop
	})
	if err != stop || pages != 1 {
		t.Fatalf("%v after %d pages", err, pages)
	}
}

// A service account with read access (not the root DN) lists and finds
// people; the default user filter leaves out entries that are not persons.
func TestServiceAccount(t *testing.T) {
	srv := slapd.Start(t)
	srv.Add(t, openLDAPEntries(srv, []directorytest.Person{grace})...)
	srv.Add(t,
		slapd.Entry{DN: "cn=usersvc," + srv.Suffix, Attrs: map[string][]string{
			"objectClass": {"organizationalRole", "simpleSecurityObject"}, "cn": {"usersvc"}, "userPassword": {"service-secret"},
		}},
		slapd.Entry{DN: "cn=printers," + srv.People, Attrs: map[string][]string{
			"objectClass": {"groupOfNames"}, "cn": {"printers"}, "member": {"uid=ghopper," + srv.People},
		}},
	)
	d := newDir(t, ldap.Config{URL: srv.URL, BindDN: "cn=usersvc," + srv.Suffix, BindPassword: "service-secret", BaseDN: srv.People})
	if err := d.Probe(context.Background()); err != nil {
		t.Fatal(err)
	}
	if u, err := lookup(t, d, grace.Email); err != nil || u.UserID != "ghopper" || u.TeamName != "Navy" {
		t.Fatalf("%+v, %v", u, err)
	}
	n := 0
	if err := d.ListUsers(context.Background(), oidcuser.ListQuery{}, func(p []oidcuser.Person) error { n += len(p); return nil }); err != nil || n != 1 {
		t.Fatalf("listed %d: %v", n, err)
	}
	// A base DN that does not exist is the configuration's fault.
	d = newDir(t, ldap.Config{URL: srv.URL, BindDN: "cn=usersvc," + srv.Suffix, BindPassword: "service-secret", BaseDN: "ou=nobody," + srv.Suffix})
	if err := d.Probe(context.Background()); schema.KindOf(err) != schema.KindUnavailable || !strings.Contains(err.Error(), "LDAP_BASE_DN") {
		t.Fatalf("probe of a missing base: %v", err)
	}
	if _, err := lookup(t, d, "ghopper"); !strings.Contains(fmt.Sprint(err), "LDAP_BASE_DN") {
		t.Fatalf("lookup under a missing base: %v", err)
	}
	// An anonymous directory reads nothing here (the ACL wants a bind):
	// slapd hides the base itself (noSuchObject), which is the
	// configuration's fault too, not "not found".
	d = newDir(t, ldap.Config{URL: srv.URL, BaseDN: srv.People})
	if _, err := lookup(t, d, "ghopper"); schema.KindOf(err) != schema.KindUnavailable || !goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
		t.Fatalf("anonymous lookup: %v", err)
	}
}

// A server's size limit (RFC 4511 section 4.5.1.4; sizeLimitExceeded,
// result code 4) never cuts a listing short in silence: the listing fails,
// naming the limits. A lookup whose email more people share than the
// limit lets through is a conflict; by login they are still found, keyed
// by login.
func TestServerSizeLimit(t *testing.T) {
	srv := slapd.Start(t, slapd.WithSizeLimit(3))
	people := syncPeople(5)
	for i := range people {
		people[i].Email = "team@example.com"
	}
	srv.Add(t, openLDAPEntries(srv, people)...)
	srv.Add(t, slapd.Entry{DN: "cn=usersvc," + srv.Suffix, Attrs: map[string][]string{
		"objectClass": {"organizationalRole", "simpleSecurityObject"}, "cn": {"usersvc"}, "userPassword": {"service-secret"},
	}})
	d := newDir(t, ldap.Config{URL: srv.URL, BindDN: "cn=usersvc," + srv.Suffix, BindPassword: "service-secret", BaseDN: srv.People, PageSize: 2})
	listed := 0
	err := d.ListUsers(context.Background(), oidcuser.ListQuery{}, func(p []oidcuser.Person) error { listed += len(p); return nil })
	if schema.KindOf(err) != schema.KindUnavailable || !goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded) || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("listing past the size limit: %v (after %d people); want it to fail", err, listed)
	}
	if _, err := lookup(t, d, "team@example.com"); schema.KindOf(err) != schema.KindConflict {
		t.Fatalf("a shared email past the limit: %v, want conflict", err)
	}
	u, err := lookup(t, d, "p04")
	if err != nil || u.Key() != "p04" {
		t.Fatalf("by login: %+v, %v; want keyed by login", u, err)
	}
}

// Lookups share one connection from many goroutines (go-ldap multiplexes
// them, RFC 4511 section 4.1.1.1 message IDs); cuts under them are
// answered unavailable at worst, and never mix people up.
func TestConcurrentLookups(t *testing.T) {
	srv := slapd.Start(t)
	people := syncPeople(8)
	srv.Add(t, openLDAPEntries(srv, people)...)
	relay := tcpproxy.Start(t, srv.Addr)
	d := newDir(t, rootConfig(srv, "ldap://"+relay.Addr(), ""))
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for g := range 16 {
		wg.Go(func() {
			for i := range 20 {
				p := people[(g+i)%len(people)]
				u, err := lookup(t, d, p.Email)
				switch {
				case schema.KindOf(err) == schema.KindUnavailable:
				case err != nil:
					errs <- err
				case u.UserID != p.Login:
					errs <- fmt.Errorf("%s came back as %s", p.Email, u.UserID)
				}
			}
		})
	}
	for range 3 {
		time.Sleep(20 * time.Millisecond)
		relay.CutAll()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, p := range people {
		if _, err := lookup(t, d, p.Login); err != nil {
			t.Fatalf("after the cuts: %v", err)
		}
	}
}
