package ldap_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/usersvc/usersvc/oidcuser/directorytest"
	"github.com/usersvc/usersvc/oidcuser/ldap"
	"github.com/usersvc/usersvc/testsupport/slapd"
	"github.com/usersvc/usersvc/testsupport/tcpproxy"
)

// adEpoch is the first whenChanged of the AD fixtures; person i changed i
// seconds later.
var adEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// openLDAPEntries writes people as inetOrgPerson entries (RFC 2798) under
// ou=people: uid the login, cn "given family", departmentNumber the
// department, manager the manager's DN, and the inactive locked by the
// password policy for good (pwdAccountLockedTime 000001010000Z).
func openLDAPEntries(srv *slapd.Server, people []directorytest.Person) []slapd.Entry {
	dn := func(login string) string { return "uid=" + goldap.EscapeDN(login) + "," + srv.People }
	entries := make([]slapd.Entry, 0, len(people))
	for _, p := range people {
		a := map[string][]string{
			"objectClass": {"inetOrgPerson"},
			"uid":         {p.Login},
			"cn":          {p.GivenName + " " + p.FamilyName},
			"sn":          {p.FamilyName},
			"givenName":   {p.GivenName},
		}
		set(a, "mail", p.Email)
		set(a, "title", p.Title)
		set(a, "departmentNumber", p.Department)
		if p.Manager != "" {
			a["manager"] = []string{dn(p.Manager)}
		}
		if !p.Active {
			a["pwdAccountLockedTime"] = []string{"000001010000Z"}
		}
		entries = append(entries, slapd.Entry{DN: dn(p.Login), Attrs: a})
	}
	return entries
}

// Microsoft's userAccountControl flags ("Use the UserAccountControl flags
// to manipulate user account properties", learn.microsoft.com):
// ACCOUNTDISABLE 0x2, NORMAL_ACCOUNT 0x200, WORKSTATION_TRUST_ACCOUNT
// 0x1000, DONT_EXPIRE_PASSWORD 0x10000.
const (
	uacAccountDisable   = 0x2
	uacNormalAccount    = 0x200
	uacWorkstationTrust = 0x1000
	uacDontExpire       = 0x10000
)

// adEntries writes people as AD user entries (the schema of
// testsupport/slapd): CN=given family, sAMAccountName the login,
// userPrincipalName login@corp.example.com, department, manager the
// manager's DN, a random objectGUID, whenChanged adEpoch+i seconds, and
// userAccountControl NORMAL_ACCOUNT, with ACCOUNTDISABLE for the
// inactive. A computer account (a user and a person too, on AD) comes
// last: the directory must never take it for a person.
func adEntries(srv *slapd.Server, people []directorytest.Person) []slapd.Entry {
	byLogin := map[string]directorytest.Person{}
	for _, p := range people {
		byLogin[p.Login] = p
	}
	dn := func(p directorytest.Person) string {
		return "cn=" + goldap.EscapeDN(p.GivenName+" "+p.FamilyName) + "," + srv.People
	}
	entries := make([]slapd.Entry, 0, len(people)+1)
	for i, p := range people {
		uac := uacNormalAccount
		if !p.Active {
			uac |= uacAccountDisable
		}
		a := map[string][]string{
			"objectClass":        {"top", "person", "organizationalPerson", "user"},
			"cn":                 {p.GivenName + " " + p.FamilyName},
			"sn":                 {p.FamilyName},
			"givenName":          {p.GivenName},
			"displayName":        {p.GivenName + " " + p.FamilyName},
			"sAMAccountName":     {p.Login},
			"userPrincipalName":  {p.Login + "@corp.example.com"},
			"userAccountControl": {fmt.Sprint(uac)},
			"objectGUID":         {string(randomGUID())},
			"whenChanged":        {adEpoch.Add(time.Duration(i) * time.Second).Format("20060102150405.0Z")},
		}
		set(a, "mail", p.Email)
		set(a, "title", p.Title)
		set(a, "department", p.Department)
		if m, ok := byLogin[p.Manager]; ok {
			a["manager"] = []string{dn(m)}
		}
		entries = append(entries, slapd.Entry{DN: dn(p), Attrs: a})
	}
	entries = append(entries, slapd.Entry{DN: "cn=WS01," + srv.People, Attrs: map[string][]string{
		"objectClass":        {"top", "person", "organizationalPerson", "user", "computer"},
		"cn":                 {"WS01"},
		"sn":                 {"WS01"},
		"sAMAccountName":     {"WS01$"},
		"userAccountControl": {fmt.Sprint(uacWorkstationTrust)},
		"objectGUID":         {string(randomGUID())},
		"whenChanged":        {adEpoch.Format("20060102150405.0Z")},
		"mail":               {"ws01@example.com"},
	}})
	return entries
}

func set(a map[string][]string, attr, value string) {
	if value != "" {
		a[attr] = []string{value}
	}
}

func randomGUID() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return b
}

// rootConfig binds as the server's root DN and searches its suffix.
func rootConfig(srv *slapd.Server, url, flavor string) ldap.Config {
	return ldap.Config{
		URL: url, BindDN: srv.RootDN, BindPassword: srv.RootPassword,
		BaseDN: srv.Suffix, Flavor: flavor, PageSize: 2,
	}
}

func newDir(t testing.TB, cfg ldap.Config) *ldap.Directory {
	t.Helper()
	d, err := ldap.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// The directory contract against a real slapd, for both flavors: people
// written as entries (manager as a DN), listed two a page, and an outage
// made by stopping a TCP relay between the directory and slapd (every
// connection cut, new ones refused) until it resumes. There is no
// Throttle: LDAP servers have no rate limit that answers "retry after"
// (an admin limit is a configuration matter, answered as such).
func TestDirectoryContract(t *testing.T) {
	for _, tc := range []struct {
		flavor  string
		entries func(*slapd.Server, []directorytest.Person) []slapd.Entry
	}{
		{ldap.FlavorOpenLDAP, openLDAPEntries},
		{ldap.FlavorAD, adEntries},
	} {
		t.Run(tc.flavor, func(t *testing.T) {
			directorytest.Run(t, func(t *testing.T, people []directorytest.Person) directorytest.Env {
				// élodie's mail is not ASCII: a stock OpenLDAP holds mail
				// as an IA5 string (RFC 4524), AD as a Unicode one.
				srv := slapd.Start(t, slapd.WithUTF8Mail())
				srv.Add(t, tc.entries(srv, people)...)
				relay := tcpproxy.Start(t, srv.Addr)
				return directorytest.Env{
					Dir: newDir(t, rootConfig(srv, "ldap://"+relay.Addr(), tc.flavor)),
					Outage: func() func() {
						relay.Stop()
						return func() { relay.Resume(t) }
					},
				}
			})
		})
	}
}
