package oidcuser_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/oidcuser/okta"
	"github.com/usersvc/usersvc/proxy"
	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/oktaapi"
	"github.com/usersvc/usersvc/testsupport/syncbuffer"
)

// The System Log poller against the test org's /api/v1/logs, built from
// Okta's System Log API reference
// (https://developer.okta.com/docs/reference/api/system-log/: polling
// requests, the Link rel="next" header, since, sortOrder, filter, limit and
// the rate-limit headers). Each fault test fails when the handling it names
// is taken out (checked by disabling it).

// syslogOrg holds n ACTIVE people (00u00000..., user00000@example.com...)
// and rate limits that only the rate-limit tests reach.
func syslogOrg(t *testing.T, n int, opts ...oktaapi.Option) *oktaapi.Server {
	t.Helper()
	org := oktaapi.New(t, append([]oktaapi.Option{oktaapi.WithSSWSToken(ssws), oktaapi.WithRateLimits(1_000_000, 1_000_000),
		oktaapi.WithLogsRateLimit(1_000_000)}, opts...)...)
	for i := range n {
		org.AddUsers(person(i, "ACTIVE", "Dept", syncEpoch))
	}
	return org
}

func userID(i int) string  { return fmt.Sprintf("00u%05d", i) }
func userKey(i int) string { return fmt.Sprintf("user%05d@example.com", i) }

// countingDir counts directory reads by id: how often a person was applied.
type countingDir struct {
	oidcuser.IDLookup
	mu    sync.Mutex
	reads map[string]int
	// block, when set, is called before each read (a read held up).
	block func(ctx context.Context, id string)
}

func newCountingDir(d oidcuser.IDLookup) *countingDir {
	return &countingDir{IDLookup: d, reads: map[string]int{}}
}

func (c *countingDir) LookupByID(ctx context.Context, id string) (schema.User, error) {
	c.mu.Lock()
	c.reads[id]++
	block := c.block
	c.mu.Unlock()
	if block != nil {
		block(ctx, id)
	}
	return c.IDLookup.LookupByID(ctx, id)
}

func (c *countingDir) count(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads[id]
}

// countingLogs counts the System Log calls of one poller.
type countingLogs struct {
	oidcuser.LogReader
	mu    sync.Mutex
	calls []string
}

func (c *countingLogs) ReadLogs(ctx context.Context, pathQuery string) (oidcuser.LogPage, error) {
	c.mu.Lock()
	c.calls = append(c.calls, pathQuery)
	c.mu.Unlock()
	return c.LogReader.ReadLogs(ctx, pathQuery)
}

func (c *countingLogs) made() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.calls...)
}

// syslogRecorder is the poller's observer in tests.
type syslogRecorder struct {
	mu     sync.Mutex
	polls  map[string]int
	events map[string]int // by outcome
	onPoll func(outcome string)
}

func newRecorder() *syslogRecorder {
	return &syslogRecorder{polls: map[string]int{}, events: map[string]int{}}
}

func (r *syslogRecorder) SyslogEvent(_, outcome string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events[outcome]++
}

func (r *syslogRecorder) SyslogPoll(outcome string) {
	r.mu.Lock()
	r.polls[outcome]++
	on := r.onPoll
	r.mu.Unlock()
	if on != nil {
		on(outcome)
	}
}

func (r *syslogRecorder) SyslogLag(time.Duration) {}

func (r *syslogRecorder) poll(outcome string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.polls[outcome]
}

func (r *syslogRecorder) event(outcome string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.events[outcome]
}

// fast fills in short waits for tests; the rate limit is the test org's
// alone unless a test sets MinGap.
func fast(cfg oidcuser.SyslogConfig) oidcuser.SyslogConfig {
	if cfg.Interval == 0 {
		cfg.Interval = 20 * time.Millisecond
	}
	if cfg.MinGap == 0 {
		cfg.MinGap = time.Millisecond
	}
	if cfg.RetryBackoff == 0 {
		cfg.RetryBackoff = 10 * time.Millisecond
	}
	if cfg.CredentialsRetry == 0 {
		cfg.CredentialsRetry = 20 * time.Millisecond
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = 10 * time.Millisecond
	}
	if cfg.LookupTimeout == 0 {
		cfg.LookupTimeout = 15 * time.Second // a cold store on a loaded machine
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = 10
	}
	if cfg.Owner == "" {
		cfg.Owner = "test"
	}
	return cfg
}

