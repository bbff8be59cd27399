package oidcuser

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RateLimitedError is returned by Budget instead of calling Okta when the
// rate-limit window is (nearly) spent, and instead of handing a 429 to the
// SDK, whose retry loop would sleep through the caller's deadline.
type RateLimitedError struct {
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("okta rate limit budget exhausted; retry in %s", e.RetryAfter.Round(time.Second))
}

// BudgetConfig tunes the Budget transport.
type BudgetConfig struct {
	// MaxConcurrent caps in-flight Okta calls (Okta's own concurrency cap is
	// 75, 35 on free orgs, shared by every client of the org).
	MaxConcurrent int
	// Reserve is how many calls of a window are left unused; it must cover
	// the calls that can be in flight when the last count arrives.
	Reserve int
	Now     func() time.Time
	// OnRemaining observes X-Rate-Limit-Remaining per bucket (metrics).
	OnRemaining func(bucket string, remaining int)
}

// Budget is an http.RoundTripper that keeps usersvc inside Okta's rate
// limits: it reads X-Rate-Limit-Remaining/Reset per endpoint bucket, stops
// calling when a window is nearly spent until it resets, and caps
// concurrency.
type Budget struct {
	next http.RoundTripper
	cfg  BudgetConfig
	sem  chan struct{}

	mu      sync.Mutex
	buckets map[string]*window
}

type window struct {
	remaining int
	reset     time.Time
	inflight  int
}

// NewBudget wraps next (a transport of its own when nil, so that closing it
// closes only the directory's connections).
func NewBudget(next http.RoundTripper, cfg BudgetConfig) *Budget {
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = 8
	}
	if next == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = cfg.MaxConcurrent
		t.TLSHandshakeTimeout = 5 * time.Second
		next = t
	}
	if cfg.Reserve < 0 {
		cfg.Reserve = 0
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Budget{next: next, cfg: cfg, sem: make(chan struct{}, cfg.MaxConcurrent), buckets: map[string]*window{}}
}

// CloseIdleConnections closes the idle connections of the wrapped transport.
func (b *Budget) CloseIdleConnections() {
	if c, ok := b.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// Okta's rate-limit buckets for the calls a lookup makes: fetching one user
// and listing/searching users are limited separately.
const (
	BucketGetUser   = "users:get"
	BucketListUsers = "users:list"
)

// Spent is how long calls to bucket are refused because its window is
// known to be spent; 0 when it is not.
func (b *Budget) Spent(bucket string) time.Duration { return b.spent(bucket) }

// bucketOf names Okta's rate-limit bucket of a request.
func bucketOf(r *http.Request) string {
	p := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case p == "/api/v1/users":
		return BucketListUsers
	case strings.HasPrefix(p, "/api/v1/users/") && !strings.Contains(strings.TrimPrefix(p, "/api/v1/users/"), "/"):
		return BucketGetUser
	case strings.HasPrefix(p, "/api/v1/users/"):
		return "users:sub"
	}
	return r.Method + " " + p
}

// untimedLimit bounds requests that arrive without a deadline: the SDK
// fetches private-key access tokens with context.TODO().
const untimedLimit = 10 * time.Second

// RoundTrip implements http.RoundTripper.
func (b *Budget) RoundTrip(req *http.Request) (*http.Response, error) {
	if _, ok := req.Context().Deadline(); !ok {
		// A context deadline needs no goroutine, unlike http.Client.Timeout
		// in front of a custom transport, and the SDK does not always read
		// bodies to the end.
		ctx, cancel := context.WithTimeout(req.Context(), untimedLimit)
		resp, err := b.roundTrip(req.WithContext(ctx))
		if err != nil {
			cancel()
			return nil, err
		}
		resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
		return resp, nil
	}
	return b.roundTrip(req)
}

// cancelOnClose releases a request's context once its body is done.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if err != nil {
		c.cancel()
	}
	return n, err
}

func (c *cancelOnClose) Close() error {
	c.cancel()
	return c.ReadCloser.Close()
}

