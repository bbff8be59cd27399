package entra

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/schema"
)

// A listing page is tried at most maxPageAttempts times: a sync rides out
// a throttle or a blip that an interactive lookup reports at once, but a
// page that keeps failing fails the whole listing.
const maxPageAttempts = 4

// maxBackoff caps the wait before a page is tried again.
const maxBackoff = 2 * time.Minute

// ListUsers pages through every user of the tenant: GET
// /users?$select=...&$top=PageSize&$expand=manager($select=...), then each
// @odata.nextLink exactly as Graph wrote it ("Paging Microsoft Graph data":
// use the entire URL; it carries the $skiptoken and the other query
// parameters). fn is called once per page. A page that still fails after
// its retries (429 and 5xx honouring Retry-After, dropped connections,
// timeouts) fails the whole listing with an error: never a silent partial
// listing.
//
// q.UpdatedAfter is not applied: Graph v1.0 users have no last-modified
// property to filter on, so every listing is a full one (Person.LastUpdated
// is zero). Incremental reads would need Graph's delta query.
func (d *Directory) ListUsers(ctx context.Context, q oidcuser.ListQuery, fn func([]oidcuser.Person) error) error {
	if !q.UpdatedAfter.IsZero() {
		d.log.Debug("Entra ID listings are always full: Graph users have no last-modified filter", "updated_after", q.UpdatedAfter)
	}
	next := d.endpoint("/users", query(
		"$select", userFields,
		"$top", strconv.Itoa(d.pageSize),
		"$expand", "manager($select="+managerFields+")",
	))
	for page := 1; next != ""; page++ {
		var body struct {
			Value    []graphUser `json:"value"`
			NextLink string      `json:"@odata.nextLink"`
		}
		if err := d.getPage(ctx, page, next, &body); err != nil {
			return fmt.Errorf("entra: listing users, page %d: %w", page, err)
		}
		if err := fn(people(body.Value)); err != nil {
			return err
		}
		next = body.NextLink
		if next != "" {
			if err := d.sameOrigin(next); err != nil {
				return fmt.Errorf("entra: listing users, after page %d: %w", page, err)
			}
		}
	}
	return nil
}

// sameOrigin refuses a nextLink whose scheme or host differ from Graph's:
// the bearer token is never sent anywhere else.
func (d *Directory) sameOrigin(link string) error {
	u, err := url.Parse(link)
	if err != nil {
		return fmt.Errorf("refused an unreadable @odata.nextLink: %w", err)
	}
	if !strings.EqualFold(u.Scheme, d.graph.Scheme) || !strings.EqualFold(origin(u), origin(d.graph)) || u.User != nil {
		return fmt.Errorf("refused an @odata.nextLink to %s://%s: it is not the Graph host %s", u.Scheme, u.Host, d.graph.Host)
	}
	return nil
}

// getPage fetches one page, waiting out throttling (Retry-After) and
// retrying other unavailability with backoff, at most maxPageAttempts
// times. Errors that are not the service failing (credentials, a refused
// request) return at once.
func (d *Directory) getPage(ctx context.Context, page int, link string, out any) error {
	backoff := d.retryBase
	for attempt := 1; ; attempt++ {
		if wait := d.throttled(); wait > 0 {
			if err := d.sleep(ctx, wait); err != nil {
				return err
			}
		}
		err := d.get(ctx, link, out)
		if err == nil || !retryable(err) || attempt == maxPageAttempts || ctx.Err() != nil {
			return err
		}
		// "Wait the number of seconds specified in the Retry-After header";
		// without one, back off exponentially (Microsoft Graph throttling
		// guidance).
		var wait time.Duration
		if ge := (*graphError)(nil); errors.As(err, &ge) && ge.RetryAfter > 0 {
			wait = ge.RetryAfter
		} else {
			wait, backoff = backoff, min(backoff*2, maxBackoff)
		}
		wait = min(wait, maxBackoff)
		d.log.Warn("Entra ID listing page failed; retrying", "page", page, "attempt", attempt, "wait", wait.String(), "error", err)
		if err := d.sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// retryable: the service failed (throttled, 5xx, no answer), not our
// credentials nor our request.
func retryable(err error) bool {
	return schema.KindOf(err) == schema.KindUnavailable && !errors.Is(err, oidcuser.ErrDirectoryCredentials)
}

// origin is host:port with the scheme's default port made explicit.
func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[strings.ToLower(u.Scheme)]
	}
	return net.JoinHostPort(u.Hostname(), port)
}