// running is a poller's goroutine.
type running struct {
	p      *oidcuser.SyslogPoller
	cancel context.CancelFunc
	done   chan struct{}
}

func startPoller(t *testing.T, p *oidcuser.SyslogPoller) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{p: p, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(r.done); p.Run(ctx) }()
	t.Cleanup(r.kill)
	return r
}

// stop closes the poller and waits for it: the page in hand is finished.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.p.Close()
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the poller did not stop")
	}
}

// wait waits for the poller to return by itself.
func (r *running) wait(t *testing.T) {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the poller did not stop")
	}
}

// kill cancels the poller at once and waits for it.
func (r *running) kill() {
	r.cancel()
	<-r.done
}

// eventually polls cond for up to 30s (generous: a loaded 2-core machine).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func isActive(t *testing.T, s oidcuser.SyslogStore, key string) (active, found bool) {
	t.Helper()
	u, err := s.GetUser(context.Background(), key)
	if schema.IsNotFound(err) {
		return false, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return u.IsActive, true
}

func inactive(t *testing.T, s oidcuser.SyslogStore, key string) bool {
	active, found := isActive(t, s, key)
	return found && !active
}

// auditRecords parses the JSON log's audit records.
func auditRecords(t *testing.T, logs *syncbuffer.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if rec["audit"] == true {
			out = append(out, rec)
		}
	}
	return out
}

// deactivations publishes user.lifecycle.deactivate for people from..to-1
// (deprovisioned in the directory first).
func deactivations(org *oktaapi.Server, from, to int) {
	for i := from; i < to; i++ {
		org.Deactivate(userID(i))
	}
}

// TestSyslogPollsInPollingModeAndAppliesEvents: the first request asks for
// events since a recent point in polling mode with the filter on the
// handled types; then the next links are followed; each person is re-read
// and written with audit source syslog; the cursor is saved in the graph.
func TestSyslogPollsInPollingModeAndAppliesEvents(t *testing.T) {
	org := syslogOrg(t, 3)
	dir := newDirectory(t, org, okta.Config{})
	store := syncStore(t)
	logs := &syncbuffer.Buffer{}
	rec := newRecorder()
	org.Deactivate(userID(0))
	org.Publish("user.lifecycle.create", userID(1))
	org.Publish("user.session.start", userID(2)) // not a handled type: filtered out by Okta
	run := startPoller(t, oidcuser.NewSyslogPoller(dir, dir, store, fast(oidcuser.SyslogConfig{
		Logger: slog.New(slog.NewJSONHandler(logs, nil)), Observer: rec,
	})))
	eventually(t, "both events applied", func() bool {
		active, found := isActive(t, store, userKey(1))
		return inactive(t, store, userKey(0)) && found && active
	})
	eventually(t, "a caught-up poll", func() bool { return rec.poll("empty") > 0 })
	run.stop(t)

	calls := org.Requests()
	var polls []oktaapi.Request
	for _, r := range calls {
		if oktaapi.IsLogs(r) {
			polls = append(polls, r)
		}
	}
	first := polls[0].Query
	since, err := time.Parse(time.RFC3339, first.Get("since"))
	if err != nil || time.Since(since) < 4*time.Minute || time.Since(since) > 10*time.Minute {
		t.Errorf("first request since=%q, want about five minutes ago", first.Get("since"))
	}
	if first.Get("sortOrder") != "ASCENDING" || first.Has("until") || first.Get("limit") != "10" || first.Has("after") {
		t.Errorf("first request %v is not a polling request", first)
	}
	for typ := range oidcuser.HookEventTypes {
		if !strings.Contains(first.Get("filter"), `eventType eq "`+typ+`"`) {
			t.Errorf("filter %q lacks %s", first.Get("filter"), typ)
		}
	}
	for _, r := range polls[1:] {
		if r.Query.Get("after") == "" || r.Query.Has("since") || r.Query.Has("until") {
			t.Errorf("a later request %v does not follow the next link", r.Query)
		}
	}
	if len(rec.events) == 0 || rec.event("applied") != 2 {
		t.Errorf("event outcomes %v, want 2 applied", rec.events)
	}
	st, err := store.GetSyncState(context.Background(), oidcuser.DefaultSyslogName)
	if err != nil || !strings.HasPrefix(st.Cursor, oidcuser.LogsPath+"?") || strings.Contains(st.Cursor, "127.0.0.1") {
		t.Fatalf("saved cursor %q (%v): want the next link's path and query, no host", st.Cursor, err)
	}
	if q, _ := url.ParseQuery(strings.SplitN(st.Cursor, "?", 2)[1]); q.Get("after") == "" {
		t.Fatalf("saved cursor %q has no after", st.Cursor)
	}
	sources := map[string]string{}
	for _, a := range auditRecords(t, logs) {
		sources[a["key"].(string)] = fmt.Sprint(a["source"], " ", a["event"], " ", a["okta_event_type"])
	}
	if sources[userKey(0)] != "syslog user_created user.lifecycle.deactivate" || sources[userKey(1)] != "syslog user_created user.lifecycle.create" {
		t.Fatalf("audit records %v", sources)
	}
}