func (b *Budget) roundTrip(req *http.Request) (*http.Response, error) {
	select {
	case b.sem <- struct{}{}:
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	defer func() { <-b.sem }()

	bucket := bucketOf(req)
	if wait := b.take(bucket); wait > 0 {
		return nil, &RateLimitedError{RetryAfter: wait}
	}
	resp, err := b.next.RoundTrip(req)
	wait := b.record(bucket, resp)
	for attempt := 1; err != nil; attempt++ {
		if req.Context().Err() != nil {
			return nil, err
		}
		if attempt > maxConnRetries || !rewind(req) || !sleepCtx(req.Context(), connRetryBackoff<<(attempt-1)) {
			return nil, &ConnectionError{Attempts: attempt, msg: err.Error(), timeout: isTimeout(err)}
		}
		if wait := b.take(bucket); wait > 0 {
			return nil, &RateLimitedError{RetryAfter: wait}
		}
		resp, err = b.next.RoundTrip(req)
		wait = b.record(bucket, resp)
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		_ = resp.Body.Close()
		return nil, &RateLimitedError{RetryAfter: max(wait, time.Second)}
	}
	return resp, nil
}

// Connection-level failures (resets, EOFs, refused connections) are
// retried here, at most maxConnRetries times with doubling backoff inside
// the caller's deadline, and then reported as a ConnectionError.
const (
	maxConnRetries   = 2
	connRetryBackoff = 100 * time.Millisecond
)

// ConnectionError is a call that failed at the connection level after its
// retries. It keeps only the cause's text and does not unwrap on purpose:
// okta-sdk-golang v2 retries any error that is io.EOF at once, without
// backoff and without counting, so an EOF must never reach it.
type ConnectionError struct {
	Attempts int
	msg      string
	timeout  bool
}

func (e *ConnectionError) Error() string {
	return fmt.Sprintf("okta connection failed %d times: %s", e.Attempts, e.msg)
}

// Timeout and Temporary make it a net.Error, so a dial timeout is still
// reported as the directory not answering in time.
func (e *ConnectionError) Timeout() bool   { return e.timeout }
func (e *ConnectionError) Temporary() bool { return true }

func isTimeout(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) && netErr.Timeout()
}

// rewind prepares req to be sent again; a body that cannot be replayed
// cannot be retried.
func rewind(req *http.Request) bool {
	if req.Body == nil || req.Body == http.NoBody {
		return true
	}
	if req.GetBody == nil {
		return false
	}
	body, err := req.GetBody()
	if err != nil {
		return false
	}
	req.Body = body
	return true
}

// sleepCtx waits d unless ctx ends first or its deadline is nearer than d.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// take reserves a call in bucket, or returns how long to wait when the
// window's known remainder (less calls in flight) is within the reserve.
func (b *Budget) take(bucket string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	w := b.buckets[bucket]
	if w == nil {
		w = &window{remaining: -1}
		b.buckets[bucket] = w
	}
	if wait := b.blockedFor(w); wait > 0 {
		return wait
	}
	w.inflight++
	return 0
}

// spent is how long bucket refuses calls, without reserving one. A lookup
// that needs calls in two buckets asks first, so that one refused call does
// not send the other for nothing.
func (b *Budget) spent(bucket string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	w := b.buckets[bucket]
	if w == nil {
		return 0
	}
	return b.blockedFor(w)
}

// blockedFor is how long w refuses calls: until its reset while the known
// remainder, less calls in flight, is within the reserve. b.mu is held.
func (b *Budget) blockedFor(w *window) time.Duration {
	now := b.cfg.Now()
	if w.remaining >= 0 && !now.Before(w.reset) {
		w.remaining = -1 // the window has reset; the next answer tells the new count
	}
	if w.remaining >= 0 && w.remaining-w.inflight <= b.cfg.Reserve {
		return w.reset.Sub(now)
	}
	return 0
}

// record releases the call and learns the window from Okta's headers. It
// returns how long the bucket is now blocked (for a 429).
func (b *Budget) record(bucket string, resp *http.Response) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	w := b.buckets[bucket]
	w.inflight--
	if resp == nil {
		return 0
	}
	now := b.cfg.Now()
	remaining, errR := strconv.Atoi(resp.Header.Get("X-Rate-Limit-Remaining"))
	resetSec, errT := strconv.ParseInt(resp.Header.Get("X-Rate-Limit-Reset"), 10, 64)
	reset := time.Unix(resetSec, 0)
	if resp.StatusCode == http.StatusTooManyRequests {
		// A concurrency 429 reports Limit 0: back off briefly, not for the
		// whole window.
		if resp.Header.Get("X-Rate-Limit-Limit") == "0" || errT != nil || !reset.After(now) {
			reset = now.Add(time.Second)
		}
		w.remaining, w.reset = 0, reset
		b.observe(bucket, 0)
		return reset.Sub(now)
	}
	if errR != nil || errT != nil {
		return 0
	}
	// Answers arrive out of order: within one window keep the lowest count.
	if w.remaining < 0 || reset.After(w.reset) || remaining < w.remaining {
		w.remaining, w.reset = remaining, reset
	}
	b.observe(bucket, remaining)
	return 0
}

func (b *Budget) observe(bucket string, remaining int) {
	if b.cfg.OnRemaining != nil {
		b.cfg.OnRemaining(bucket, remaining)
	}
}
