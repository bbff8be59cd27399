// Package ldap is usersvc's LDAP and Active Directory directory (issue
// #30): it looks people up, lists them for a sync (RFC 2696 paged
// results), re-reads them by their directory id, and probes its
// connection, over github.com/go-ldap/ldap/v3.
//
// Two flavors of schema are known. openldap: inetOrgPerson people (uid,
// mail, givenName, sn, cn, displayName, title, departmentNumber, manager),
// entryUUID as the id, modifyTimestamp as lastUpdated, and the password
// policy's lock (pwdAccountLockedTime present) as inactive. ad: AD's user
// class (sAMAccountName, also found by userPrincipalName; department),
// objectGUID as the id (written as a GUID string), whenChanged as
// lastUpdated, and userAccountControl's ACCOUNTDISABLE bit as inactive.
//
// A person maps onto usersvc's user as: user_id the login, email the
// (first) mail, first_name givenName, last_name sn, full_name "givenName
// sn" (else displayName, else cn), display_name displayName (else the full
// name), role_name title, team_name departmentNumber (ad: department),
// manager_fullname and manager_email read from the entry the manager DN
// names, is_active as above, and other_key_values' okta_id the directory
// id. Only the first mail value identifies a person.
//
// Every value usersvc is asked about goes into a filter escaped (RFC 4515
// section 3), ANDed with the configured user filter, so an id is always
// data. People are keyed and matched by the rules every directory shares
// (oidcuser.PickMatch, oidcuser.KeyedUser).
//
// Server limits: with a service account, OpenLDAP caps a paged search's
// total by its size limits (set "limits dn.exact=<bind DN> size.prtotal=
// unlimited" or similar); AD caps a page at MaxPageSize (1000), above the
// default PageSize. A search a limit stops fails (unavailable, naming the
// limits), never a short listing.
//
// Connections are made lazily: New only checks the configuration. Lookups
// share one connection (go-ldap multiplexes requests on it), made on first
// use and again after it drops; a listing and a probe each use their own.
// LDAP has no rate limit for usersvc to honour.
package ldap

import (
	"context"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/schema"
)

// Directory is an LDAP or Active Directory server as a usersvc directory.
type Directory struct {
	s *settings

	dialing chan struct{} // a one-slot lock: one shared connection is made at a time

	mu     sync.Mutex
	conn   *goldap.Conn // the lookups' connection; nil until needed
	closed bool
	// The last failure to connect, and when: callers that waited for that
	// attempt take its answer rather than each trying again.
	dialErr    error
	dialFailed time.Time
}

// The directory's capabilities.
var (
	_ oidcuser.Directory = (*Directory)(nil)
	_ oidcuser.Lister    = (*Directory)(nil)
	_ oidcuser.IDLookup  = (*Directory)(nil)
	_ oidcuser.Prober    = (*Directory)(nil)
)

// lookupSizeLimit bounds the people one lookup reads (RFC 4511 section
// 4.5.1.4 sizeLimit): more people than this under one email is a conflict
// anyway.
const lookupSizeLimit = 100

// New checks cfg and returns the directory; it does not connect (the first
// call does). The error is one line naming the environment variable to
// fix.
func New(ctx context.Context, cfg Config) (*Directory, error) {
	_ = ctx // nothing to do yet: connections are made lazily
	s, err := validate(cfg)
	if err != nil {
		return nil, err
	}
	return &Directory{s: s, dialing: make(chan struct{}, 1)}, nil
}

// Close closes the lookups' connection; later calls fail (unavailable).
func (d *Directory) Close() error {
	d.mu.Lock()
	c := d.conn
	d.conn, d.closed = nil, true
	d.mu.Unlock()
	if c != nil {
		return c.Close()
	}
	return nil
}

// shared returns the lookups' connection, connecting when there is none or
// it dropped; fresh says it was made for this call.
func (d *Directory) shared(ctx context.Context) (c *goldap.Conn, fresh bool, err error) {
	if c, err := d.current(); c != nil || err != nil {
		return c, false, err
	}
	waited := time.Now()
	select {
	case d.dialing <- struct{}{}:
		defer func() { <-d.dialing }()
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
	// Another caller may have connected, or failed to, while this one
	// waited.
	if c, err := d.current(); c != nil || err != nil {
		return c, false, err
	}
	d.mu.Lock()
	failed, dialErr := d.dialFailed, d.dialErr
	d.mu.Unlock()
	if failed.After(waited) {
		return nil, true, dialErr
	}
	c, err = d.connect(ctx)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil { // not this caller's own deadline
			d.dialErr, d.dialFailed = err, time.Now()
		}
		return nil, false, err
	}
	if d.closed {
		_ = c.Close()
		return nil, false, errClosed
	}
	d.conn = c
	return c, true, nil
}

