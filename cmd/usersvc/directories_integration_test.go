package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/usersvc/usersvc/testsupport/entraapi"
	"github.com/usersvc/usersvc/testsupport/googleapi"
	"github.com/usersvc/usersvc/testsupport/slapd"
	"github.com/usersvc/usersvc/testsupport/syncbuffer"
	"github.com/usersvc/usersvc/testsupport/tcpproxy"
)

// The binary against each directory beyond Okta and the file (DIRECTORY=
// ldap, entra, google), configured only as docs/configuration.md says:
// AUTH_DISABLED, EMBEDDED_DB_PATH, METRICS_ADDR, DIRECTORY and the
// directory's own variables, secrets in files. For each directory:
//
//   - Serve: a person unknown to the graph is resolved and served with the
//     mapped fields; a disabled one is served inactive; an unknown id is
//     404; a shared email (ldap, entra) is 409; while the directory is
//     throttled or unreachable a new person is 503 with Retry-After after
//     a bounded number of calls, and a known one is still served; the
//     secret never reaches the log.
//   - Bad credentials: a wrong secret makes a new person 503, logged at
//     error level once, without the secret; check-config reports the
//     directory line failing (and passing with the right secret).
//   - Sync: `usersvc sync` with a page of the listing failing for good
//     exits 1 naming it and writes nothing; once the fault is cleared it
//     exits 0, and the server then lists every seeded person exactly once,
//     from the graph alone (the directory unreachable).

// dirPerson is one person of the fixtures, written into each directory
// its own way.
type dirPerson struct {
	login, email, given, family, title, team string
	manager                                  string // the manager's login; "" for none
	active                                   bool
}

// dirPeople are the serve tests' people. Grace is also the Google
// administrator the service account acts as. Katherine, Dorothy and Mary
// are asked about only while the directory fails.
var dirPeople = []dirPerson{
	{"ghopper", "grace.hopper@example.com", "Grace", "Hopper", "Rear Admiral", "Navy", "", true},
	{"ada", "ada.lovelace@example.com", "Ada", "Lovelace", "Analyst", "Analytics", "ghopper", true},
	{"gone", "gone@example.com", "Gone", "Away", "Former", "Alumni", "", false},
	{"kjohnson", "katherine.johnson@example.com", "Katherine", "Johnson", "Mathematician", "Flight Research", "ghopper", true},
	{"dvaughan", "dorothy.vaughan@example.com", "Dorothy", "Vaughan", "Supervisor", "Computing", "ghopper", true},
	{"mjackson", "mary.jackson@example.com", "Mary", "Jackson", "Engineer", "Aeronautics", "ghopper", true},
}

// dirTwins share an email (LDAP and Entra ID allow it; Workspace does
// not).
var dirTwins = []dirPerson{
	{"twin-a", "shared@example.com", "Twin", "A", "", "", "", true},
	{"twin-b", "shared@example.com", "Twin", "B", "", "", "", true},
}

// dirFaultIDs are asked about while the directory fails.
var dirFaultIDs = []string{"katherine.johnson@example.com", "dorothy.vaughan@example.com", "mary.jackson@example.com"}

func dirPersonByLogin(login string) dirPerson { return dirPersonOf(dirPeople, login) }

// dirSyncPeople are n active people with their own emails; everyone after
// the first reports to the first (the Google administrator).
func dirSyncPeople(n int) []dirPerson {
	people := make([]dirPerson, n)
	for i := range people {
		people[i] = dirPerson{
			login: fmt.Sprintf("p%04d", i), email: fmt.Sprintf("person%04d@example.com", i),
			given: "Person", family: fmt.Sprint(i), title: "Member", team: fmt.Sprintf("Team %d", i%7), active: true,
		}
		if i > 0 {
			people[i].manager = people[0].login
		}
	}
	return people
}

