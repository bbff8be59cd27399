// Package slapd runs a real OpenLDAP server (Debian's slapd package,
// /usr/sbin/slapd) for tests: one process per Start, in the test's temp
// dir, on free loopback ports, with an mdb database under a root DN.
//
//	srv := slapd.Start(t, slapd.WithTLS())
//	srv.Add(t, "uid=ada,"+srv.People, map[string][]string{...})
//	// srv.URL (ldap://), srv.LDAPSURL (ldaps://), srv.CAFile, srv.RootDN, srv.RootPassword
//
// The configuration is a slapd.conf built from a template: the schemas
// core, cosine, inetorgperson and nis, the ppolicy module (its
// pwdAccountLockedTime marks locked accounts), and adlike.schema, a small
// schema of this package that gives entries the Active Directory
// attributes a directory reads (sAMAccountName, userPrincipalName,
// userAccountControl, objectGUID as a 16-byte octet string, department,
// whenChanged) and AD's user and computer object classes. The attribute
// OIDs are Microsoft's; nothing else of AD (objectCategory, constructed
// attributes, range retrieval) is there.
//
// The process dies with the test: Stop runs in t.Cleanup, and slapd gets
// SIGKILL through Pdeathsig when the test binary itself is killed. Its
// stderr (slapd -d, stats level: connections and operations) is kept and
// logged when the test fails.
package slapd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Binary is the slapd Start runs.
const Binary = "/usr/sbin/slapd"

// Suffix is the database's suffix unless WithSuffix says otherwise.
const Suffix = "dc=example,dc=com"

// startTimeout bounds one start (process up to a successful root bind):
// generous, for a loaded 2-core CI machine.
const startTimeout = 60 * time.Second

// Server is a running slapd.
type Server struct {
	URL       string // ldap://127.0.0.1:PORT (StartTLS works on it WithTLS)
	Addr      string // 127.0.0.1:PORT
	LDAPSURL  string // ldaps://127.0.0.1:PORT WithTLS, else ""
	LDAPSAddr string
	Suffix    string // the database's suffix (an organization entry)
	People    string // ou=people under Suffix, created by Start
	RootDN    string // cn=admin,<suffix>: no access limits, no size limits
	// RootPassword is the root DN's password (plain text in slapd.conf).
	RootPassword string
	// CAFile is the PEM of the CA that signed the server's certificate
	// (WithTLS; for 127.0.0.1 and localhost), else "".
	CAFile string
	// Version is what slapd -VV reports, e.g. "2.5.13+dfsg-5".
	Version string
	Dir     string // config, certificates, pid file and database

	opts   options
	output *tailBuffer

	mu   sync.Mutex
	proc *process
}

// process is one run of slapd.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once it has exited
}

type options struct {
	tls       bool
	suffix    string
	utf8Mail  bool
	sizeLimit int
}

// Option configures Start.
type Option func(*options)

// WithTLS gives the server a certificate signed by a CA generated for the
// test (Server.CAFile): an ldaps:// listener, and StartTLS on ldap://.
func WithTLS() Option { return func(o *options) { o.tls = true } }

// WithUTF8Mail holds mail as a UTF-8 Directory String (as Active
// Directory does, and as SMTPUTF8 addresses, RFC 6531, need) instead of
// the standard IA5 (ASCII) string of RFC 4524: the server loads core.schema
// with the mail attribute's syntax and matching rules changed to the
// Directory String ones (caseIgnoreMatch). Without it slapd refuses a mail
// such as élodie@exemple.fr, as a stock OpenLDAP does.
func WithUTF8Mail() Option { return func(o *options) { o.utf8Mail = true } }

// WithSizeLimit sets the server's size limit (slapd.conf sizelimit, soft
// and hard) for every bind but the root DN: a search, and a whole
// paged-results search too (size.prtotal defaults to the hard limit),
// returns at most n entries, then sizeLimitExceeded.
func WithSizeLimit(n int) Option { return func(o *options) { o.sizeLimit = n } }

// WithSuffix sets the database's suffix (default Suffix); its first RDN
// must be a dc=.
func WithSuffix(dn string) Option { return func(o *options) { o.suffix = dn } }

// Start runs slapd for the test, seeded with the suffix entry and
// ou=people, and stops it when the test ends. A missing slapd fails the
// test (the tests that need it must not pass silently without it).
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	o := options{suffix: Suffix}
	for _, opt := range opts {
		opt(&o)
	}
	if _, err := os.Stat(Binary); err != nil {
		t.Fatalf("slapd: %s is missing: install Debian's slapd package (apt-get install slapd ldap-utils): %v", Binary, err)
	}
	s := &Server{
		Suffix:       o.suffix,
		People:       "ou=people," + o.suffix,
		RootDN:       "cn=admin," + o.suffix,
		RootPassword: "root-secret-" + strconv.Itoa(os.Getpid()),
		Dir:          t.TempDir(),
		opts:         o,
		output:       &tailBuffer{limit: 128 << 10},
	}
	s.Version = version()
	if err := s.writeConfig(); err != nil {
		t.Fatalf("slapd: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("slapd %s output (tail):\n%s", s.Version, s.Output())
		}
		s.Stop()
	})
	// A free port is only free until someone takes it: a few tries.
	var err error
	for range 5 {
		if err = s.pickPorts(); err != nil {
			break
		}
		if err = s.launch(); !errors.Is(err, errAddrInUse) {
			break
		}
	}
	if err != nil {
		t.Fatalf("slapd: %v\n--- slapd output:\n%s", err, s.Output())
	}
	s.seed(t)
	return s
}

