package slapd

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

func search(t *testing.T, c *ldap.Conn, base, filter string, attrs ...string) []*ldap.Entry {
	t.Helper()
	res, err := c.Search(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil))
	if err != nil {
		t.Fatalf("search %s: %v", filter, err)
	}
	return res.Entries
}

func TestStartAddSearch(t *testing.T) {
	srv := Start(t)
	if srv.Version == "" || srv.PID() == 0 || srv.LDAPSURL != "" || srv.CAFile != "" {
		t.Fatalf("server %+v pid %d", srv, srv.PID())
	}
	t.Logf("slapd %s at %s", srv.Version, srv.URL)
	srv.Add(t, Entry{DN: "uid=ada," + srv.People, Attrs: map[string][]string{
		"objectClass":          {"inetOrgPerson"},
		"uid":                  {"ada"},
		"cn":                   {"Ada Lovelace"},
		"sn":                   {"Lovelace"},
		"mail":                 {"ada@example.com"},
		"pwdAccountLockedTime": {"000001010000Z"}, // the ppolicy module's attribute
	}})
	c := srv.Conn(t)
	got := search(t, c, srv.Suffix, "(uid=ada)", "mail", "entryUUID", "modifyTimestamp", "pwdAccountLockedTime")
	if len(got) != 1 || got[0].GetAttributeValue("mail") != "ada@example.com" || got[0].GetAttributeValue("entryUUID") == "" ||
		got[0].GetAttributeValue("modifyTimestamp") == "" || got[0].GetAttributeValue("pwdAccountLockedTime") != "000001010000Z" {
		t.Fatalf("entries %v", got)
	}
	srv.Replace(t, "uid=ada,"+srv.People, "mail", "ada.lovelace@example.com")
	if got := search(t, c, srv.Suffix, "(mail=ada.lovelace@example.com)"); len(got) != 1 {
		t.Fatalf("after replace: %v", got)
	}
	srv.Delete(t, "uid=ada,"+srv.People)
	if got := search(t, c, srv.Suffix, "(uid=ada)"); len(got) != 0 {
		t.Fatalf("after delete: %v", got)
	}
	// Anonymous clients read nothing (the ACL wants a bind).
	anon, err := ldap.DialURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	if res, err := anon.Search(ldap.NewSearchRequest(srv.Suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", nil, nil)); err == nil && len(res.Entries) > 0 {
		t.Fatalf("anonymous read %d entries", len(res.Entries))
	}
}

// The AD-like schema: objectGUID holds 16 raw bytes and is matched by a
// filter of escaped bytes (RFC 4515 section 3: \XX); userAccountControl
// is an integer; computer is a user.
func TestADSchema(t *testing.T) {
	srv := Start(t, WithSuffix("dc=corp,dc=example"))
	guid := string([]byte{0x00, 0x28, 0x29, 0x2a, 0x5c, 0xff, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a})
	srv.Add(t,
		Entry{DN: "cn=Ada Lovelace," + srv.People, Attrs: map[string][]string{
			"objectClass": {"top", "person", "organizationalPerson", "user"}, "cn": {"Ada Lovelace"}, "sn": {"Lovelace"},
			"sAMAccountName": {"ada"}, "userPrincipalName": {"ada@corp.example"}, "userAccountControl": {"514"},
			"objectGUID": {guid}, "department": {"Analytics"}, "whenChanged": {"20260102030405.0Z"}, "mail": {"ada@example.com"},
		}},
		Entry{DN: "cn=WS01," + srv.People, Attrs: map[string][]string{
			"objectClass": {"computer"}, "cn": {"WS01"}, "sn": {"WS01"}, "sAMAccountName": {"WS01$"}, "userAccountControl": {"4096"},
		}},
	)
	c := srv.Conn(t)
	var f strings.Builder
	for _, b := range []byte(guid) {
		fmt.Fprintf(&f, `\%02x`, b)
	}
	got := search(t, c, srv.Suffix, "(objectGUID="+f.String()+")", "objectGUID", "sAMAccountName")
	if len(got) != 1 || string(got[0].GetRawAttributeValue("objectGUID")) != guid {
		t.Fatalf("by objectGUID: %v", got)
	}
	if got := search(t, c, srv.Suffix, "(&(objectClass=user)(whenChanged>=20260101000000Z))"); len(got) != 1 {
		t.Fatalf("whenChanged ordering: %d entries", len(got))
	}
	if got := search(t, c, srv.Suffix, "(objectClass=user)"); len(got) != 2 {
		t.Fatalf("users (computers included): %d", len(got))
	}
	// OpenLDAP implements AD's bitwise AND matching rule too.
	if got := search(t, c, srv.Suffix, "(userAccountControl:1.2.840.113556.1.4.803:=2)"); len(got) != 1 {
		t.Fatalf("disabled: %d", len(got))
	}
}

func TestTLS(t *testing.T) {
	srv := Start(t, WithTLS())
	pem, err := os.ReadFile(srv.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no CA in", srv.CAFile)
	}
	trusted := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}

	c, err := ldap.DialURL(srv.LDAPSURL, ldap.DialWithTLSConfig(trusted))
	if err != nil {
		t.Fatalf("ldaps: %v", err)
	}
	if err := c.Bind(srv.RootDN, srv.RootPassword); err != nil {
		t.Fatalf("bind over ldaps: %v", err)
	}
	c.Close()

	c, err = ldap.DialURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.StartTLS(trusted); err != nil {
		t.Fatalf("StartTLS: %v", err)
	}
	if err := c.Bind(srv.RootDN, srv.RootPassword); err != nil {
		t.Fatalf("bind after StartTLS: %v", err)
	}
	c.Close()

	other, _ := os.ReadFile(OtherCA(t))
	wrong := x509.NewCertPool()
	wrong.AppendCertsFromPEM(other)
	if c, err := ldap.DialURL(srv.LDAPSURL, ldap.DialWithTLSConfig(&tls.Config{RootCAs: wrong, ServerName: "127.0.0.1"})); err == nil {
		c.Close()
		t.Fatal("ldaps with an unrelated CA connected")
	}
}