// dirSecretFile writes a secret into a file of its own in the test's temp
// dir and returns the path.
func dirSecretFile(t *testing.T, name string, content []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// dirBaseEnv is the environment every run gets besides the directory's:
// AUTH_DISABLED, the embedded store at db, metrics on a free port.
func dirBaseEnv(t *testing.T, db string) []string {
	return []string{"AUTH_DISABLED=true", "EMBEDDED_DB_PATH=" + db, "METRICS_ADDR=" + freePort(t)}
}

// dirService is a running binary and its logs.
type dirService struct {
	base string
	logs *syncbuffer.Buffer
}

func startDirService(t *testing.T, env []string) *dirService {
	t.Helper()
	logs := &syncbuffer.Buffer{}
	t.Cleanup(func() {
		dirClient.CloseIdleConnections()
		if t.Failed() {
			t.Logf("usersvc log:\n%s", logs)
		}
	})
	return &dirService{base: "http://" + startLoggedBinary(t, logs, env...), logs: logs}
}

var dirClient = &http.Client{Timeout: 30 * time.Second}

// get is GET base+path: the status, headers and body.
func (s *dirService) get(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	resp, err := dirClient.Get(s.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// user is GET /user/<id> decoded (nil unless 200).
func (s *dirService) user(t *testing.T, id string) (*http.Response, map[string]any, string) {
	t.Helper()
	resp, body := s.get(t, "/user/"+id)
	if resp.StatusCode != http.StatusOK {
		return resp, nil, body
	}
	var u map[string]any
	if err := json.Unmarshal([]byte(body), &u); err != nil {
		t.Fatalf("GET /user/%s: %v: %s", id, err, body)
	}
	return resp, u, body
}

// waitUser polls GET /user/<id> until it answers 200 (the directory is
// back), for up to a minute.
func (s *dirService) waitUser(t *testing.T, id string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		resp, u, body := s.user(t, id)
		if resp.StatusCode == http.StatusOK {
			return u
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /user/%s still %d after a minute: %s", id, resp.StatusCode, body)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// wantPerson checks the mapped fields of a served user against p, one of
// people (where p's manager is). loginIsEmail: the directory's login (user_id) is the email.
func wantPerson(t *testing.T, got map[string]any, p dirPerson, people []dirPerson, loginIsEmail bool) {
	t.Helper()
	userID := p.login
	if loginIsEmail {
		userID = p.email
	}
	want := map[string]any{
		"email": p.email, "user_id": userID, "first_name": p.given, "last_name": p.family,
		"full_name": p.given + " " + p.family, "team_name": p.team, "role_name": p.title, "is_active": p.active,
	}
	if m := dirPersonOf(people, p.manager); p.manager != "" {
		want["manager_fullname"] = m.given + " " + m.family
		want["manager_email"] = m.email
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s = %#v, want %#v (user %v)", p.email, k, got[k], v, got)
		}
	}
	if ids, _ := got["other_key_values"].(map[string]any); len(ids) == 0 {
		t.Errorf("%s: no directory id in other_key_values: %v", p.email, got)
	}
}

// dirServeCase is what the serve scenario needs of one directory.
type dirServeCase struct {
	svc          *dirService
	loginIsEmail bool
	shared       bool           // the twins are seeded: their email is shared
	fail, clear  func()         // make the directory throttled or unreachable, and back
	calls        func() int     // calls (or connections) the directory has seen
	secrets      []string       // never to appear in the log
	retryAfter   func(int) bool // checks the Retry-After seconds during the fault
}

// runServe is the serve scenario; the directory holds dirPeople (and the
// twins when c.shared), and the graph is empty.
func runServe(t *testing.T, c dirServeCase) {
	t.Helper()
	s := c.svc
	ada, gone := dirPersonByLogin("ada"), dirPersonByLogin("gone")

	resp, u, body := s.user(t, ada.email)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET a person unknown to the graph = %d %s", resp.StatusCode, body)
	}
	wantPerson(t, u, ada, dirPeople, c.loginIsEmail)
	if resp, u, body = s.user(t, gone.email); resp.StatusCode != http.StatusOK || u["is_active"] != false {
		t.Fatalf("GET a disabled person = %d %s; want 200 and is_active false", resp.StatusCode, body)
	}
	wantPerson(t, u, gone, dirPeople, c.loginIsEmail)
	for _, id := range []string{"nobody@example.com", "nobody"} {
		if resp, body := s.get(t, "/user/"+id); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("GET an id no one has (%s) = %d %s; want 404", id, resp.StatusCode, body)
		}
	}
	if c.shared {
		if resp, body := s.get(t, "/user/shared@example.com"); resp.StatusCode != http.StatusConflict {
			t.Fatalf("GET an email two people share = %d %s; want 409", resp.StatusCode, body)
		}
	}
	// The resolved people are in the graph: listed once.
	resp, body = s.get(t, "/user")
	if resp.StatusCode != http.StatusOK || strings.Count(body, `"email":"`+ada.email+`"`) != 1 {
		t.Fatalf("GET /user after resolving = %d %s; want %s listed once", resp.StatusCode, body, ada.email)
	}

	before := c.calls()
	c.fail()
	for _, id := range dirFaultIDs {
		resp, body := s.get(t, "/user/"+id)
		secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if resp.StatusCode != http.StatusServiceUnavailable || err != nil || secs < 1 {
			t.Fatalf("GET a new person while the directory fails = %d, Retry-After %q, %s; want 503 with Retry-After",
				resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
		if c.retryAfter != nil && !c.retryAfter(secs) {
			t.Errorf("Retry-After %d while the directory fails", secs)
		}
	}
	// A person already in the graph is served whatever the directory does.
	if resp, body := s.get(t, "/user/"+ada.email); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET a known person while the directory fails = %d %s", resp.StatusCode, body)
	}
	spent := c.calls() - before
	t.Logf("%d lookups while the directory failed cost %d calls", len(dirFaultIDs), spent)
	if spent < 1 || spent > 2*len(dirFaultIDs) {
		t.Errorf("%d lookups while the directory failed made %d calls; want between 1 and %d", len(dirFaultIDs), spent, 2*len(dirFaultIDs))
	}
	c.clear()
	kj := s.waitUser(t, dirFaultIDs[0])
	wantPerson(t, kj, dirPersonByLogin("kjohnson"), dirPeople, c.loginIsEmail)

	logs := s.logs.String()
	for _, secret := range c.secrets {
		if strings.Contains(logs, secret) {
			t.Fatalf("the log shows a secret (%.6s...)", secret)
		}
	}
}

// credentialLogLines counts the log records at error level that say the
// directory refused usersvc's credentials, and all records that mention
// credentials.
func credentialLogLines(logs string) (errorLevel, mentions int) {
	for line := range strings.SplitSeq(logs, "\n") {
		if !strings.Contains(line, "credentials") {
			continue
		}
		mentions++
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["level"] == "ERROR" {
			errorLevel++
		}
	}
	return errorLevel, mentions
}

// runBadCredentials starts the binary with env (a wrong secret), asks
// several times for a person the graph does not know, and checks the
// answers (503 with Retry-After), the log (one error-level line about the
// credentials, no secret) and check-config with that env (the directory
// line fails) and with good (it passes). db, in env and good, is replaced
// by a path of their own for check-config.
func runBadCredentials(t *testing.T, directory string, env, good []string, secrets ...string) {
	t.Helper()
	s := startDirService(t, env)
	const requests = 4
	for range requests {
		resp, body := s.get(t, "/user/ada.lovelace@example.com")
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("GET a new person with a wrong secret = %d, Retry-After %q, %s; want 503 with Retry-After",
				resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if n, _ := credentialLogLines(s.logs.String()); n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no error-level log line about the refused credentials after %d lookups", requests)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // let a second line, if any, arrive
	logs := s.logs.String()
	errs, all := credentialLogLines(logs)
	t.Logf("%d lookups with a wrong secret: %d error-level log lines about credentials, %d lines mentioning credentials", requests, errs, all)
	if errs != 1 {
		t.Errorf("%d error-level log lines about the refused credentials after %d lookups; want 1", errs, requests)
	}
	for _, secret := range secrets {
		if strings.Contains(logs, secret) {
			t.Fatalf("the log shows a secret (%.6s...)", secret)
		}
	}

	checkEnv := func(env []string) []string {
		out := make([]string, 0, len(env))
		for _, kv := range env {
			if strings.HasPrefix(kv, "EMBEDDED_DB_PATH=") {
				kv = "EMBEDDED_DB_PATH=" + filepath.Join(t.TempDir(), "check.db")
			}
			out = append(out, kv)
		}
		return out
	}
	stdout, stderr, code := runBinary(t, checkEnv(env), "check-config")
	t.Logf("check-config with a wrong secret: exit %d\n%s", code, stdout)
	if code != exitFailure || !strings.Contains(stdout, "FAIL  directory     "+directory+" refused usersvc's credentials") {
		t.Errorf("check-config with a wrong secret: exit %d, stdout %q, stderr %q; want exit 1 and the directory line failing", code, stdout, stderr)
	}
	for _, secret := range secrets {
		if strings.Contains(stdout+stderr, secret) {
			t.Fatalf("check-config shows a secret (%.6s...)", secret)
		}
	}
	stdout, stderr, code = runBinary(t, checkEnv(good), "check-config")
	t.Logf("check-config with the right secret: exit %d\n%s", code, stdout)
	if code != exitOK || !strings.Contains(stdout, "ok    directory     "+directory+" answers and accepts the credentials") {
		t.Errorf("check-config with the right secret: exit %d, stdout %q, stderr %q; want exit 0 and the directory line ok", code, stdout, stderr)
	}
}

// syncedGraph starts the server on the synced store with env (whose
// directory the caller made unreachable) and checks that GET /user lists
// every one of people exactly once, under their email, and that one of
// them is served with the mapped fields.
func syncedGraph(t *testing.T, env []string, people []dirPerson, loginIsEmail bool) {
	t.Helper()
	s := startDirService(t, env)
	resp, body := s.get(t, "/user")
	var listed []map[string]any
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &listed) != nil {
		t.Fatalf("GET /user = %d %.300s", resp.StatusCode, body)
	}
	seen := map[string]int{}
	for _, u := range listed {
		email, _ := u["email"].(string)
		seen[email]++
	}
	for _, p := range people {
		if seen[p.email] != 1 {
			t.Errorf("%s listed %d times, want once", p.email, seen[p.email])
		}
	}
	if len(listed) != len(people) {
		t.Errorf("GET /user lists %d people, want the %d synced", len(listed), len(people))
	}
	last := people[len(people)-1]
	resp, u, body := s.user(t, last.email)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /user/%s from the graph = %d %s", last.email, resp.StatusCode, body)
	}
	wantPerson(t, u, last, people, loginIsEmail)
}

// retryLogged matches the warning each directory logs when a listing page
// fails and is tried again.
var retryLogged = regexp.MustCompile(`failed; (retrying|restarting the search)`)

// wantSyncFailed checks a failed `usersvc sync`: exit 1, a summary saying
// the listing failed (naming what the directory says of where: marks),
// nothing written, no secret.
func wantSyncFailed(t *testing.T, stdout, stderr string, code int, secrets []string, marks ...string) {
	t.Helper()
	t.Logf("sync with a failing page: exit %d\n%s", code, stdout)
	if code != exitFailure || !strings.Contains(stdout, "sync failed: read the directory: ") ||
		!strings.Contains(stdout, "created 0, updated 0, unchanged 0, deactivated 0") {
		t.Fatalf("sync with a failing page: exit %d, stdout %q, stderr %s; want exit 1, the listing failed, nothing written", code, stdout, stderr)
	}
	for _, m := range marks {
		if !strings.Contains(stdout, m) {
			t.Errorf("the failed sync's summary does not say %q: %q", m, stdout)
		}
	}
	// The directory's own retries reach the log (its Logger is wired).
	if !retryLogged.MatchString(stdout + stderr) {
		t.Errorf("no retry of the failing page in the log:\n%s", stderr)
	}
	for _, secret := range secrets {
		if strings.Contains(stdout+stderr, secret) {
			t.Fatalf("the sync's output shows a secret (%.6s...)", secret)
		}
	}
}

// wantSyncDone checks a successful `usersvc sync` that created everyone.
func wantSyncDone(t *testing.T, stdout, stderr string, code, n int) {
	t.Helper()
	want := fmt.Sprintf("sync done\n  fetched %d, created %d, updated 0, unchanged 0, deactivated 0", n, n)
	if code != exitOK || !strings.Contains(stdout, want) {
		t.Fatalf("sync after the fault cleared: exit %d, stdout %q, stderr %s; want %q", code, stdout, stderr, want)
	}
}

// --- LDAP -----------------------------------------------------------------

// ldapEntries writes people as inetOrgPerson entries under ou=people; the
// inactive are locked by the password policy (pwdAccountLockedTime).
func ldapEntries(srv *slapd.Server, people []dirPerson) []slapd.Entry {
	dn := func(login string) string { return "uid=" + goldap.EscapeDN(login) + "," + srv.People }
	entries := make([]slapd.Entry, 0, len(people))
	for _, p := range people {
		a := map[string][]string{
			"objectClass": {"inetOrgPerson"},
			"uid":         {p.login},
			"cn":          {p.given + " " + p.family},
			"givenName":   {p.given},
			"sn":          {p.family},
			"mail":        {p.email},
		}
		if p.title != "" {
			a["title"] = []string{p.title}
		}
		if p.team != "" {
			a["departmentNumber"] = []string{p.team}
		}
		if p.manager != "" {
			a["manager"] = []string{dn(p.manager)}
		}
		if !p.active {
			a["pwdAccountLockedTime"] = []string{"000001010000Z"}
		}
		entries = append(entries, slapd.Entry{DN: dn(p.login), Attrs: a})
	}
	return entries
}

// ldapEnv configures DIRECTORY=ldap, openldap flavor, over ldaps:// to
// addr with the server's CA.
func ldapEnv(t *testing.T, srv *slapd.Server, addr, bindDN, passwordFile string) []string {
	return append(dirBaseEnv(t, filepath.Join(t.TempDir(), "usersvc.db")),
		"DIRECTORY=ldap", "LDAP_URL=ldaps://"+addr, "LDAP_CA_FILE="+srv.CAFile, "LDAP_BIND_DN="+bindDN,
		"LDAP_BIND_PASSWORD_FILE="+passwordFile, "LDAP_BASE_DN="+srv.People, "LDAP_FLAVOR=openldap")
}

// ldapServiceAccount adds usersvc's bind entry (read access to everything,
// as the server's ACL gives any bound user) and returns its DN.
func ldapServiceAccount(t *testing.T, srv *slapd.Server, password string) string {
	dn := "cn=usersvc," + srv.Suffix
	srv.Add(t, slapd.Entry{DN: dn, Attrs: map[string][]string{
		"objectClass": {"organizationalRole", "simpleSecurityObject"}, "cn": {"usersvc"}, "userPassword": {password},
	}})
	return dn
}

// connSink accepts connections, counts them and closes them at once: a
// directory host whose service is down.
type connSink struct {
	ln       net.Listener
	accepted atomic.Int64
	done     chan struct{}
}

func startConnSink(t *testing.T) *connSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &connSink{ln: ln, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); <-s.done })
	return s
}

