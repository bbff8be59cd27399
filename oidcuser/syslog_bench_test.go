package oidcuser_test

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/oidcuser/okta"
	"github.com/usersvc/usersvc/proxy/embedded"
	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/oktaapi"
)

// Issue 29's polling targets, measured here rather than in timed unit tests
// (make bench runs them; docs/performance.md):
//   - BenchmarkSyslogDeprovisionLatency: from the directory change (the
//     test org marks a person DEPROVISIONED and publishes
//     user.lifecycle.deactivate) to is_active=false in the graph; p99 must
//     be at most the poll interval + 2 s;
//   - BenchmarkSyslogBurst10k: 10,000 lifecycle events (10 pages of 1,000)
//     absorbed within the /logs rate limit, with a restart of the poller in
//     the middle, and none lost or applied twice.

// benchDirectory is newDirectory for benchmarks.
func benchDirectory(b *testing.B, org *oktaapi.Server) *okta.Directory {
	b.Helper()
	b.Setenv("HOME", b.TempDir()) // no ~/.okta/okta.yaml
	d, err := okta.New(context.Background(), okta.Config{OrgURL: org.URL(), Token: ssws, DisableHTTPSCheck: true,
		Transport: oidcuser.NewBudget(nil, oidcuser.BudgetConfig{MaxConcurrent: 8})})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = d.Close() })
	return d
}