// Stop and Restart keep the data and the address; Kill is a crash.
func TestRestart(t *testing.T) {
	srv := Start(t)
	srv.Add(t, Entry{DN: "uid=kept," + srv.People, Attrs: map[string][]string{"objectClass": {"inetOrgPerson"}, "uid": {"kept"}, "cn": {"K"}, "sn": {"K"}}})
	url := srv.URL
	srv.Stop()
	if srv.PID() != 0 {
		t.Fatal("running after Stop")
	}
	if c, err := net.DialTimeout("tcp", srv.Addr, time.Second); err == nil {
		c.Close()
		t.Fatal("stopped server accepts connections")
	}
	srv.Restart(t)
	if srv.URL != url {
		t.Fatalf("restarted at %s, was %s", srv.URL, url)
	}
	if got := search(t, srv.Conn(t), srv.Suffix, "(uid=kept)"); len(got) != 1 {
		t.Fatalf("after restart: %v", got)
	}
	srv.Kill()
	srv.Restart(t)
	if got := search(t, srv.Conn(t), srv.Suffix, "(uid=kept)"); len(got) != 1 {
		t.Fatalf("after a crash: %v", got)
	}
	if !strings.Contains(srv.Output(), "slapd starting") {
		t.Fatalf("no slapd output kept:\n%s", srv.Output())
	}
}

// TestChild starts a server and prints its pid, then waits to be killed
// (run by TestKilledParentLeavesNoSlapd only).
func TestChild(t *testing.T) {
	if os.Getenv("USERSVC_SLAPD_CHILD") != "1" {
		t.Skip("run by TestKilledParentLeavesNoSlapd")
	}
	srv := Start(t)
	fmt.Printf("PID %d\n", srv.PID())
	time.Sleep(time.Minute)
}

// A SIGKILLed test binary takes its slapd with it (Pdeathsig): no Cleanup
// runs then.
func TestKilledParentLeavesNoSlapd(t *testing.T) {
	child := exec.Command(os.Args[0], "-test.run=^TestChild$", "-test.count=1", "-test.v")
	child.Env = append(os.Environ(), "USERSVC_SLAPD_CHILD=1")
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	pid := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "PID "); ok {
			pid, _ = strconv.Atoi(p)
			break
		}
	}
	if pid == 0 {
		t.Fatal("the child printed no slapd pid")
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("slapd %d not running: %v", pid, err)
	}
	_ = child.Process.Kill()
	_ = child.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("slapd %d outlived its killed parent", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive: pid runs and is not a zombie (an orphan is reaped by init, but
// maybe not at once).
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z' && s[i+2] != 'X'
	}
	return true
}