func TestBinaryDirectoryLDAPServe(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary and slapd")
	}
	srv := slapd.Start(t, slapd.WithTLS())
	srv.Add(t, ldapEntries(srv, append(dirPeople, dirTwins...))...)
	password := "bind-Secret-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	bindDN := ldapServiceAccount(t, srv, password)
	// ldaps:// through a relay: cut, the relay sends new connections to a
	// host that closes them (counted).
	relay := tcpproxy.Start(t, srv.LDAPSAddr)
	sink := startConnSink(t)
	env := ldapEnv(t, srv, relay.Addr(), bindDN, dirSecretFile(t, "ldap-password", []byte(password+"\n")))
	runServe(t, dirServeCase{
		svc:    startDirService(t, env),
		shared: true,
		fail: func() {
			relay.SetTarget(sink.ln.Addr().String())
			relay.CutAll()
		},
		clear:   func() { relay.SetTarget(srv.LDAPSAddr) },
		calls:   func() int { return int(sink.accepted.Load()) },
		secrets: []string{password},
	})
}

func TestBinaryDirectoryLDAPBadCredentials(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary and slapd")
	}
	srv := slapd.Start(t, slapd.WithTLS())
	srv.Add(t, ldapEntries(srv, dirPeople)...)
	password := "bind-Secret-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	wrong := "Wr0ng-" + password
	bindDN := ldapServiceAccount(t, srv, password)
	bad := ldapEnv(t, srv, srv.LDAPSAddr, bindDN, dirSecretFile(t, "wrong-password", []byte(wrong)))
	good := ldapEnv(t, srv, srv.LDAPSAddr, bindDN, dirSecretFile(t, "ldap-password", []byte(password)))
	runBadCredentials(t, "ldap", bad, good, wrong, password)
}