var errAddrInUse = errors.New("a port was taken")

// version is the first line of slapd -VV, trimmed to its version.
func version() string {
	out, _ := exec.Command(Binary, "-VV").CombinedOutput()
	line, _, _ := strings.Cut(string(out), "\n")
	if _, rest, ok := strings.Cut(line, "slapd "); ok {
		v, _, _ := strings.Cut(rest, " ")
		return v
	}
	return strings.TrimSpace(line)
}

func (s *Server) pickPorts() error {
	port := func() (string, error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		defer ln.Close()
		return ln.Addr().String(), nil
	}
	var err error
	if s.Addr, err = port(); err != nil {
		return err
	}
	s.URL = "ldap://" + s.Addr
	if s.opts.tls {
		if s.LDAPSAddr, err = port(); err != nil {
			return err
		}
		s.LDAPSURL = "ldaps://" + s.LDAPSAddr
	}
	return nil
}

var confTemplate = template.Must(template.New("slapd.conf").Parse(`# Built by testsupport/slapd for one test.
include {{.Core}}
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
include {{.Dir}}/adlike.schema

modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy

{{if .SizeLimit}}sizelimit {{.SizeLimit}}
{{end}}pidfile {{.Dir}}/slapd.pid
argsfile {{.Dir}}/slapd.args
{{if .TLS}}
TLSCACertificateFile {{.Dir}}/ca.pem
TLSCertificateFile {{.Dir}}/server.pem
TLSCertificateKeyFile {{.Dir}}/server.key
{{end}}
database mdb
suffix "{{.Suffix}}"
rootdn "{{.RootDN}}"
rootpw {{.RootPassword}}
directory {{.Dir}}/data
maxsize 33554432
index objectClass eq
index uid,mail,sAMAccountName,userPrincipalName eq
index entryUUID eq
access to attrs=userPassword by self write by anonymous auth by * none
access to * by users read by * none
`))

func (s *Server) writeConfig() error {
	if err := os.Mkdir(filepath.Join(s.Dir, "data"), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "adlike.schema"), []byte(adSchema), 0o644); err != nil {
		return err
	}
	if s.opts.tls {
		ca, err := writeTLS(s.Dir)
		if err != nil {
			return fmt.Errorf("test certificates: %w", err)
		}
		s.CAFile = ca
	}
	core := "/etc/ldap/schema/core.schema"
	if s.opts.utf8Mail {
		var err error
		if core, err = utf8MailCore(s.Dir, core); err != nil {
			return err
		}
	}
	var b bytes.Buffer
	err := confTemplate.Execute(&b, map[string]any{
		"Core": core, "Dir": s.Dir, "SizeLimit": s.opts.sizeLimit, "TLS": s.opts.tls, "Suffix": s.Suffix, "RootDN": s.RootDN, "RootPassword": s.RootPassword,
	})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(s.Dir, "slapd.conf"), b.Bytes(), 0o600)
}

// launch starts slapd on the chosen ports and waits until the root DN can
// bind. errAddrInUse: a port was taken meanwhile.
func (s *Server) launch() error {
	urls := "ldap://" + s.Addr + "/"
	if s.opts.tls {
		urls += " ldaps://" + s.LDAPSAddr + "/"
	}
	// -d 256 (stats) keeps slapd in the foreground, logging connections
	// and operations to stderr.
	cmd := exec.Command(Binary, "-d", "256", "-h", urls, "-f", filepath.Join(s.Dir, "slapd.conf"))
	cmd.Dir = s.Dir
	cmd.Stdout = s.output
	cmd.Stderr = s.output
	cmd.SysProcAttr = sysProcAttr()
	p := &process{cmd: cmd, done: make(chan struct{})}
	mark := s.output.Len()
	if err := p.start(); err != nil {
		return fmt.Errorf("start %s: %w", Binary, err)
	}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	var last error
	for {
		select {
		case <-p.done:
			if strings.Contains(s.output.Since(mark), "Address already in use") {
				return errAddrInUse
			}
			return fmt.Errorf("%s exited before it answered (%v)", Binary, p.cmd.ProcessState)
		case <-ctx.Done():
			s.Stop()
			return fmt.Errorf("%s did not answer within %s: %v", Binary, startTimeout, last)
		case <-time.After(20 * time.Millisecond):
		}
		c, err := s.dial()
		if err != nil {
			last = err
			continue
		}
		_ = c.Close()
		return nil
	}
}

// start runs slapd from a goroutine that holds its OS thread until slapd
// exits: Pdeathsig fires when the thread that started the child ends, not
// the process.
func (p *process) start() error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		if err := p.cmd.Start(); err != nil {
			errc <- err
			return
		}
		errc <- nil
		_ = p.cmd.Wait()
		close(p.done)
	}()
	return <-errc
}

