package google

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/schema"
)

// class is how usersvc answers one kind of failure.
type class int

const (
	// classNotFound: the id names no one, or the API refused the id
	// itself (400): 404, negative-cached.
	classNotFound class = iota + 1
	// classCredentials: the token endpoint refused the service account,
	// or the API refused its token or the subject's permissions (401,
	// 403 forbidden/insufficientPermissions...): the operator must act.
	classCredentials
	// classForbidden is classCredentials for a 403 on users.get, which
	// the API also answers for an email outside the customer's domains.
	classForbidden
	// classThrottled: 403 userRateLimitExceeded or quotaExceeded, 429
	// rateLimitExceeded: retried with exponential backoff, as the
	// Directory API's "Limits and quotas" page asks.
	classThrottled
	// classUnavailable: 5xx, dropped connections, broken answers,
	// timeouts of one call: retried with backoff.
	classUnavailable
	// classFailed: a failure a retry does not cure (the caller's context
	// ended, a daily limit is spent, an answer the API never gives).
	classFailed
)

// throttleReasons are the error reasons of the Directory API's "Limits and
// quotas" page that call for exponential backoff (403 userRateLimitExceeded
// and quotaExceeded, 429 rateLimitExceeded), and their general Google API
// siblings.
var throttleReasons = []string{"userRateLimitExceeded", "rateLimitExceeded", "quotaExceeded", "concurrentLimitExceeded"}

// Retry-After hints for the classes without a backoff of their own.
const (
	retryCredentials = 30 * time.Second
	retryTimeout     = time.Second
)

// failure is a classified failure of one call.
type failure struct {
	class class
	err   error
}

// classify sorts a call's error.
func classify(ctx context.Context, err error) failure {
	var te *tokenError
	if errors.As(err, &te) {
		if te.refused {
			return failure{classCredentials, te}
		}
		return failure{classUnavailable, te}
	}
	var ae *apiError
	if errors.As(err, &ae) {
		throttled := slices.ContainsFunc(ae.reasons, func(r string) bool { return slices.Contains(throttleReasons, r) })
		switch {
		case ae.code == http.StatusTooManyRequests || (ae.code == http.StatusForbidden && throttled):
			return failure{classThrottled, ae}
		case ae.code == http.StatusForbidden && slices.Contains(ae.reasons, "dailyLimitExceeded"):
			return failure{classFailed, ae} // "do not retry without fixing the problem"
		case ae.code == http.StatusNotFound || ae.code == http.StatusBadRequest:
			return failure{classNotFound, ae}
		case ae.code == http.StatusUnauthorized:
			return failure{classCredentials, ae}
		case ae.code == http.StatusForbidden && (len(ae.reasons) == 0 || slices.Contains(ae.reasons, "forbidden") || slices.Contains(ae.reasons, "notAuthorized")):
			return failure{classForbidden, ae}
		case ae.code == http.StatusForbidden:
			return failure{classCredentials, ae}
		case ae.code >= 500:
			return failure{classUnavailable, ae}
		}
		return failure{classFailed, ae}
	}
	if ctx.Err() != nil {
		return failure{classFailed, err}
	}
	return failure{classUnavailable, err} // resets, EOF, timeouts, unreadable answers
}

// retryable reports whether another try may cure f.
func (f failure) retryable() bool { return f.class == classThrottled || f.class == classUnavailable }

// credentialsError marks a refusal of usersvc's credentials: it wraps
// oidcuser.ErrDirectoryCredentials (and errForbidden for a 403 of
// users.get) around the cause, and reads as the cause alone.
type credentialsError struct {
	cause     error
	forbidden bool
}

func (e *credentialsError) Error() string {
	if e.forbidden {
		return e.cause.Error() + "; GOOGLE_ADMIN_SUBJECT must be an administrator allowed to read users"
	}
	return e.cause.Error()
}

func (e *credentialsError) Unwrap() []error {
	if e.forbidden {
		return []error{oidcuser.ErrDirectoryCredentials, errForbidden, e.cause}
	}
	return []error{oidcuser.ErrDirectoryCredentials, e.cause}
}

// errForbidden marks a 403 of users.get (see classForbidden).
var errForbidden = errors.New("the Directory API answered 403 forbidden")