// startLDAPSPageCutter puts testsupport/slapd's page-cutting relay in
// front of srv's plain listener, terminating ldaps:// with the certificate
// srv made for 127.0.0.1 (kept in its Dir beside the CA), so that
// LDAP_CA_FILE verifies the relay as it would slapd.
func startLDAPSPageCutter(t *testing.T, srv *slapd.Server) *slapd.PageCutter {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(srv.Dir, "server.pem"), filepath.Join(srv.Dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	return slapd.StartPageCutter(t, srv.Addr, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
}

func TestBinaryDirectoryLDAPSync(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary and slapd")
	}
	srv := slapd.Start(t, slapd.WithTLS())
	// 700 people: the listing's pages of 500 (the directory's default)
	// make two. The root DN binds: OpenLDAP caps a service account's
	// paged search at its size limit (500 by default).
	people := dirSyncPeople(700)
	srv.Add(t, ldapEntries(srv, people)...)
	cutter := startLDAPSPageCutter(t, srv)
	env := ldapEnv(t, srv, cutter.Addr(), srv.RootDN, dirSecretFile(t, "ldap-password", []byte(srv.RootPassword)))
	secrets := []string{srv.RootPassword}

	cutter.CutIn(2, -1)
	stdout, stderr, code := runBinary(t, env, "sync")
	cuts := cutter.Cuts()
	// Each pass restarts the search on a new connection; the third cut
	// ends the listing (at most 3 passes), after page 1 was handed over.
	wantSyncFailed(t, stdout, stderr, code, secrets, "the directory listing failed after 1 pages", "on pass 3 of at most 3")
	if cuts != 3 {
		t.Errorf("the relay cut %d connections in page 2; want 3 (one per pass)", cuts)
	}

	cutter.CutIn(0, 0)
	stdout, stderr, code = runBinary(t, env, "sync")
	wantSyncDone(t, stdout, stderr, code, len(people))
	cutter.Stop() // from here the graph alone serves
	syncedGraph(t, env, people, false)
}

// --- Microsoft Entra ID ---------------------------------------------------

// entraUsersOf writes people as Entra users: the UPN is the email but for
// the twins (UPNs are unique), whose shared address is their mail only.
func entraUsersOf(people []dirPerson) []entraapi.User {
	ids := map[string]string{}
	for i, p := range people {
		ids[p.login] = entraapi.ObjectID(i + 1)
	}
	users := make([]entraapi.User, 0, len(people))
	for i, p := range people {
		upn := p.email
		if p.email == "shared@example.com" {
			upn = p.login + "@example.com"
		}
		u := entraapi.NewUser(entraapi.ObjectID(i+1), upn, p.email, p.given, p.family)
		u.JobTitle, u.Department, u.AccountEnabled, u.ManagerID = p.title, p.team, p.active, ids[p.manager]
		users = append(users, u)
	}
	return users
}

// entraEnv configures DIRECTORY=entra against srv with the secret in
// secretFile.
func entraEnv(t *testing.T, srv *entraapi.Server, secretFile string) []string {
	return append(dirBaseEnv(t, filepath.Join(t.TempDir(), "usersvc.db")),
		"DIRECTORY=entra", "ENTRA_TENANT_ID="+srv.TenantID(), "ENTRA_CLIENT_ID="+srv.ClientID(),
		"ENTRA_CLIENT_SECRET_FILE="+secretFile, "ENTRA_GRAPH_URL="+srv.GraphURL(), "ENTRA_LOGIN_URL="+srv.LoginURL())
}

func TestBinaryDirectoryEntraServe(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	srv := entraapi.New(t)
	srv.AddUsers(entraUsersOf(append(dirPeople, dirTwins...))...)
	const throttle = 2 * time.Second
	runServe(t, dirServeCase{
		svc:          startDirService(t, entraEnv(t, srv, dirSecretFile(t, "entra-secret", []byte(srv.ClientSecret()+"\n")))),
		loginIsEmail: true,
		shared:       true,
		fail:         func() { srv.Throttle(throttle) },
		clear:        srv.ClearFaults,
		calls:        func() int { return srv.Count(entraapi.IsGraph) },
		secrets:      []string{srv.ClientSecret()},
		// Graph's Retry-After is passed on (at most the time left).
		retryAfter: func(secs int) bool { return secs <= int(throttle/time.Second) },
	})
}

func TestBinaryDirectoryEntraBadCredentials(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	srv := entraapi.New(t)
	srv.AddUsers(entraUsersOf(dirPeople)...)
	wrong := "wrong~" + srv.ClientSecret()
	bad := entraEnv(t, srv, dirSecretFile(t, "wrong-secret", []byte(wrong)))
	good := entraEnv(t, srv, dirSecretFile(t, "entra-secret", []byte(srv.ClientSecret())))
	runBadCredentials(t, "entra", bad, good, wrong, srv.ClientSecret())
}

func TestBinaryDirectoryEntraSync(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	srv := entraapi.New(t)
	// 250 people: Graph serves a listing with $expand=manager 100 a page,
	// so three pages.
	people := dirSyncPeople(250)
	srv.AddUsers(entraUsersOf(people)...)
	env := entraEnv(t, srv, dirSecretFile(t, "entra-secret", []byte(srv.ClientSecret())))
	secrets := []string{srv.ClientSecret()}

	srv.FailPage(3, -1, entraapi.Throttled(time.Second))
	stdout, stderr, code := runBinary(t, env, "sync")
	wantSyncFailed(t, stdout, stderr, code, secrets, "page 3")
	page3 := srv.Count(func(r entraapi.Request) bool { return r.Page == 3 })
	if page3 < 2 || page3 > 4 {
		t.Errorf("page 3 was asked for %d times; want it retried, at most 4 times", page3)
	}

	srv.ClearFaults()
	stdout, stderr, code = runBinary(t, env, "sync")
	wantSyncDone(t, stdout, stderr, code, len(people))
	srv.Close() // from here the graph alone serves
	syncedGraph(t, env, people, true)
}

// --- Google Workspace -----------------------------------------------------

// googleUsersOf writes people as Workspace users: the primary email is
// the login, Grace (the first, for the sync's people) is the
// administrator, the inactive are suspended, title and department in the
// primary organization, the manager as a relation by email.
func googleUsersOf(people []dirPerson) []googleapi.User {
	users := make([]googleapi.User, 0, len(people))
	for i, p := range people {
		u := googleapi.NewUser(fmt.Sprintf("1%020d", 1000+i), p.email, p.given, p.family)
		u.Suspended, u.IsAdmin = !p.active, i == 0
		u.Organizations = []googleapi.Organization{{Name: "Example", Title: p.title, Department: p.team, Primary: true}}
		if p.manager != "" {
			u.Relations = []googleapi.Relation{{Type: "manager", Value: dirPersonOf(people, p.manager).email}}
		}
		users = append(users, u)
	}
	return users
}

func dirPersonOf(people []dirPerson, login string) dirPerson {
	for _, p := range people {
		if p.login == login {
			return p
		}
	}
	return dirPerson{}
}

// googleEnv configures DIRECTORY=google against srv, acting as subject,
// with the key in keyFile.
func googleEnv(t *testing.T, srv *googleapi.Server, keyFile, subject string) []string {
	return append(dirBaseEnv(t, filepath.Join(t.TempDir(), "usersvc.db")),
		"DIRECTORY=google", "GOOGLE_CREDENTIALS_FILE="+keyFile, "GOOGLE_ADMIN_SUBJECT="+subject,
		"GOOGLE_DIRECTORY_URL="+srv.URL())
}

// googleKeyLines are the lines of a service account key's private key
// (the secret), as they would show in a log.
func googleKeyLines(t *testing.T, sa *googleapi.ServiceAccount) []string {
	t.Helper()
	var key struct {
		PrivateKey string `json:"private_key"`
	}
	if err := json.Unmarshal(sa.JSON(), &key); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for line := range strings.SplitSeq(key.PrivateKey, "\n") {
		if line != "" && !strings.HasPrefix(line, "-----") {
			lines = append(lines, line)
		}
	}
	if len(lines) == 0 {
		t.Fatal("the service account key holds no private key")
	}
	return lines
}

func TestBinaryDirectoryGoogleServe(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	srv := googleapi.New(t)
	srv.AddUsers(googleUsersOf(dirPeople)...)
	sa := srv.NewServiceAccount(t)
	runServe(t, dirServeCase{
		svc:          startDirService(t, googleEnv(t, srv, dirSecretFile(t, "google-key.json", sa.JSON()), dirPeople[0].email)),
		loginIsEmail: true,
		// Google sends no Retry-After: the directory's backoff sets it.
		fail:    func() { srv.FailNext(1000, googleapi.UserRateLimited) },
		clear:   srv.ClearFaults,
		calls:   func() int { return srv.Count(googleapi.IsAPI) },
		secrets: googleKeyLines(t, sa),
	})
}

func TestBinaryDirectoryGoogleBadCredentials(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	srv := googleapi.New(t)
	srv.AddUsers(googleUsersOf(dirPeople)...)
	sa := srv.NewServiceAccount(t)
	// A key of an account Google does not know (deleted, or another
	// project's): the token endpoint refuses its grant.
	stranger := googleapi.NewUnregisteredServiceAccount(t, srv.TokenURL())
	subject := dirPeople[0].email
	bad := googleEnv(t, srv, dirSecretFile(t, "wrong-key.json", stranger.JSON()), subject)
	good := googleEnv(t, srv, dirSecretFile(t, "google-key.json", sa.JSON()), subject)
	runBadCredentials(t, "google", bad, good, append(googleKeyLines(t, stranger), googleKeyLines(t, sa)...)...)
}

func TestBinaryDirectoryGoogleSync(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	srv := googleapi.New(t)
	// 600 people: users.list pages of 500 (the directory's default) make
	// two.
	people := dirSyncPeople(600)
	srv.AddUsers(googleUsersOf(people)...)
	sa := srv.NewServiceAccount(t)
	env := googleEnv(t, srv, dirSecretFile(t, "google-key.json", sa.JSON()), people[0].email)
	secrets := googleKeyLines(t, sa)

	srv.FailPage(2, googleapi.Unavailable, -1)
	stdout, stderr, code := runBinary(t, env, "sync")
	wantSyncFailed(t, stdout, stderr, code, secrets, "page 2")
	// Page 1 once, then page 2 tried a bounded number of times (5 by
	// default, with exponential backoff).
	if lists := srv.Count(googleapi.IsList); lists < 3 || lists > 6 {
		t.Errorf("%d users.list calls; want page 2 retried, at most 5 times", lists)
	}

	srv.ClearFaults()
	stdout, stderr, code = runBinary(t, env, "sync")
	wantSyncDone(t, stdout, stderr, code, len(people))
	srv.Close() // from here the graph alone serves
	syncedGraph(t, env, people, true)
}
