package entra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/schema"
)

// Retry-After hints when Graph gives none.
const (
	retryCredentials = 30 * time.Second
	retryRateLimited = time.Second
	retryTimeout     = time.Second
	retryUnavailable = 5 * time.Second
	// maxRetryAfter caps a Retry-After the directory honours.
	maxRetryAfter = 5 * time.Minute
	// maxBody bounds an answer read (a page of 999 users is about 1 MiB).
	maxBody = 32 << 20
)

// graphError is Graph's error object ("Microsoft Graph error responses":
// {"error": {"code", "message", "innerError"}}) with the answer's status.
type graphError struct {
	Status  int
	Code    string
	Message string
	// RetryAfter is the answer's Retry-After; 0 without one.
	RetryAfter time.Duration
}

func (e *graphError) Error() string {
	return fmt.Sprintf("graph answered %d %s: %s", e.Status, e.Code, e.Message)
}

// query renders system query options as Graph's documentation writes
// them: names keep their $, values are percent-encoded with spaces as %20
// ("Use query parameters": values "should be percent-encoded as per RFC
// 3986").
func query(pairs ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(pairs); i += 2 {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(pairs[i])
		b.WriteByte('=')
		b.WriteString(strings.ReplaceAll(url.QueryEscape(pairs[i+1]), "+", "%20"))
	}
	return b.String()
}

// endpoint is the absolute URL of a v1.0 path (already escaped) and query.
func (d *Directory) endpoint(path, rawQuery string) string {
	s := d.graphRoot + "/v1.0" + path
	if rawQuery != "" {
		s += "?" + rawQuery
	}
	return s
}

// throttled is how long Graph asked the directory to hold its calls
// (0: not throttled).
func (d *Directory) throttled() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.throttledUntil.Sub(d.now())
}

// holdOff remembers a Retry-After of a throttled answer: "Wait the number
// of seconds specified in the Retry-After header" before retrying
// (Microsoft Graph throttling guidance), so calls made meanwhile are
// answered at once without reaching Graph.
func (d *Directory) holdOff(wait time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if until := d.now().Add(wait); until.After(d.throttledUntil) {
		d.throttledUntil = until
	}
}

// get sends one GET of rawURL (absolute, on the Graph host) with the
// application's token and decodes a 200 answer into out. A 401 for a cached
// token (expired or revoked early) fetches a new token and tries once more.
// Every failure is classified: a *graphError inside a schema.Error
// (KindNotFound for 404, KindInvalid for 400, KindUnavailable otherwise,
// wrapping oidcuser.ErrDirectoryCredentials for 401 and 403).
func (d *Directory) get(ctx context.Context, rawURL string, out any) error {
	if wait := d.throttled(); wait > 0 {
		return schema.Unavailable("the directory is throttling usersvc; try again later", wait, nil)
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		tok, err := d.tokens.get(ctx)
		if err != nil {
			return err
		}
		err = d.send(ctx, rawURL, tok, out)
		var ge *graphError
		if attempt == 0 && errors.As(err, &ge) && ge.Status == http.StatusUnauthorized && ge.Code == "InvalidAuthenticationToken" {
			d.tokens.drop(tok)
			continue
		}
		return err
	}
}

// send is one request.
func (d *Directory) send(ctx context.Context, rawURL, token string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return fmt.Errorf("entra: request %s: %w", rawURL, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		return transportError(ctx, "the directory", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return transportError(ctx, "the directory", err)
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, out); err != nil {
			return schema.Unavailable("the directory returned an unreadable answer", retryUnavailable, err)
		}
		return nil
	}
	ge := &graphError{Status: resp.StatusCode, RetryAfter: retryAfterOr(resp.Header, 0)}
	var eb struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &eb) == nil {
		ge.Code, ge.Message = eb.Error.Code, eb.Error.Message
	}
	return d.classify(resp, ge)
}

// classify maps a Graph error answer to a schema error ("Microsoft Graph
// error responses": 404 not found; 401 missing or invalid token; 403
// insufficient permissions, e.g. Authorization_RequestDenied; 429
// throttled; 503/504 with an optional Retry-After). A 400 is returned as
// KindInvalid: callers decide whether the id asked about caused it.
func (d *Directory) classify(resp *http.Response, ge *graphError) error {
	switch s := ge.Status; {
	case s == http.StatusNotFound:
		return &schema.Error{Kind: schema.KindNotFound, Message: "not found in the directory", Err: ge}
	case s == http.StatusBadRequest:
		return &schema.Error{Kind: schema.KindInvalid, Message: "the directory refused the request", Err: ge}
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		return schema.Unavailable("the directory refused usersvc's credentials ("+ge.Code+")",
			retryCredentials, errors.Join(oidcuser.ErrDirectoryCredentials, ge))
	case s == http.StatusTooManyRequests:
		wait := retryAfterOr(resp.Header, retryRateLimited)
		d.holdOff(wait)
		d.log.Warn("Microsoft Graph is throttling usersvc", "retry_after", wait.String(), "code", ge.Code)
		return schema.Unavailable("the directory is throttling usersvc; try again later", wait, ge)
	case s >= 300 && s < 400:
		return schema.Unavailable("the directory answered with an unexpected redirect", retryUnavailable, ge)
	}
	return schema.Unavailable("the directory is unavailable", retryAfterOr(resp.Header, retryUnavailable), ge)
}

// retryAfterOr reads Retry-After (delay-seconds or an HTTP date), capped;
// def without one.
func retryAfterOr(h http.Header, def time.Duration) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return def
	}
	var wait time.Duration
	if secs, err := strconv.Atoi(v); err == nil {
		wait = time.Duration(secs) * time.Second
	} else if at, err := http.ParseTime(v); err == nil {
		wait = time.Until(at)
	} else {
		return def
	}
	if wait <= 0 {
		return def
	}
	return min(wait, maxRetryAfter)
}

// transportError classifies a failure to get an answer at all.
func transportError(ctx context.Context, who string, err error) error {
	var netErr net.Error
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
		return schema.Unavailable(who+" did not answer in time", retryTimeout, err)
	}
	return schema.Unavailable(who+" is unavailable", retryUnavailable, err)
}