// current is the live shared connection, or nil.
func (d *Directory) current() (*goldap.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errClosed
	}
	if d.conn != nil && d.conn.IsClosing() {
		d.s.Logger.Info("ldap: the directory connection was closed; reconnecting", "error", d.conn.GetLastError())
		_ = d.conn.Close()
		d.conn = nil
	}
	return d.conn, nil
}

// drop discards c when it is the shared connection.
func (d *Directory) drop(c *goldap.Conn) {
	d.mu.Lock()
	if d.conn == c {
		d.conn = nil
	}
	d.mu.Unlock()
	_ = c.Close()
}

// search runs req on the shared connection. A connection that turns out
// dead is replaced once (at most one reconnect per call); a connection
// made for this call is not retried, nor a request the server did not
// answer in time. A server's error answer comes back with the result
// (partial entries, for a size limit).
func (d *Directory) search(ctx context.Context, req *goldap.SearchRequest) (*goldap.SearchResult, error) {
	for attempt := 0; ; attempt++ {
		c, fresh, err := d.shared(ctx)
		if err != nil {
			return nil, err
		}
		res, err := call(ctx, func() (*goldap.SearchResult, error) { return c.Search(req) })
		if err == nil || ctx.Err() != nil {
			return res, err
		}
		if err = lost(c, err); !isNetwork(err) {
			return res, err // the server answered
		}
		d.drop(c)
		if fresh || attempt > 0 || isTimeout(err) {
			return nil, err
		}
		d.s.Logger.Info("ldap: the directory connection failed; reconnecting once", "error", err)
	}
}

// searchRequest searches the base's subtree.
func (d *Directory) searchRequest(filter string, sizeLimit int, attrs []string) *goldap.SearchRequest {
	return goldap.NewSearchRequest(d.s.BaseDN, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases,
		sizeLimit, d.timeLimit(), false, filter, attrs, nil)
}

// timeLimit is the server-side time limit of a search, in seconds (RFC
// 4511 section 4.5.1.5): the Timeout, rounded up.
func (d *Directory) timeLimit() int {
	return int((d.s.Timeout + time.Second - 1) / time.Second)
}

// and combines the user filter with more filter components.
func (d *Directory) and(parts ...string) string {
	return "(&" + d.s.UserFilter + strings.Join(parts, "") + ")"
}

// LookupUser finds the person id names: their login (uid; AD:
// sAMAccountName or userPrincipalName) or their mail, case-insensitively
// as the schema compares them. A login match wins; several people under
// one email and no login match is a conflict; no one is not found.
func (d *Directory) LookupUser(ctx context.Context, id string) (schema.User, error) {
	if id == "" || !utf8.ValidString(id) {
		// No directory string can equal it (RFC 4517 Directory String is
		// UTF-8).
		return schema.User{}, notFound(id)
	}
	res, err := d.search(ctx, d.searchRequest(d.s.flavor.lookupFilter(d.s.UserFilter, id), lookupSizeLimit, d.s.flavor.attributes()))
	truncated := goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded) && res != nil
	if err != nil && !truncated {
		return schema.User{}, classify(ctx, err)
	}
	cands := d.candidates(res.Entries)
	match, err := pick(id, cands, truncated)
	if err != nil {
		return schema.User{}, err
	}
	var sameEmail []oidcuser.Person
	if strings.EqualFold(match.Email, id) && !truncated {
		// The search matched the mail: everyone under it was read.
		sameEmail = persons(cands)
	}
	return d.keyed(ctx, match, sameEmail)
}

// LookupByID re-reads the person whose directory id (entryUUID; AD:
// objectGUID as a GUID string) is id.
func (d *Directory) LookupByID(ctx context.Context, id string) (schema.User, error) {
	f, ok := d.s.flavor.idFilter(id)
	if !ok {
		return schema.User{}, schema.Errorf(schema.KindNotFound, "directory id %s not found", id)
	}
	res, err := d.search(ctx, d.searchRequest(d.and(f), 2, d.s.flavor.attributes()))
	if err != nil {
		return schema.User{}, classify(ctx, err)
	}
	cands := d.candidates(res.Entries)
	switch len(cands) {
	case 0:
		return schema.User{}, schema.Errorf(schema.KindNotFound, "directory id %s not found", id)
	case 1:
		return d.keyed(ctx, cands[0], nil)
	default:
		return schema.User{}, schema.Errorf(schema.KindConflict, "directory id %s names %d directory entries; nothing was written", id, len(cands))
	}
}

func notFound(id string) error {
	return schema.Errorf(schema.KindNotFound, "user_id %s not found in the directory", id)
}