func benchStore(b *testing.B) *embedded.Store {
	b.Helper()
	s, err := embedded.Open(filepath.Join(b.TempDir(), "u.db"), time.Second)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// seedActive writes people from..to-1 to the graph as the directory has
// them (active).
func seedActive(b *testing.B, dir oidcuser.IDLookup, store *embedded.Store, from, to int) {
	b.Helper()
	for i := from; i < to; i++ {
		u, err := dir.LookupByID(context.Background(), userID(i))
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := store.CreateUpdateUser(context.Background(), u); err != nil {
			b.Fatal(err)
		}
	}
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// BenchmarkSyslogDeprovisionLatency: each iteration deprovisions one person
// in the org and waits until their node is inactive. The poll interval is
// short (200 ms); the target is p99 ≤ interval + 2 s.
func BenchmarkSyslogDeprovisionLatency(b *testing.B) {
	const interval = 200 * time.Millisecond
	org := oktaapi.New(b, oktaapi.WithSSWSToken(ssws), oktaapi.WithRateLimits(1_000_000, 1_000_000), oktaapi.WithLogsRateLimit(1_000_000))
	people := 0
	addPeople := func(n int) {
		for i := people; i < people+n; i++ {
			org.AddUsers(person(i, "ACTIVE", "Dept", syncEpoch))
		}
	}
	dir := benchDirectory(b, org)
	store := benchStore(b)
	addPeople(64)
	seedActive(b, dir, store, 0, 64)
	people = 64
	// The production defaults but the interval, and a gap that lets every
	// interval's poll through (the org's limit is not the subject here).
	poller := oidcuser.NewSyslogPoller(dir, dir, store, oidcuser.SyslogConfig{Interval: interval, MinGap: interval / 4, Owner: "bench"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); poller.Run(ctx) }()
	defer func() { cancel(); <-done }()

	var latencies []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i >= people {
			b.StopTimer()
			addPeople(64)
			seedActive(b, dir, store, people, people+64)
			people += 64
			b.StartTimer()
		}
		start := time.Now()
		org.Deactivate(userID(i))
		for {
			u, err := store.GetUser(context.Background(), userKey(i))
			if err == nil && !u.IsActive {
				break
			}
			if err != nil && !schema.IsNotFound(err) {
				b.Fatal(err)
			}
			if time.Since(start) > time.Minute {
				b.Fatalf("%s still active after a minute", userKey(i))
			}
			time.Sleep(time.Millisecond)
		}
		latencies = append(latencies, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(latencies)
	p50, p99 := percentile(latencies, 0.50), percentile(latencies, 0.99)
	b.ReportMetric(float64(p50.Milliseconds()), "p50-ms")
	b.ReportMetric(float64(p99.Milliseconds()), "p99-ms")
	b.ReportMetric(0, "ns/op")
	if target := interval + 2*time.Second; p99 > target {
		b.Errorf("deprovisioning p99 %s over %d changes: target ≤ interval + 2 s = %s", p99, len(latencies), target)
	}
}

// BenchmarkSyslogBurst10k: 10,000 people are deprovisioned at once (10,000
// user.lifecycle.deactivate events: 10 pages of 1,000). The /logs bucket is
// the smallest plan's, 20 calls a minute, with the minute scaled to 6 s
// (and the poller's gap with it: 10 calls a window, its default share) to
// keep the run short. The poller is restarted gracefully after its fifth
// page. Every person must end inactive, read exactly once, with no /logs
// answer over the limit (no 429) and at least half of each window left.
func BenchmarkSyslogBurst10k(b *testing.B) {
	const (
		people = 10_000
		window = 6 * time.Second // a minute, scaled
		limit  = 20
	)
	for range b.N {
		b.StopTimer()
		org := oktaapi.New(b, oktaapi.WithSSWSToken(ssws), oktaapi.WithRateLimits(1_000_000, 1_000_000),
			oktaapi.WithLogsRateLimit(limit), oktaapi.WithWindow(window))
		users := make([]oktaapi.User, people)
		for i := range users {
			users[i] = person(i, "ACTIVE", "Dept", syncEpoch)
		}
		org.AddUsers(users...)
		dir := benchDirectory(b, org)
		counted := newCountingDir(dir)
		store := benchStore(b)
		cfg := oidcuser.SyslogConfig{Interval: time.Second, MinGap: window / 10, Owner: "first"}
		b.StartTimer()

		start := time.Now()
		deactivations(org, 0, people)
		rec := newRecorder()
		cfg.Observer = rec
		first := oidcuser.NewSyslogPoller(dir, counted, store, cfg)
		var once sync.Once
		rec.onPoll = func(outcome string) {
			if outcome == "events" && rec.poll("events") == 5 {
				once.Do(first.Close)
			}
		}
		runPoller(first)
		if st, _ := store.GetSyncState(context.Background(), oidcuser.DefaultSyslogName); st.Cursor == "" {
			b.Fatal("no cursor saved by the first poller")
		}
		cfg.Owner, cfg.Observer = "second", nil
		second := oidcuser.NewSyslogPoller(dir, counted, store, cfg)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); second.Run(ctx) }()
		last := userKey(people - 1)
		for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(10 * time.Millisecond) {
			if u, err := store.GetUser(context.Background(), last); err == nil && !u.IsActive {
				break
			}
			if time.Now().After(deadline) {
				b.Fatal("the burst was not absorbed within 5 minutes")
			}
		}
		elapsed := time.Since(start)
		cancel()
		<-done
		b.StopTimer()

		for i := range people {
			if n := counted.count(userID(i)); n != 1 {
				b.Fatalf("%s read %d times, want 1 (lost or applied twice across the restart)", userID(i), n)
			}
			if u, err := store.GetUser(context.Background(), userKey(i)); err != nil || u.IsActive {
				b.Fatalf("%s: %+v, %v; want inactive", userKey(i), u, err)
			}
		}
		calls, minLeft := 0, limit
		for _, r := range org.Requests() {
			if !oktaapi.IsLogs(r) {
				continue
			}
			calls++
			if r.Status != 200 {
				b.Fatalf("a /logs call answered %d: over the limit", r.Status)
			}
			minLeft = min(minLeft, r.RateRemaining)
		}
		if minLeft < limit/2 {
			b.Fatalf("a /logs answer left %d of %d calls: the poller took more than its half", minLeft, limit)
		}
		b.ReportMetric(elapsed.Seconds(), "s-to-absorb")
		b.ReportMetric(float64(calls), "logs-calls")
		b.ReportMetric(float64(minLeft), "min-calls-left")
		b.ReportMetric(0, "ns/op")
	}
}

// runPoller runs p until it stops by itself (Close), at most 5 minutes.
func runPoller(p *oidcuser.SyslogPoller) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p.Run(ctx)
}