// TestSyslogRateLimitedOnPage3: the third page is answered 429 with Okta's
// headers. The poller waits for X-Rate-Limit-Reset (one rate-limited poll,
// no spinning) and then reads page 3: every event applied once.
// Without the handling (a 429 treated as any failure, retried after the
// short backoff) the poller spins against the spent window.
func TestSyslogRateLimitedOnPage3(t *testing.T) {
	org := syslogOrg(t, 25)
	dir := newDirectory(t, org, okta.Config{})
	counted := newCountingDir(dir)
	store := syncStore(t)
	rec := newRecorder()
	deactivations(org, 0, 25) // pages of 10: 10, 10, 5
	org.FailLogsCall(3, oktaapi.LogRateLimited)
	startPoller(t, oidcuser.NewSyslogPoller(dir, counted, store, fast(oidcuser.SyslogConfig{Observer: rec})))
	eventually(t, "all 25 deactivations applied", func() bool { return inactive(t, store, userKey(24)) })
	for i := range 25 {
		if n := counted.count(userID(i)); n != 1 || !inactive(t, store, userKey(i)) {
			t.Fatalf("%s read %d times (want 1), inactive %v", userID(i), n, inactive(t, store, userKey(i)))
		}
	}
	if n := rec.poll("rate_limited") + rec.poll("error"); n != 1 {
		t.Fatalf("polls %v: want one rate-limited poll, then a wait for the reset instead of retries", rec.polls)
	}
	var limited, after oktaapi.Request
	for _, r := range org.Requests() {
		if !oktaapi.IsLogs(r) {
			continue
		}
		if limited.Status == 0 && r.Status == 429 {
			limited = r
		} else if limited.Status != 0 && after.Method == "" {
			after = r
		}
	}
	// The 429's Reset was the next-but-one whole second; the retry came
	// no earlier than the second after the 429.
	if after.Method == "" || after.At.Unix() <= limited.At.Unix() || after.Query.Get("after") != limited.Query.Get("after") {
		t.Fatalf("429 at %v, the next call at %v with cursor %q (want page 3's cursor %q, after the reset)",
			limited.At, after.At, after.Query.Get("after"), limited.Query.Get("after"))
	}
}

// TestSyslogDroppedConnectionMidPage: page 2's body is cut off halfway and
// the connection reset. Nothing of it is applied and the cursor stays; the
// page is read again after a short backoff (not a whole interval: it is an
// hour here) and every event applied once.
// Without the handling (a failed call waits the interval like a caught-up
// poll) the test times out.
func TestSyslogDroppedConnectionMidPage(t *testing.T) {
	org := syslogOrg(t, 25)
	dir := newDirectory(t, org, okta.Config{})
	counted := newCountingDir(dir)
	store := syncStore(t)
	rec := newRecorder()
	deactivations(org, 0, 25)
	org.FailLogsCall(2, oktaapi.LogTruncated)
	startPoller(t, oidcuser.NewSyslogPoller(dir, counted, store, fast(oidcuser.SyslogConfig{Interval: time.Hour, Observer: rec})))
	eventually(t, "all 25 deactivations applied", func() bool { return inactive(t, store, userKey(24)) })
	for i := range 25 {
		if n := counted.count(userID(i)); n != 1 {
			t.Fatalf("%s read %d times, want 1", userID(i), n)
		}
	}
	if rec.poll("error") != 1 {
		t.Fatalf("polls %v: want one failed call", rec.polls)
	}
}