// PID is the running slapd's process id, 0 when stopped.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	select {
	case <-s.proc.done:
		return 0
	default:
		return s.proc.cmd.Process.Pid
	}
}

// Stop ends slapd (SIGTERM: it closes its connections and the database;
// SIGKILL after 10s) and waits for it. The data stays for Restart. Safe to
// call twice.
func (s *Server) Stop() { s.halt(syscall.SIGTERM) }

// Kill ends slapd with SIGKILL, a crash: no goodbye to its clients.
func (s *Server) Kill() { s.halt(syscall.SIGKILL) }

func (s *Server) halt(sig syscall.Signal) {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Restart starts slapd again, on the same ports, over the same data.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for {
		// The old sockets can linger a moment after the process is gone.
		if err = s.launch(); !errors.Is(err, errAddrInUse) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("slapd: restart: %v\n--- slapd output:\n%s", err, s.Output())
	}
}

// Output is the tail of slapd's stderr (up to 128 KiB), across restarts.
func (s *Server) Output() string { return s.output.String() }

// dial connects to ldap:// and binds as the root DN.
func (s *Server) dial() (*ldap.Conn, error) {
	c, err := ldap.DialURL(s.URL, ldap.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}))
	if err != nil {
		return nil, err
	}
	c.SetTimeout(30 * time.Second)
	if err := c.Bind(s.RootDN, s.RootPassword); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// Conn is a connection bound as the root DN, closed when the test ends.
func (s *Server) Conn(t testing.TB) *ldap.Conn {
	t.Helper()
	c, err := s.dial()
	if err != nil {
		t.Fatalf("slapd: connect as %s: %v", s.RootDN, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Entry is one entry to add: attribute values are strings of any bytes
// (an objectGUID is 16 raw bytes).
type Entry struct {
	DN    string
	Attrs map[string][]string
}

// Add adds entries as the root DN, in order (a parent before its children).
func (s *Server) Add(t testing.TB, entries ...Entry) {
	t.Helper()
	c := s.Conn(t)
	defer c.Close()
	for _, e := range entries {
		req := ldap.NewAddRequest(e.DN, nil)
		for _, name := range sortedKeys(e.Attrs) {
			req.Attribute(name, e.Attrs[name])
		}
		if err := c.Add(req); err != nil {
			t.Fatalf("slapd: add %s: %v", e.DN, err)
		}
	}
}

// Replace sets an attribute of an entry to values (none: removes it).
func (s *Server) Replace(t testing.TB, dn, attr string, values ...string) {
	t.Helper()
	c := s.Conn(t)
	defer c.Close()
	req := ldap.NewModifyRequest(dn, nil)
	req.Replace(attr, values)
	if err := c.Modify(req); err != nil {
		t.Fatalf("slapd: modify %s %s: %v", dn, attr, err)
	}
}

// Delete removes an entry.
func (s *Server) Delete(t testing.TB, dn string) {
	t.Helper()
	c := s.Conn(t)
	defer c.Close()
	if err := c.Del(ldap.NewDelRequest(dn, nil)); err != nil {
		t.Fatalf("slapd: delete %s: %v", dn, err)
	}
}

// seed adds the suffix entry and ou=people.
func (s *Server) seed(t testing.TB) {
	t.Helper()
	rdn, _, _ := strings.Cut(s.Suffix, ",")
	attr, dc, _ := strings.Cut(rdn, "=")
	if !strings.EqualFold(strings.TrimSpace(attr), "dc") {
		t.Fatalf("slapd: the suffix %q must start with dc=", s.Suffix)
	}
	s.Add(t,
		Entry{DN: s.Suffix, Attrs: map[string][]string{"objectClass": {"dcObject", "organization"}, "dc": {dc}, "o": {dc}}},
		Entry{DN: s.People, Attrs: map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"people"}}},
	)
}

func sortedKeys(m map[string][]string) []string {
	keys := slices.Collect(maps.Keys(m))
	// objectClass first reads best in slapd's log; the order is not
	// significant to LDAP.
	slices.SortFunc(keys, func(a, b string) int {
		if ca, cb := strings.EqualFold(a, "objectClass"), strings.EqualFold(b, "objectClass"); ca != cb {
			if ca {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	return keys
}

// tailBuffer keeps the last limit bytes written to it; safe for concurrent
// use. Since reads what was written after a mark (Len), as far as kept.
type tailBuffer struct {
	limit   int
	mu      sync.Mutex
	b       []byte
	dropped int // bytes dropped from the front so far
}

func (w *tailBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b = append(w.b, p...)
	if over := len(w.b) - w.limit; over > 0 {
		w.b = append(w.b[:0], w.b[over:]...)
		w.dropped += over
	}
	return len(p), nil
}

// Len is how many bytes were ever written.
func (w *tailBuffer) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dropped + len(w.b)
}

// Since is what was written after the first mark bytes (what is kept).
func (w *tailBuffer) Since(mark int) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.b[max(0, mark-w.dropped):])
}

func (w *tailBuffer) String() string { return w.Since(0) }
