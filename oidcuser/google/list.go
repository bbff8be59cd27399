package google

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/schema"
)

// ListUsers pages through every user of the customer (users.list, by
// email, PageSize a page, suspended and archived people included), calling
// fn once a page. The Directory API cannot filter on when a user last
// changed, so q is ignored: every listing is whole, and people carry a
// zero LastUpdated.
//
// Managers are named from the people already listed; a manager not listed
// yet is read once (users.get) and remembered for the rest of the listing.
// A page (or a manager it needs) that still fails after PageAttempts tries,
// with exponential backoff, fails the whole listing: ending quietly would
// pass a partial listing off as a whole one.
func (d *Directory) ListUsers(ctx context.Context, _ oidcuser.ListQuery, fn func([]oidcuser.Person) error) error {
	managers := map[string]manager{}
	token := ""
	for page := 1; ; page++ {
		var res userPage
		err := d.call(ctx, d.batch(), "", func(ctx context.Context) error {
			res = userPage{}
			return d.fetch(ctx, d.listURL(token, d.pageSize), &res)
		})
		if err != nil {
			return fmt.Errorf("list the Google directory: page %d: %w", page, listingError(err))
		}
		for i := range res.Users {
			if u := &res.Users[i]; u.PrimaryEmail != "" {
				managers[strings.ToLower(u.PrimaryEmail)] = managerOf(u)
			}
		}
		people := make([]oidcuser.Person, 0, len(res.Users))
		for i := range res.Users {
			u := &res.Users[i]
			if u.ID == "" || u.PrimaryEmail == "" {
				continue
			}
			p, err := d.person(ctx, u, d.batch(), managers)
			if err != nil {
				return fmt.Errorf("list the Google directory: page %d: %w", page, err)
			}
			people = append(people, p)
		}
		d.log.Debug("google directory page listed", "page", page, "people", len(people))
		if err := fn(people); err != nil {
			return err
		}
		if res.NextPageToken == "" {
			return nil
		}
		token = res.NextPageToken
	}
}

// listingError: a listing the API refuses as a bad request or unknown
// (400, 404) names a customer it does not know, which the operator must
// fix.
func listingError(err error) error {
	if schema.IsNotFound(err) {
		var se *schema.Error
		errors.As(err, &se)
		return schema.Unavailable("the directory refused usersvc's credentials", retryCredentials,
			&credentialsError{cause: fmt.Errorf("users.list refused the customer; check GOOGLE_CUSTOMER: %w", se.Err)})
	}
	return err
}

// Probe checks, with one users.list call of one user (a token fetch
// first, when none is cached), that Google accepts the service account's
// key, its domain-wide delegation and the subject's right to read users.
// A refusal wraps oidcuser.ErrDirectoryCredentials.
func (d *Directory) Probe(ctx context.Context) error {
	err := d.call(ctx, policy{attempts: 1, interactive: true}, "", func(ctx context.Context) error {
		var res userPage
		return d.fetch(ctx, d.listURL("", 1), &res)
	})
	return listingError(err)
}