// TestSyslogRestartBetweenPages: a poller stopped after its first page
// and a new one on the same graph (a restart, or another replica) resume
// at the saved cursor: no event missed, none applied twice, and the new
// poller sends no since.
// Without the cursor in the graph (not saved, or not read back) the second
// poller starts over and applies page 1 again.
func TestSyslogRestartBetweenPages(t *testing.T) {
	for name, newStore := range personStores {
		t.Run(name, func(t *testing.T) {
			org := syslogOrg(t, 25)
			dir := newDirectory(t, org, okta.Config{})
			counted := newCountingDir(dir)
			store := newStore(t)
			deactivations(org, 0, 25)

			rec := newRecorder()
			first := oidcuser.NewSyslogPoller(dir, counted, store, fast(oidcuser.SyslogConfig{Observer: rec, Owner: "first"}))
			rec.onPoll = func(outcome string) {
				if outcome == "events" {
					first.Close() // after page 1 is applied and its cursor saved
				}
			}
			startPoller(t, first).wait(t) // it stops itself after page 1
			st, err := store.GetSyncState(context.Background(), oidcuser.DefaultSyslogName)
			if err != nil || st.Cursor == "" || !inactive(t, store, userKey(9)) {
				t.Fatalf("after the first page: cursor %q (%v), page 1 applied %v", st.Cursor, err, inactive(t, store, userKey(9)))
			}
			if _, found := isActive(t, store, userKey(10)); found {
				t.Fatal("the first poller went past page 1")
			}

			logs := &countingLogs{LogReader: dir}
			second := oidcuser.NewSyslogPoller(logs, counted, store, fast(oidcuser.SyslogConfig{Owner: "second"}))
			startPoller(t, second)
			eventually(t, "the rest applied by the second poller", func() bool { return inactive(t, store, userKey(24)) })
			for i := range 25 {
				if n := counted.count(userID(i)); n != 1 {
					t.Fatalf("%s read %d times across the restart, want 1", userID(i), n)
				}
			}
			resumed := logs.made()[0]
			if resumed != st.Cursor || strings.Contains(resumed, "since=") {
				t.Fatalf("the second poller asked %q, want the saved cursor %q", resumed, st.Cursor)
			}
		})
	}
}

// TestSyslogKilledMidPageLosesNothing: a poller killed while applying page
// 2 (no graceful stop) saved no cursor for it; the next poller reads page 2
// again. Nothing is lost; only the page cut short is applied again.
func TestSyslogKilledMidPageLosesNothing(t *testing.T) {
	org := syslogOrg(t, 25)
	dir := newDirectory(t, org, okta.Config{})
	counted := newCountingDir(dir)
	store := syncStore(t)
	deactivations(org, 0, 25)
	held := make(chan struct{})
	var once sync.Once
	counted.block = func(ctx context.Context, id string) {
		if id == userID(14) { // in the middle of page 2
			once.Do(func() { close(held) })
			<-ctx.Done()
		}
	}
	first := startPoller(t, oidcuser.NewSyslogPoller(dir, counted, store, fast(oidcuser.SyslogConfig{Owner: "first"})))
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		t.Fatal("page 2 never reached")
	}
	first.kill()
	counted.mu.Lock()
	counted.block = nil
	counted.mu.Unlock()
	// The killed poller's lease was released; another takes over at once.
	startPoller(t, oidcuser.NewSyslogPoller(dir, counted, store, fast(oidcuser.SyslogConfig{Owner: "second"})))
	eventually(t, "every deactivation applied", func() bool {
		for i := range 25 {
			if !inactive(t, store, userKey(i)) {
				return false
			}
		}
		return true
	})
	for i := range 10 {
		if n := counted.count(userID(i)); n != 1 {
			t.Fatalf("%s (page 1, whose cursor was saved) read %d times, want 1", userID(i), n)
		}
	}
}

