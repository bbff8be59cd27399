package oidcuser

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeOkta answers with rate-limit headers the test controls.
type fakeOkta struct {
	mu        sync.Mutex
	remaining map[string]int // path → remaining
	reset     time.Time
	status    int
	limitZero bool
	calls     atomic.Int64
	inflight  atomic.Int64
	peak      atomic.Int64
	hold      chan struct{}
}

func (f *fakeOkta) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	n := f.inflight.Add(1)
	defer f.inflight.Add(-1)
	for {
		p := f.peak.Load()
		if n <= p || f.peak.CompareAndSwap(p, n) {
			break
		}
	}
	if f.hold != nil {
		<-f.hold
	}
	f.mu.Lock()
	rem := f.remaining[r.URL.Path]
	f.remaining[r.URL.Path] = rem - 1
	limit := "600"
	if f.limitZero {
		limit = "0"
	}
	status := f.status
	f.mu.Unlock()
	w.Header().Set("X-Rate-Limit-Limit", limit)
	w.Header().Set("X-Rate-Limit-Remaining", strconv.Itoa(max(rem-1, 0)))
	w.Header().Set("X-Rate-Limit-Reset", strconv.FormatInt(f.reset.Unix(), 10))
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{}`))
}

func startFake(t *testing.T, f *fakeOkta) string {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return srv.URL
}

func get(t *testing.T, c *http.Client, url string) error {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

func TestBudgetStopsAtReserveUntilReset(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	var clock atomic.Int64
	clock.Store(now.UnixNano())
	f := &fakeOkta{remaining: map[string]int{"/api/v1/users": 5, "/api/v1/users/a": 100}, reset: now.Add(30 * time.Second)}
	base := startFake(t, f)
	b := NewBudget(nil, BudgetConfig{MaxConcurrent: 4, Reserve: 2, Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	c := &http.Client{Transport: b}

	// Remaining goes 4, 3, 2: the third answer reaches the reserve.
	for i := range 3 {
		if err := get(t, c, base+"/api/v1/users?search=x"); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	err := get(t, c, base+"/api/v1/users?search=x")
	var limited *RateLimitedError
	if !errors.As(err, &limited) || limited.RetryAfter != 30*time.Second {
		t.Fatalf("call past the reserve = %v, want RateLimitedError retry 30s", err)
	}
	if f.calls.Load() != 3 {
		t.Fatalf("Okta saw %d calls, want 3 (the blocked one must not be sent)", f.calls.Load())
	}
	// Another bucket is unaffected.
	if err := get(t, c, base+"/api/v1/users/a"); err != nil {
		t.Fatalf("get-user bucket blocked by the search bucket: %v", err)
	}
	// After the reset, calls flow again.
	f.mu.Lock()
	f.remaining["/api/v1/users"] = 600
	f.reset = now.Add(90 * time.Second)
	f.mu.Unlock()
	clock.Store(now.Add(31 * time.Second).UnixNano())
	if err := get(t, c, base+"/api/v1/users?search=x"); err != nil {
		t.Fatalf("after reset: %v", err)
	}
}

func TestBudgetTurns429IntoRateLimitedError(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name      string
		limitZero bool
		want      time.Duration
	}{
		{"window exhausted", false, 20 * time.Second},
		{"concurrency limit (Limit 0)", true, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeOkta{remaining: map[string]int{}, reset: now.Add(20 * time.Second), status: http.StatusTooManyRequests, limitZero: tt.limitZero}
			base := startFake(t, f)
			c := &http.Client{Transport: NewBudget(nil, BudgetConfig{Now: func() time.Time { return now }})}
			err := get(t, c, base+"/api/v1/users/x")
			var limited *RateLimitedError
			if !errors.As(err, &limited) || limited.RetryAfter != tt.want {
				t.Fatalf("429 = %v, want RateLimitedError retry %s", err, tt.want)
			}
			err = get(t, c, base+"/api/v1/users/y")
			if !errors.As(err, &limited) || f.calls.Load() != 1 {
				t.Fatalf("after a 429: err %v, calls %d; want blocked without calling", err, f.calls.Load())
			}
		})
	}
}

func TestBudgetCapsConcurrency(t *testing.T) {
	f := &fakeOkta{remaining: map[string]int{"/api/v1/users/x": 10000}, reset: time.Now().Add(time.Minute), hold: make(chan struct{})}
	base := startFake(t, f)
	c := &http.Client{Transport: NewBudget(nil, BudgetConfig{MaxConcurrent: 3})}
	var wg sync.WaitGroup
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := get(t, c, base+"/api/v1/users/x"); err != nil {
				t.Error(err)
			}
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.inflight.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // give a fourth call the chance to slip through
	close(f.hold)
	wg.Wait()
	if p := f.peak.Load(); p != 3 {
		t.Fatalf("peak in-flight = %d, want 3", p)
	}
}

func TestBucketOf(t *testing.T) {
	for path, want := range map[string]string{
		"/api/v1/users":             "users:list",
		"/api/v1/users/":            "users:list",
		"/api/v1/users/ada%40x.com": "users:get",
		"/api/v1/users/00u1/groups": "users:sub",
		"/oauth2/v1/token":          "GET /oauth2/v1/token",
	} {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		if got := bucketOf(r); got != want {
			t.Errorf("bucketOf(%s) = %q, want %q", path, got, want)
		}
	}
}

// eofTransport fails every call the way a connection closed before the
// answer does (net/http returns io.EOF).
type eofTransport struct{ calls atomic.Int32 }

func (e *eofTransport) RoundTrip(*http.Request) (*http.Response, error) {
	e.calls.Add(1)
	return nil, io.EOF
}

// TestBudgetBoundsConnectionRetries: resets and EOFs are retried twice with
// backoff, then reported as an error that is not io.EOF, so that
// okta-sdk-golang's uncounted EOF loop (requestExecutor.doWithRetries)
// never runs; a deadline too near for the backoff ends the retries early.
func TestBudgetBoundsConnectionRetries(t *testing.T) {
	for _, tt := range []struct {
		name      string
		deadline  time.Duration
		wantCalls int32
	}{{"roomy deadline", 2 * time.Second, 3}, {"deadline nearer than the backoff", 50 * time.Millisecond, 1}} {
		t.Run(tt.name, func(t *testing.T) {
			next := &eofTransport{}
			b := NewBudget(next, BudgetConfig{})
			ctx, cancel := context.WithTimeout(context.Background(), tt.deadline)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:1/api/v1/users/x", nil)
			_, err := b.RoundTrip(req)
			var cerr *ConnectionError
			if errors.Is(err, io.EOF) || !errors.As(err, &cerr) || next.calls.Load() != tt.wantCalls {
				t.Fatalf("err = %v after %d calls; want a ConnectionError (not io.EOF) after %d", err, next.calls.Load(), tt.wantCalls)
			}
		})
	}
}
