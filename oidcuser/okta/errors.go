package okta

import (
	"context"
	"errors"
	"github.com/usersvc/usersvc/oidcuser"
	"net"
	"net/http"
	"time"

	oktasdk "github.com/okta/okta-sdk-golang/v2/okta"

	"github.com/usersvc/usersvc/schema"
)

// oktaClass is how usersvc answers one kind of Okta failure.
type oktaClass int

const (
	// classNotFound: the id names no one, or Okta refused the id itself
	// (the caller's input): 404, negative-cached.
	classNotFound oktaClass = iota + 1
	// classCredentials: Okta refused usersvc's own token or permissions:
	// 503 with Retry-After, logged at error level (rate-limited).
	classCredentials
	// classRateLimited: a spent rate-limit window: 503 with Retry-After.
	classRateLimited
	// classUnavailable: Okta failing (5xx, broken answers, timeouts,
	// resets): 503 with Retry-After.
	classUnavailable
)

// oktaErrorCodes classifies Okta's errorCode values (Okta's error-code
// reference; DESIGN §5: branch on errorCode). The README's error table is
// this table.
var oktaErrorCodes = map[string]oktaClass{
	"E0000007": classNotFound,    // Not found: Resource not found
	"E0000031": classNotFound,    // Invalid search criteria: the id made the search invalid
	"E0000001": classNotFound,    // Api validation failed: the id is not a valid value
	"E0000011": classCredentials, // Invalid token provided
	"E0000006": classCredentials, // You do not have permission to perform the requested action
	"E0000047": classRateLimited, // API call exceeded rate limit
}

// oktaStatusClasses classifies answers whose errorCode is absent or not in
// oktaErrorCodes, by HTTP status; anything else is classUnavailable.
var oktaStatusClasses = map[int]oktaClass{
	http.StatusBadRequest:      classNotFound, // a plain 400: the request carried only the id
	http.StatusNotFound:        classNotFound,
	http.StatusUnauthorized:    classCredentials,
	http.StatusForbidden:       classCredentials,
	http.StatusTooManyRequests: classRateLimited,
}

// Retry-After hints per class.
const (
	retryCredentials = 30 * time.Second
	retryRateLimited = time.Second
	retryTimeout     = time.Second
	retryUnavailable = 5 * time.Second
)

// classifyOktaError maps an SDK failure to a classified error through the
// tables above. resp is the SDK's answer, when there was one.
func classifyOktaError(ctx context.Context, id string, resp *oktasdk.Response, err error) error {
	if err == nil {
		return nil
	}
	var limited *oidcuser.RateLimitedError
	if errors.As(err, &limited) {
		return schema.Unavailable("the directory's rate limit is spent; try again later", limited.RetryAfter, err)
	}
	class := classUnavailable
	var oerr *oktasdk.Error
	if errors.As(err, &oerr) {
		if c, ok := oktaErrorCodes[oerr.ErrorCode]; ok {
			class = c
		} else if resp != nil && resp.Response != nil {
			if c, ok := oktaStatusClasses[resp.StatusCode]; ok {
				class = c
			}
		}
	}
	switch class {
	case classNotFound:
		return &schema.Error{Kind: schema.KindNotFound, Message: "user_id " + id + " not found in the directory", Err: err}
	case classCredentials:
		return schema.Unavailable("the directory refused usersvc's credentials", retryCredentials, errors.Join(oidcuser.ErrDirectoryCredentials, err))
	case classRateLimited:
		return schema.Unavailable("the directory's rate limit is spent; try again later", retryRateLimited, err)
	}
	var netErr net.Error
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
		return schema.Unavailable("the directory did not answer in time", retryTimeout, err)
	}
	return schema.Unavailable("the directory is unavailable", retryUnavailable, err)
}