// TestSyslogDuplicateDeliveries: the same uuid on two pages (and twice on
// one) is applied once; the copies count as duplicates.
// Without the uuid memory the person is re-read for the second page.
func TestSyslogDuplicateDeliveries(t *testing.T) {
	org := syslogOrg(t, 3)
	dir := newDirectory(t, org, okta.Config{})
	counted := newCountingDir(dir)
	store := syncStore(t)
	rec := newRecorder()
	org.SetStatus(userID(0), "DEPROVISIONED")
	dup := oktaapi.LogEvent{UUID: "0f3c2a9e-dup0-4b1e-9c6d-000000000001", EventType: "user.lifecycle.deactivate", Targets: []string{userID(0)}}
	org.AppendEvents(dup, dup, // twice on page 1 (pages of 2)
		oktaapi.LogEvent{EventType: "user.lifecycle.create", Targets: []string{userID(1)}},
		dup, // again on page 2
		oktaapi.LogEvent{EventType: "user.lifecycle.create", Targets: []string{userID(2)}})
	startPoller(t, oidcuser.NewSyslogPoller(dir, counted, store, fast(oidcuser.SyslogConfig{PageSize: 2, Observer: rec})))
	eventually(t, "the last event applied", func() bool { _, found := isActive(t, store, userKey(2)); return found })
	if n := counted.count(userID(0)); n != 1 || !inactive(t, store, userKey(0)) {
		t.Fatalf("%s read %d times, want 1", userID(0), n)
	}
	if rec.event("duplicate") != 2 {
		t.Fatalf("event outcomes %v, want 2 duplicates", rec.events)
	}
}

// TestSyslogOutOfOrderEvents: a deactivation published before an
// activation is delivered after it (on a later page), and the reverse. The
// graph ends as the directory is now, whatever order the events came in,
// because each event only makes the poller re-read the person.
// Taking the state from the event instead would end the first person
// deactivated and the second active.
func TestSyslogOutOfOrderEvents(t *testing.T) {
	org := syslogOrg(t, 2)
	dir := newDirectory(t, org, okta.Config{})
	store := syncStore(t)
	t0 := time.Now().Add(-time.Minute)
	// Person 0: deactivated at t0, reactivated at t0+1s; now ACTIVE.
	// Person 1: reactivated at t0, deactivated at t0+1s; now DEPROVISIONED.
	org.SetStatus(userID(1), "DEPROVISIONED")
	org.AppendEvents(
		oktaapi.LogEvent{EventType: "user.lifecycle.activate", Published: t0.Add(time.Second), Targets: []string{userID(0)}},
		oktaapi.LogEvent{EventType: "user.lifecycle.deactivate", Published: t0.Add(time.Second), Targets: []string{userID(1)}},
		oktaapi.LogEvent{EventType: "user.lifecycle.deactivate", Published: t0, Targets: []string{userID(0)}},
		oktaapi.LogEvent{EventType: "user.lifecycle.activate", Published: t0, Targets: []string{userID(1)}},
	)
	rec := newRecorder()
	startPoller(t, oidcuser.NewSyslogPoller(dir, dir, store, fast(oidcuser.SyslogConfig{PageSize: 2, Observer: rec})))
	eventually(t, "all four events seen", func() bool { return rec.event("applied")+rec.event("unchanged") == 4 })
	if active, found := isActive(t, store, userKey(0)); !found || !active {
		t.Fatalf("person 0 (ACTIVE in the directory) is active=%v found=%v", active, found)
	}
	if !inactive(t, store, userKey(1)) {
		t.Fatal("person 1 (DEPROVISIONED in the directory) is not inactive")
	}
}

// TestSyslogCoalescesEventsPerPerson: several events about one person in a
// page cost one directory read; a person deleted from the directory is
// deactivated.
func TestSyslogCoalescesEventsPerPerson(t *testing.T) {
	org := syslogOrg(t, 2)
	dir := newDirectory(t, org, okta.Config{})
	counted := newCountingDir(dir)
	store := syncStore(t)
	for _, typ := range []string{"user.lifecycle.create", "user.lifecycle.activate", "user.account.update_profile", "user.lifecycle.suspend", "user.lifecycle.unsuspend"} {
		org.Publish(typ, userID(0))
	}
	org.Publish("user.lifecycle.create", userID(1))
	rec := newRecorder()
	startPoller(t, oidcuser.NewSyslogPoller(dir, counted, store, fast(oidcuser.SyslogConfig{Observer: rec})))
	eventually(t, "both people written", func() bool { _, found := isActive(t, store, userKey(1)); return found })
	if n := counted.count(userID(0)); n != 1 {
		t.Fatalf("five events about one person: %d reads, want 1", n)
	}
	org.DeleteUsers(userID(1))
	org.Publish("user.lifecycle.delete.initiated", userID(1))
	eventually(t, "the deleted person deactivated", func() bool { return inactive(t, store, userKey(1)) })
}