// asError turns f into the error callers see. id is the user asked about
// ("" for listings); retryAfter is the hint for throttled and unavailable
// answers.
func asError(ctx context.Context, f failure, id string, retryAfter time.Duration) error {
	switch f.class {
	case classNotFound:
		return &schema.Error{Kind: schema.KindNotFound, Message: "user_id " + id + " not found in the directory", Err: f.err}
	case classCredentials:
		return schema.Unavailable("the directory refused usersvc's credentials", retryCredentials, &credentialsError{cause: f.err})
	case classForbidden:
		return schema.Unavailable("the directory refused usersvc's credentials", retryCredentials, &credentialsError{cause: f.err, forbidden: true})
	case classThrottled:
		return schema.Unavailable("the directory's rate limit is spent; try again later", max(retryAfter, time.Millisecond), f.err)
	}
	var netErr net.Error
	if ctx.Err() != nil || errors.Is(f.err, context.DeadlineExceeded) || (errors.As(f.err, &netErr) && netErr.Timeout()) {
		return schema.Unavailable("the directory did not answer in time", retryTimeout, f.err)
	}
	return schema.Unavailable("the directory is unavailable", max(retryAfter, time.Millisecond), f.err)
}

// policy is how hard one call tries.
type policy struct {
	// attempts bounds the calls made.
	attempts int
	// interactive: a lookup someone waits for. It answers at once while the
	// gate is closed, and retries only after a first-level backoff that
	// leaves time in its context; a listing waits the gate out.
	interactive bool
}

// interactive lookups make at most two calls per request they need.
var interactive = policy{attempts: 2, interactive: true}

func (d *Directory) batch() policy { return policy{attempts: d.attempts} }

// backoffFor is the wait before the n-th retry (n ≥ 1): Backoff·2^(n-1)
// plus a random jitter below Backoff, at most MaxBackoff.
func (d *Directory) backoffFor(n int) time.Duration {
	wait := d.backoff << min(n-1, 20)
	if wait <= 0 || wait > d.maxWait {
		wait = d.maxWait
	}
	return min(wait+rand.N(d.backoff), d.maxWait)
}

// call runs do under p: throttled and failed calls are retried with
// exponential backoff, up to p.attempts calls in all. fetch sends one
// request per call and the token fetch is never retried, so these are all
// the calls one request makes. id names the user for errors.
func (d *Directory) call(ctx context.Context, p policy, id string, do func(ctx context.Context) error) error {
	var last failure
	var lastWait time.Duration
	for attempt := 1; ; attempt++ {
		if wait := d.gate.remaining(); wait > 0 {
			// Throttled moments ago (by this call or another): a lookup
			// answers now, a listing waits.
			if p.interactive {
				if last.class == 0 {
					last = failure{classThrottled, errors.New("held back: the directory was throttled moments ago")}
				}
				return asError(ctx, last, id, wait)
			}
			if err := oidcuser.Sleep(ctx, wait); err != nil {
				return asError(ctx, failure{classFailed, err}, id, wait)
			}
		}
		err := do(ctx)
		if err == nil {
			d.gate.open()
			return nil
		}
		last = classify(ctx, err)
		if !last.retryable() {
			d.log.Debug("google directory call failed", "attempt", attempt, "error", last.err)
			if last.class == classFailed {
				lastWait = max(lastWait, d.maxWait) // a daily limit, say: not soon
			}
			return asError(ctx, last, id, lastWait)
		}
		var wait time.Duration
		if last.class == classThrottled {
			wait = d.gate.strike(d.backoffFor)
		} else {
			wait = d.backoffFor(attempt)
		}
		lastWait = wait
		if attempt >= p.attempts || (p.interactive && !fits(ctx, wait, 2*d.backoff)) {
			return asError(ctx, last, id, wait)
		}
		level := slog.LevelDebug
		if !p.interactive {
			level = slog.LevelWarn // a listing riding out trouble is worth knowing
		}
		d.log.Log(ctx, level, "google directory call failed; retrying", "attempt", attempt, "wait", wait.String(), "error", last.err)
		if err := oidcuser.Sleep(ctx, wait); err != nil {
			return asError(ctx, last, id, wait)
		}
	}
}

// fits reports whether waiting wait (at most limit) still leaves ctx time
// for another call.
func fits(ctx context.Context, wait, limit time.Duration) bool {
	if wait > limit {
		return false
	}
	dl, ok := ctx.Deadline()
	return !ok || time.Until(dl) > 2*wait
}
