package ldap

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/schema"
)

// maxListAttempts bounds the passes of one listing: a page that fails
// (the connection dropped, the server timed out or was busy) restarts the
// search from its start on a new connection, since the cookie of RFC 2696
// names a paged search the server keeps with the connection it ran on
// (OpenLDAP drops it with the connection); after that many passes the
// listing fails.
const maxListAttempts = 3

// listBackoff is the pause before pass n+1 (times n).
var listBackoff = 250 * time.Millisecond

// ListUsers pages through the people with the paged-results control (RFC
// 2696), PageSize entries a page, calling fn once for each page that
// holds someone. The order is the server's, not lastUpdated's: LDAP
// servers sort only with a control that OpenLDAP lacks without the
// sssvlv overlay; the Syncer orders what it fetched itself.
//
// q.UpdatedAfter selects by modifyTimestamp (AD: whenChanged) with a >=
// filter at the second, then drops the people at the watermark itself
// unless q.Inclusive.
//
// A failed page restarts the search on a new connection (at most
// maxListAttempts passes); people fn already got are not handed over
// again, so fn sees everyone once. When the last pass fails too, the
// listing fails with an error (a listing is never cut short silently).
// An error from fn stops the listing and is returned as is.
func (d *Directory) ListUsers(ctx context.Context, q oidcuser.ListQuery, fn func([]oidcuser.Person) error) error {
	if _, err := d.current(); err != nil {
		return classify(ctx, err)
	}
	l := &listing{
		d:        d,
		q:        q,
		fn:       fn,
		seen:     map[string]bool{},
		managers: map[string]manager{},
		filter:   d.s.UserFilter,
	}
	if !q.UpdatedAfter.IsZero() {
		since := q.UpdatedAfter.UTC().Truncate(time.Second)
		l.filter = d.and("(" + d.s.flavor.changed + ">=" + since.Format(d.s.flavor.timeFormat) + ")")
	}
	for pass := 1; ; pass++ {
		err := l.pass(ctx)
		var stop *fnError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &stop):
			return stop.err
		case ctx.Err() != nil:
			return classify(ctx, err)
		case !retryable(err) || pass == maxListAttempts:
			return l.failed(ctx, pass, err)
		}
		d.s.Logger.Warn("ldap: a listing page failed; restarting the search on a new connection",
			"pass", pass, "pages", l.pages, "people", len(l.seen), "error", err)
		select {
		case <-time.After(time.Duration(pass) * listBackoff):
		case <-ctx.Done():
			return classify(ctx, ctx.Err())
		}
	}
}

// failed is the listing's error after its last pass: classified, and
// saying how far it got.
func (l *listing) failed(ctx context.Context, passes int, err error) error {
	c := classify(ctx, err)
	var se *schema.Error
	if errors.As(c, &se) {
		e := *se
		e.Message = fmt.Sprintf("%s: the directory listing failed after %d pages (%d people), on pass %d of at most %d", se.Message, l.pages, len(l.seen), passes, maxListAttempts)
		return &e
	}
	return c
}

// retryable: worth another pass on a new connection.
func retryable(err error) bool {
	if isNetwork(err) || isTimeout(err) {
		return true
	}
	return goldap.IsErrorAnyOf(err, goldap.LDAPResultBusy, goldap.LDAPResultUnavailable,
		goldap.LDAPResultTimeLimitExceeded, goldap.LDAPResultOther)
}

// fnError carries fn's error out of a pass.
type fnError struct{ err error }

func (e *fnError) Error() string { return e.err.Error() }

// listing is one ListUsers call across its passes.
type listing struct {
	d        *Directory
	q        oidcuser.ListQuery
	fn       func([]oidcuser.Person) error
	filter   string
	seen     map[string]bool    // ids handed to fn
	managers map[string]manager // by lower-cased DN, across pages and passes
	pages    int                // pages handed to fn
}

// pass runs the paged search once, on a connection of its own (closed
// after, which also ends the server's paging state).
func (l *listing) pass(ctx context.Context) error {
	d := l.d
	c, err := d.connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	paging := goldap.NewControlPaging(uint32(d.s.PageSize))
	req := goldap.NewSearchRequest(d.s.BaseDN, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, d.timeLimit(), false,
		l.filter, d.s.flavor.attributes(), []goldap.Control{paging})
	for {
		res, err := call(ctx, func() (*goldap.SearchResult, error) { return c.Search(req) })
		if err != nil {
			return lost(c, err)
		}
		var page []candidate
		for _, e := range res.Entries {
			cand, ok := d.s.flavor.person(e)
			if !ok {
				d.s.Logger.Debug("ldap: skipped an entry without a login or an id", "dn", e.DN)
				continue
			}
			// Everyone listed may be someone's manager.
			l.managers[strings.ToLower(e.DN)] = managerOf(e)
			if l.seen[cand.ID] || !l.wanted(cand.LastUpdated) {
				continue
			}
			page = append(page, cand)
		}
		if len(page) > 0 {
			people, err := l.complete(ctx, c, page)
			if err != nil {
				return err
			}
			for _, p := range people {
				l.seen[p.ID] = true
			}
			l.pages++
			if err := l.fn(people); err != nil {
				return &fnError{err}
			}
		}
		ctrl, _ := goldap.FindControl(res.Controls, goldap.ControlTypePaging).(*goldap.ControlPaging)
		if ctrl == nil || len(ctrl.Cookie) == 0 {
			return nil // the last page (RFC 2696: an empty cookie)
		}
		paging.SetCookie(ctrl.Cookie)
	}
}

// wanted applies q's watermark exactly (the filter is at the second).
func (l *listing) wanted(updated time.Time) bool {
	after := l.q.UpdatedAfter
	if after.IsZero() {
		return true
	}
	return updated.After(after) || (l.q.Inclusive && updated.Equal(after))
}

// complete fills in the page's managers: from the people listed so far,
// else a read of the manager's entry on the listing's connection.
func (l *listing) complete(ctx context.Context, c *goldap.Conn, page []candidate) ([]oidcuser.Person, error) {
	out := make([]oidcuser.Person, len(page))
	for i, p := range page {
		var m manager
		if p.managerDN != "" {
			key := strings.ToLower(p.managerDN)
			var ok bool
			if m, ok = l.managers[key]; !ok {
				req := goldap.NewSearchRequest(p.managerDN, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 1, l.d.timeLimit(), false,
					"(objectClass=*)", managerAttributes, nil)
				res, err := call(ctx, func() (*goldap.SearchResult, error) { return c.Search(req) })
				switch {
				case goldap.IsErrorAnyOf(err, goldap.LDAPResultNoSuchObject, goldap.LDAPResultInvalidDNSyntax):
				case err != nil:
					return nil, lost(c, err)
				case len(res.Entries) > 0:
					m = managerOf(res.Entries[0])
				}
				l.managers[key] = m
			}
		}
		out[i] = withManager(p.Person, m)
	}
	return out, nil
}