// TestSyslogOnlyTheLeaseHolderPolls: two pollers on one graph; one holds
// the lease and polls, the other never calls Okta until the holder stops
// and gives the lease up; it then resumes at the holder's cursor.
func TestSyslogOnlyTheLeaseHolderPolls(t *testing.T) {
	org := syslogOrg(t, 4)
	dir := newDirectory(t, org, okta.Config{})
	counted := newCountingDir(dir)
	store := syncStore(t)
	org.Deactivate(userID(0))
	logsA, logsB := &countingLogs{LogReader: dir}, &countingLogs{LogReader: dir}
	recA, recB := newRecorder(), newRecorder()
	cfg := func(owner string, rec *syslogRecorder) oidcuser.SyslogConfig {
		return fast(oidcuser.SyslogConfig{Owner: owner, Observer: rec, LeaseTTL: 10 * time.Minute, Interval: 5 * time.Millisecond})
	}
	a := startPoller(t, oidcuser.NewSyslogPoller(logsA, counted, store, cfg("a", recA)))
	eventually(t, "a to hold the lease and poll", func() bool { return len(logsA.made()) > 0 })
	b := startPoller(t, oidcuser.NewSyslogPoller(logsB, counted, store, cfg("b", recB)))
	eventually(t, "many polls by a, and b turned away", func() bool { return len(logsA.made()) >= 20 && recB.poll("lease_held") >= 5 })
	if n := len(logsB.made()); n != 0 {
		t.Fatalf("b, without the lease, called Okta %d times", n)
	}
	a.stop(t)
	org.Deactivate(userID(1))
	eventually(t, "b to take over", func() bool { return inactive(t, store, userKey(1)) })
	if n := counted.count(userID(0)); n != 1 {
		t.Fatalf("%s read %d times: b must resume at a's cursor", userID(0), n)
	}
	aCalls := len(logsA.made())
	org.Deactivate(userID(2))
	eventually(t, "b polling", func() bool { return inactive(t, store, userKey(2)) })
	if len(logsA.made()) != aCalls {
		t.Fatal("a polled after it stopped")
	}
	b.stop(t)
}

// TestSyslogForbiddenWarnsOnceAndRetries: without permission to read the
// System Log (no okta.logs.read), the poller warns once, without secrets,
// keeps retrying at its slow pace, and resumes once permission is granted.
func TestSyslogForbiddenWarnsOnceAndRetries(t *testing.T) {
	org := syslogOrg(t, 1)
	dir := newDirectory(t, org, okta.Config{})
	store := syncStore(t)
	logs := &syncbuffer.Buffer{}
	rec := newRecorder()
	org.SetLogsForbidden(true)
	startPoller(t, oidcuser.NewSyslogPoller(dir, dir, store, fast(oidcuser.SyslogConfig{
		Logger: slog.New(slog.NewJSONHandler(logs, nil)), Observer: rec,
	})))
	eventually(t, "several refused polls", func() bool { return rec.poll("forbidden") >= 4 })
	org.SetLogsForbidden(false)
	org.Deactivate(userID(0))
	eventually(t, "the deactivation applied once permitted", func() bool { return inactive(t, store, userKey(0)) })
	out := logs.String()
	if n := strings.Count(out, "refused usersvc's credentials"); n != 1 {
		t.Fatalf("%d warnings about the refused credentials, want 1:\n%s", n, out)
	}
	if !strings.Contains(out, `"level":"WARN","msg":"okta system log: okta refused`) || strings.Contains(out, ssws) {
		t.Fatalf("want one warning without the token:\n%s", out)
	}
	if strings.Count(out, "readable again") != 1 {
		t.Fatalf("recovery not logged once:\n%s", out)
	}
}