// pick applies the shared rule (oidcuser.PickMatch). Every value of a
// login attribute counts as a login: a second uid, AD's
// userPrincipalName. A truncated answer without a login match is a
// conflict: the email is shared by more people than were read.
func pick(id string, cands []candidate, truncated bool) (candidate, error) {
	loginMatch := false
	for _, c := range cands {
		loginMatch = loginMatch || strings.EqualFold(c.Login, id)
	}
	if !loginMatch {
		for _, c := range cands {
			for _, a := range c.aliases {
				if strings.EqualFold(strings.TrimSpace(a), id) {
					return c, nil
				}
			}
		}
		if truncated {
			return candidate{}, schema.Errorf(schema.KindConflict, "user_id %s matches more than %d directory users by email and none by login; nothing was written", id, len(cands))
		}
	}
	p, err := oidcuser.PickMatch(id, persons(cands))
	if err != nil {
		return candidate{}, err
	}
	for _, c := range cands {
		if c.ID == p.ID {
			return c, nil
		}
	}
	return candidate{}, notFound(id) // unreachable: PickMatch picks among cands
}

func persons(cands []candidate) []oidcuser.Person {
	out := make([]oidcuser.Person, len(cands))
	for i, c := range cands {
		out[i] = c.Person
	}
	return out
}

// candidates maps entries, leaving out those usersvc cannot hold.
func (d *Directory) candidates(entries []*goldap.Entry) []candidate {
	out := make([]candidate, 0, len(entries))
	for _, e := range entries {
		if c, ok := d.s.flavor.person(e); ok {
			out = append(out, c)
		} else {
			d.s.Logger.Debug("ldap: skipped an entry without a login or an id", "dn", e.DN)
		}
	}
	return out
}

// keyed completes a person (their manager's name and email) and keys them
// by oidcuser.KeyedUser, reading who else has their email unless
// sameEmail already says. The two reads run at once on the shared
// connection.
func (d *Directory) keyed(ctx context.Context, c candidate, sameEmail []oidcuser.Person) (schema.User, error) {
	var (
		wg         sync.WaitGroup
		mgr        manager
		mgrErr     error
		emailErr   error
		needEmails = c.Email != "" && sameEmail == nil
	)
	if needEmails {
		wg.Go(func() { sameEmail, emailErr = d.sameEmail(ctx, c.Email) })
	}
	if c.managerDN != "" {
		wg.Go(func() { mgr, mgrErr = d.readManager(ctx, c.managerDN) })
	}
	wg.Wait()
	for _, err := range []error{emailErr, mgrErr} {
		if err != nil {
			return schema.User{}, classify(ctx, err)
		}
	}
	return oidcuser.KeyedUser(withManager(c.Person, mgr), sameEmail), nil
}

// sameEmail reads the people whose mail is email. Past the size limit
// the email is shared anyway: the people read say so.
func (d *Directory) sameEmail(ctx context.Context, email string) ([]oidcuser.Person, error) {
	res, err := d.search(ctx, d.searchRequest(d.and("(mail="+goldap.EscapeFilter(email)+")"), lookupSizeLimit, d.s.flavor.attributes()))
	if err != nil && !(goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded) && res != nil) {
		return nil, err
	}
	return persons(d.candidates(res.Entries)), nil
}

// readManager reads the entry a manager attribute names (a DN). A DN
// that names no entry (or no valid DN) is no manager, not a failure.
func (d *Directory) readManager(ctx context.Context, dn string) (manager, error) {
	req := goldap.NewSearchRequest(dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 1, d.timeLimit(), false,
		"(objectClass=*)", managerAttributes, nil)
	res, err := d.search(ctx, req)
	if goldap.IsErrorAnyOf(err, goldap.LDAPResultNoSuchObject, goldap.LDAPResultInvalidDNSyntax) {
		return manager{}, nil
	}
	if err != nil {
		return manager{}, err
	}
	if len(res.Entries) == 0 {
		return manager{}, nil
	}
	return managerOf(res.Entries[0]), nil
}

// Probe checks, on a connection of its own, that the server answers, that
// it accepts usersvc's bind (an error wrapping
// oidcuser.ErrDirectoryCredentials when it does not) and that the base DN
// can be read (a base-scope search, RFC 4511 section 4.5.1.2).
func (d *Directory) Probe(ctx context.Context) error {
	if _, err := d.current(); err != nil {
		return classify(ctx, err)
	}
	c, err := d.connect(ctx)
	if err != nil {
		return classify(ctx, err)
	}
	defer c.Close()
	req := goldap.NewSearchRequest(d.s.BaseDN, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 1, d.timeLimit(), false,
		"(objectClass=*)", []string{"1.1"}, nil) // 1.1: no attributes (RFC 4511 section 4.5.1.8)
	res, err := call(ctx, func() (*goldap.SearchResult, error) { return c.Search(req) })
	if err != nil {
		return classify(ctx, err)
	}
	if len(res.Entries) == 0 {
		return schema.Unavailable("LDAP_BASE_DN cannot be read with usersvc's bind (check LDAP_BASE_DN and the access of LDAP_BIND_DN)", retryConfig, nil)
	}
	return nil
}
