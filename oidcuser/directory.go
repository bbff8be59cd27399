package oidcuser

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/usersvc/usersvc/schema"
)

// Directory finds one person in an identity provider by the id usersvc was
// asked about (a login or an email). Errors are classified: KindNotFound,
// KindConflict (several people match), KindUnavailable (the provider is down,
// slow or rate-limited; RetryAfter says when to try again).
type Directory interface {
	LookupUser(ctx context.Context, id string) (schema.User, error)
}

// What a directory can do beyond LookupUser. cmd/usersvc discovers these
// capabilities with a type assertion on the Directory it built; each
// directory asserts at compile time which ones it has (below).

// ListQuery selects the people a sync pages through.
type ListQuery struct {
	// UpdatedAfter: only people whose lastUpdated is after it (zero: all).
	UpdatedAfter time.Time
	// Inclusive: lastUpdated at UpdatedAfter counts too (resuming a run).
	Inclusive bool
}

// Lister is a directory that can be synced: it pages through its people in
// lastUpdated order (the Syncer's source).
type Lister interface {
	ListUsers(ctx context.Context, q ListQuery, fn func([]Person) error) error
}

// GroupLister is a directory with group memberships: it names the groups a
// person belongs to, from which a sync can take team_name.
type GroupLister interface {
	Groups(ctx context.Context, oktaID string) ([]string, error)
}

// Reloader is a directory whose source can change under it (a file): Watch
// re-reads it every interval until ctx ends, so changes are picked up even
// when no lookup reaches the directory, and calls onChange after each
// re-read (to drop cached "not found" answers, say).
type Reloader interface {
	Watch(ctx context.Context, every time.Duration, onChange func())
}

// Prober is a directory that can check, with one cheap call, that it
// reaches its provider and that usersvc's credentials are accepted
// (check-config and health): an error wrapping ErrDirectoryCredentials
// when they are refused, KindUnavailable when the provider is away.
type Prober interface {
	Probe(ctx context.Context) error
}

// ErrDirectoryCredentials marks failures caused by usersvc's own directory
// credentials or permissions (an operator must act). Every directory wraps
// it, so the resolver logs it once and check-config names it, whichever
// directory runs.
var ErrDirectoryCredentials = errors.New("the directory refused usersvc's credentials or permissions")

// IDLookup is a directory that can re-read one person by their directory
// id (Okta's user id): what the Okta event hooks need, since an event names
// its target by id.
type IDLookup interface {
	LookupByID(ctx context.Context, id string) (schema.User, error)
}

// OtherKeyOktaID is the other_key_values entry holding the person's id in the
// directory, so graph records can be traced back to their source.
const OtherKeyOktaID = schema.DirectoryIDProperty

// Person is one person as every directory hands them over: their stable
// id in the directory (written as okta_id, the one directory-id property),
// login, email, when the directory last changed them, and the user they
// map to (ToUser's mapping for Okta; each directory has its own).
type Person struct {
	ID          string
	Login       string
	Email       string
	LastUpdated time.Time
	User        schema.User
}

// PickMatch chooses the person an id names among candidates: a login match
// wins (logins are unique); otherwise exactly one email match. Several email
// matches without a login match are a conflict: guessing would attach one
// person's follows to another. Every directory looks people up by this rule.
func PickMatch(id string, candidates []Person) (Person, error) {
	var byEmail []Person
	for _, c := range candidates {
		if strings.EqualFold(c.Login, id) {
			return c, nil
		}
		if strings.EqualFold(c.Email, id) {
			byEmail = append(byEmail, c)
		}
	}
	switch len(byEmail) {
	case 0:
		return Person{}, schema.Errorf(schema.KindNotFound, "user_id %s not found in the directory", id)
	case 1:
		return byEmail[0], nil
	default:
		return Person{}, schema.Errorf(schema.KindConflict, "user_id %s matches %d directory users by email and none by login; nothing was written", id, len(byEmail))
	}
}