// TestSyslogKeepsItsShareOfTheRateLimit: the /logs bucket allows 4 calls a
// second here and the poller keeps half of each window for other clients:
// no answer of a burst of pages reports fewer than 2 calls left.
// Without the reserve the poller spends the whole window.
func TestSyslogKeepsItsShareOfTheRateLimit(t *testing.T) {
	org := syslogOrg(t, 40, oktaapi.WithLogsRateLimit(4), oktaapi.WithWindow(time.Second))
	dir := newDirectory(t, org, okta.Config{})
	store := syncStore(t)
	deactivations(org, 0, 40)
	startPoller(t, oidcuser.NewSyslogPoller(dir, dir, store, fast(oidcuser.SyslogConfig{PageSize: 5, MaxRateWait: 5 * time.Second})))
	eventually(t, "eight pages applied", func() bool { return inactive(t, store, userKey(39)) })
	for _, r := range org.Requests() {
		if oktaapi.IsLogs(r) && (r.Status != 200 || r.RateRemaining < 2) {
			t.Fatalf("a /logs answer %d with %d calls left: the poller spent the reserve", r.Status, r.RateRemaining)
		}
	}
}

// TestSyslogMinGapCapsTheRate: a configured rate (MinGap) holds however
// much is waiting: n calls span at least n-1 gaps. (Measured where the
// poller calls, not where the server sees them: loopback delivery under load
// can bring two arrivals closer than their departures were.)
func TestSyslogMinGapCapsTheRate(t *testing.T) {
	org := syslogOrg(t, 30)
	dir := newDirectory(t, org, okta.Config{})
	store := syncStore(t)
	deactivations(org, 0, 30)
	gap := 200 * time.Millisecond
	logs := &timedLogs{LogReader: dir}
	startPoller(t, oidcuser.NewSyslogPoller(logs, dir, store, fast(oidcuser.SyslogConfig{PageSize: 5, MinGap: gap})))
	eventually(t, "six pages applied", func() bool { return inactive(t, store, userKey(29)) })
	calls := logs.times()
	if len(calls) < 6 {
		t.Fatalf("%d calls for six pages", len(calls))
	}
	// Each call starts at least a gap after the one before; the first
	// may be recorded a little after its start, hence half a gap of slack.
	if span, want := calls[len(calls)-1].Sub(calls[0]), time.Duration(len(calls)-1)*gap-gap/2; span < want {
		t.Fatalf("%d calls within %s: the configured gap of %s allows no less than %s", len(calls), span, gap, want)
	}
}

// timedLogs records when each System Log call was made.
type timedLogs struct {
	oidcuser.LogReader
	mu sync.Mutex
	at []time.Time
}

func (l *timedLogs) ReadLogs(ctx context.Context, pathQuery string) (oidcuser.LogPage, error) {
	l.mu.Lock()
	l.at = append(l.at, time.Now())
	l.mu.Unlock()
	return l.LogReader.ReadLogs(ctx, pathQuery)
}

func (l *timedLogs) times() []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Time(nil), l.at...)
}

// TestSyslogRefusedCursorStartsAgain: a saved cursor Okta no longer accepts
// (400) is replaced by a recent starting point, with a warning.
func TestSyslogRefusedCursorStartsAgain(t *testing.T) {
	org := syslogOrg(t, 1)
	dir := newDirectory(t, org, okta.Config{})
	store := syncStore(t)
	if err := store.PutSyncState(context.Background(), oidcuser.DefaultSyslogName, proxy.SyncState{Cursor: "/api/v1/logs?after=garbage&limit=10&sortOrder=ASCENDING"}); err != nil {
		t.Fatal(err)
	}
	org.Deactivate(userID(0))
	logs := &syncbuffer.Buffer{}
	startPoller(t, oidcuser.NewSyslogPoller(dir, dir, store, fast(oidcuser.SyslogConfig{Logger: slog.New(slog.NewJSONHandler(logs, nil))})))
	eventually(t, "the deactivation applied from a fresh start", func() bool { return inactive(t, store, userKey(0)) })
	if !strings.Contains(logs.String(), "refused the saved cursor") {
		t.Fatalf("no warning about the refused cursor:\n%s", logs.String())
	}
}
