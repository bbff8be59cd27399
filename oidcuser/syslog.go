package oidcuser

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/usersvc/usersvc/proxy"
	"github.com/usersvc/usersvc/schema"
)

// System Log polling is the backstop behind the event hooks: an event whose
// hook delivery was lost (usersvc down, the answer lost, the queue full and
// Okta's one retry spent) is read again from the System Log
// (https://developer.okta.com/docs/reference/api/system-log/, "Polling
// requests"). The poller:
//   - reads GET /api/v1/logs in polling mode (sortOrder=ASCENDING, no
//     `until`, `limit` up to 1000, a `filter` on HookEventTypes), with a
//     `since` only on the very first request, then follows the next link
//     Okta always sends in polling mode; an empty or short page means it is
//     caught up, and it waits Interval;
//   - keeps that next link (path and query) in the graph as the cursor of
//     its proxy.SyncState, saved only once every event of the page was
//     applied (or failed for good and was logged), so a restart resumes
//     where the last applied page ended: no gap, and no page applied twice;
//   - polls only while it holds its own lease in the graph (one replica
//     polls), renewed before each call and before each cursor save;
//   - applies events as the hooks do (eventApplier, audit source "syslog"):
//     each target re-read from the directory by id, so duplicates and
//     out-of-order events end in the directory's current state; within a
//     page several events about one person cost one directory read, and
//     uuids seen before are skipped;
//   - keeps to the /logs bucket's small rate limit (20 to 120 calls a minute
//     by plan, shared with SIEM exporters): at most one call per MinGap,
//     none while the window's remaining calls are within ReserveShare of
//     its limit (until X-Rate-Limit-Reset), and after a 429 it waits for the
//     reset (bounded by MaxRateWait).

// SyslogStore is what the poller needs of the graph: its cursor and lease,
// and writing people.
type SyslogStore interface {
	proxy.SyncStore
	HookStore
}

// SyslogObserver counts the poller's work (metrics). Event outcomes:
// applied, unchanged, duplicate, ignored, failed. Poll outcomes: events,
// empty (caught up), rate_limited, forbidden (401/403), error, lease_held.
type SyslogObserver interface {
	SyslogEvent(eventType, outcome string)
	SyslogPoll(outcome string)
	// SyslogLag is how far behind the newest event applied was when its
	// page was read (0 when caught up).
	SyslogLag(lag time.Duration)
}

type noSyslogObserver struct{}

func (noSyslogObserver) SyslogEvent(string, string) {}
func (noSyslogObserver) SyslogPoll(string)          {}
func (noSyslogObserver) SyslogLag(time.Duration)    {}

// SyslogConfig configures a SyslogPoller.
type SyslogConfig struct {
	// Interval is the wait once caught up (default 30s).
	Interval time.Duration
	// Name keys the saved cursor and the lease (default "okta-syslog").
	Name string
	// Owner identifies this replica in the lease (e.g. host and pid).
	Owner string
	// LeaseTTL is how long the lease lasts without renewal (default three
	// intervals, at least a minute).
	LeaseTTL time.Duration
	// PageSize is the `limit` of each request (default and most 1000).
	PageSize int
	// MinGap is the least time between two /logs calls (default 6s: at
	// most 10 a minute, half of the smallest plan's bucket).
	MinGap time.Duration
	// ReserveShare is the share of each /logs window left to other clients:
	// once X-Rate-Limit-Remaining is within it the poller waits for the
	// window's reset (default 0.5).
	ReserveShare float64
	// MaxRateWait bounds a wait for a window reset or after a 429
	// (default 2m).
	MaxRateWait time.Duration
	// InitialLookback: the first request (no cursor saved) asks for events
	// since now minus this (default 5m).
	InitialLookback time.Duration
	// RetryBackoff is the first wait after a failed call or page (default
	// 1s, doubling up to Interval).
	RetryBackoff time.Duration
	// CredentialsRetry is the wait after Okta refused usersvc's credentials
	// or permissions (401/403; default 5m).
	CredentialsRetry time.Duration
	// CallTimeout bounds one /logs call (default 30s).
	CallTimeout time.Duration
	// DedupeSize bounds the uuids remembered (default 20000).
	DedupeSize int
	// Retries, Backoff and LookupTimeout bound each directory read and
	// graph write as for the hooks (defaults 3, 500ms, 5s).
	Retries       int
	Backoff       time.Duration
	LookupTimeout time.Duration
	Logger        *slog.Logger
	Observer      SyslogObserver
	Now           func() time.Time
}

// SyslogPoller follows the Okta System Log and applies lifecycle events.
type SyslogPoller struct {
	logs  LogReader
	store SyslogStore
	cfg   SyslogConfig
	apply *eventApplier
	seen  *lru.Cache[string, struct{}]

	closeOnce sync.Once
	closing   chan struct{}

	// Run's own state (one goroutine).
	held          bool   // the lease was held at the last attempt
	cursor        string // the next request's path and query; "" until loaded
	fresh         bool   // cursor is a first request (since), not a saved next link
	lastCall      time.Time
	blockedUntil  time.Time // the window's reserve was reached: no call before
	failures      int       // consecutive failed calls or pages
	forbidden     bool      // the last call was refused as forbidden (warned)
	leaseRenewed  time.Time
	leaseHeldLogd bool
}

// DefaultSyslogName keys the poller's cursor and lease.
const DefaultSyslogName = "okta-syslog"

// NewSyslogPoller builds a poller reading logs, re-reading people from dir
// and writing them to store.
func NewSyslogPoller(logs LogReader, dir IDLookup, store SyslogStore, cfg SyslogConfig) *SyslogPoller {
	if cfg.Interval <= 0 {
		cfg.Interval = 30 * time.Second
	}
	if cfg.Name == "" {
		cfg.Name = DefaultSyslogName
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = max(3*cfg.Interval, time.Minute)
	}
	if cfg.PageSize <= 0 || cfg.PageSize > 1000 {
		cfg.PageSize = 1000
	}
	if cfg.MinGap <= 0 {
		cfg.MinGap = 6 * time.Second
	}
	if cfg.ReserveShare <= 0 || cfg.ReserveShare >= 1 {
		cfg.ReserveShare = 0.5
	}
	if cfg.MaxRateWait <= 0 {
		cfg.MaxRateWait = 2 * time.Minute
	}
	if cfg.InitialLookback <= 0 {
		cfg.InitialLookback = 5 * time.Minute
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = time.Second
	}
	if cfg.CredentialsRetry <= 0 {
		cfg.CredentialsRetry = 5 * time.Minute
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 30 * time.Second
	}
	if cfg.DedupeSize <= 0 {
		cfg.DedupeSize = 20000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Observer == nil {
		cfg.Observer = noSyslogObserver{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	seen, _ := lru.New[string, struct{}](cfg.DedupeSize) // size is positive
	return &SyslogPoller{
		logs: logs, store: store, cfg: cfg, seen: seen, closing: make(chan struct{}),
		apply: newEventApplier(dir, store, "syslog", cfg.Retries, cfg.Backoff, cfg.LookupTimeout, cfg.Logger),
	}
}

// LogsFilter is the System Log filter on the handled event types.
func LogsFilter() string {
	types := make([]string, 0, len(HookEventTypes))
	for t := range HookEventTypes {
		types = append(types, t)
	}
	slices.Sort(types)
	for i, t := range types {
		types[i] = `eventType eq "` + t + `"`
	}
	return strings.Join(types, " or ")
}

// Close asks Run to stop once the page in hand is applied and its cursor
// saved; it does not wait.
func (p *SyslogPoller) Close() { p.closeOnce.Do(func() { close(p.closing) }) }

// Run polls until Close (after the page in hand) or until ctx ends (at
// once: a page cut short is read again by the next holder of the lease).
// It gives the lease up when it returns.
func (p *SyslogPoller) Run(ctx context.Context) {
	defer p.releaseLease(ctx)
	for {
		select {
		case <-p.closing:
			return
		default:
		}
		wait := p.step(ctx)
		if ctx.Err() != nil {
			return
		}
		if wait <= 0 {
			continue
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-p.closing:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (p *SyslogPoller) releaseLease(ctx context.Context) {
	if !p.held {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseLeaseTimeout)
	defer cancel()
	if err := p.store.ReleaseLease(rctx, p.cfg.Name, p.cfg.Owner); err != nil {
		p.cfg.Logger.Warn("okta system log: could not release the poller's lease; it expires by itself", "error", err, "ttl", p.cfg.LeaseTTL.String())
	}
	p.held = false
}

// backoff is the wait after the n-th consecutive failure.
func (p *SyslogPoller) backoff() time.Duration {
	p.failures++
	d := p.cfg.RetryBackoff << min(p.failures-1, 20)
	return min(d, max(p.cfg.Interval, p.cfg.RetryBackoff))
}

// step makes at most one /logs call and applies its page; it returns how
// long to wait before the next step.
func (p *SyslogPoller) step(ctx context.Context) time.Duration {
	now := p.cfg.Now()
	if wait := max(p.lastCall.Add(p.cfg.MinGap).Sub(now), p.blockedUntil.Sub(now)); wait > 0 {
		return wait
	}
	if !p.renewLease(ctx) {
		return p.cfg.Interval
	}
	if p.cursor == "" {
		if err := p.loadCursor(ctx); err != nil {
			p.cfg.Observer.SyslogPoll("error")
			p.cfg.Logger.Warn("okta system log: cannot read the saved cursor", "error", err)
			return p.backoff()
		}
	}

	p.lastCall = p.cfg.Now()
	cctx, cancel := context.WithTimeout(ctx, p.cfg.CallTimeout)
	page, err := p.logs.ReadLogs(cctx, p.cursor)
	cancel()
	if err != nil {
		return p.callFailed(ctx, err)
	}
	if p.forbidden {
		p.forbidden = false
		p.cfg.Logger.Info("okta system log: readable again; polling resumed")
	}
	p.noteRate(page.Rate)
	if page.Next == "" {
		// Okta always sends a next link in polling mode: without one
		// there is no place to resume from, so the page is not applied.
		p.cfg.Observer.SyslogPoll("error")
		p.cfg.Logger.Warn("okta system log: an answer without a next link; read again later", "events", len(page.Events))
		return p.backoff()
	}
	if page.Dropped > 0 {
		p.cfg.Logger.Warn("okta system log: events without a uuid or type were skipped", "events", page.Dropped)
	}
	if err := p.applyPage(ctx, page.Events); err != nil {
		p.cfg.Observer.SyslogPoll("error")
		if ctx.Err() == nil {
			p.cfg.Logger.Warn("okta system log: page not fully applied; it is read again (events already applied are skipped)", "error", err)
		}
		return p.backoff()
	}
	// The page is applied: the cursor moves, if the lease is still ours
	// (otherwise the new holder moves it).
	if !p.renewLease(ctx) {
		return p.cfg.Interval
	}
	if err := p.store.PutSyncState(ctx, p.cfg.Name, proxy.SyncState{Cursor: page.Next, UpdatedAt: p.cfg.Now().UTC()}); err != nil {
		p.cfg.Observer.SyslogPoll("error")
		if ctx.Err() == nil {
			p.cfg.Logger.Warn("okta system log: cannot save the cursor; the page is read again (its events are skipped as seen)", "error", err)
		}
		return p.backoff()
	}
	p.cursor, p.fresh = page.Next, false
	p.failures = 0
	if len(page.Events) == 0 {
		p.cfg.Observer.SyslogPoll("empty")
		p.cfg.Observer.SyslogLag(0)
		return p.cfg.Interval
	}
	p.cfg.Observer.SyslogPoll("events")
	p.cfg.Observer.SyslogLag(max(p.cfg.Now().Sub(page.Events[len(page.Events)-1].Published), 0))
	if len(page.Events)+page.Dropped < p.cfg.PageSize {
		// A short page: nothing more was there when Okta answered.
		return p.cfg.Interval
	}
	return 0 // a full page: more may be waiting (MinGap still applies)
}

// callFailed handles a /logs call that failed and returns the wait.
func (p *SyslogPoller) callFailed(ctx context.Context, err error) time.Duration {
	var limited *RateLimitedError
	switch {
	case ctx.Err() != nil:
		return 0
	case errors.As(err, &limited):
		p.cfg.Observer.SyslogPoll("rate_limited")
		wait := min(max(limited.RetryAfter, time.Second), p.cfg.MaxRateWait)
		p.blockedUntil = p.cfg.Now().Add(wait)
		p.cfg.Logger.Info("okta system log: rate limit reached; waiting for the window to reset", "wait", wait.String())
		return wait
	case errors.Is(err, ErrDirectoryCredentials):
		p.cfg.Observer.SyslogPoll("forbidden")
		if !p.forbidden {
			p.forbidden = true
			p.cfg.Logger.Warn("okta system log: okta refused usersvc's credentials for GET /api/v1/logs (an API token of an admin who may read the System Log, or the okta.logs.read scope in PrivateKey mode); polling retries slowly, event hooks and sync are unaffected",
				"retry", p.cfg.CredentialsRetry.String())
		}
		return p.cfg.CredentialsRetry
	case errors.Is(err, ErrLogsRefused) && p.fresh:
		p.cfg.Observer.SyslogPoll("error")
		p.cfg.Logger.Warn("okta system log: okta refused the polling request; retrying at the poll interval", "error", err)
		return p.cfg.Interval
	case errors.Is(err, ErrLogsRefused):
		p.cfg.Observer.SyslogPoll("error")
		p.cfg.Logger.Warn("okta system log: okta refused the saved cursor (older than the log's retention, or from another org); starting again from a recent point, the sync catches up what lies between",
			"lookback", p.cfg.InitialLookback.String(), "error", err)
		p.cursor, p.fresh = p.firstRequest(), true
		return p.backoff()
	default:
		p.cfg.Observer.SyslogPoll("error")
		p.cfg.Logger.Warn("okta system log: call failed; retrying", "error", err)
		return p.backoff()
	}
}

// noteRate keeps the reserve of the /logs window: once the remaining calls
// are within ReserveShare of the limit, no call before the reset.
func (p *SyslogPoller) noteRate(r RateWindow) {
	if !r.Known || r.Limit <= 0 {
		return
	}
	reserve := int(math.Ceil(float64(r.Limit) * p.cfg.ReserveShare))
	if r.Remaining > reserve {
		return
	}
	now := p.cfg.Now()
	until := r.Reset
	if limit := now.Add(p.cfg.MaxRateWait); until.After(limit) {
		until = limit
	}
	if until.After(now) {
		p.blockedUntil = until
	}
}

// renewLease takes or renews the poller's lease; false when another
// replica holds it or the store failed (logged).
func (p *SyslogPoller) renewLease(ctx context.Context) bool {
	ok, err := p.store.AcquireLease(ctx, p.cfg.Name, p.cfg.Owner, p.cfg.LeaseTTL)
	switch {
	case err != nil:
		if ctx.Err() == nil {
			p.cfg.Observer.SyslogPoll("error")
			p.cfg.Logger.Warn("okta system log: cannot take the poller's lease", "error", err)
		}
		p.held = false
		return false
	case !ok:
		p.cfg.Observer.SyslogPoll("lease_held")
		if !p.leaseHeldLogd {
			p.leaseHeldLogd = true
			p.cfg.Logger.Info("okta system log: another replica holds the poller's lease; this one stands by")
		}
		p.held = false
		return false
	}
	if !p.held {
		// Newly ours: another holder may have moved the cursor.
		p.cursor = ""
		p.leaseHeldLogd = false
	}
	p.held = true
	p.leaseRenewed = p.cfg.Now()
	return true
}

// renewIfDue renews the lease while a long page is applied.
func (p *SyslogPoller) renewIfDue(ctx context.Context) bool {
	if p.cfg.Now().Sub(p.leaseRenewed) < p.cfg.LeaseTTL/3 {
		return true
	}
	return p.renewLease(ctx)
}

// firstRequest is the very first polling request: events persisted since
// now minus InitialLookback.
func (p *SyslogPoller) firstRequest() string {
	q := url.Values{}
	q.Set("since", p.cfg.Now().Add(-p.cfg.InitialLookback).UTC().Format("2006-01-02T15:04:05.000Z"))
	q.Set("sortOrder", "ASCENDING")
	q.Set("limit", strconv.Itoa(p.cfg.PageSize))
	q.Set("filter", LogsFilter())
	return LogsPath + "?" + q.Encode()
}

// loadCursor reads the saved cursor. A saved next link is followed as Okta
// sent it, except that the filter, limit and polling parameters are brought
// to this version's (a release that handles more event types).
func (p *SyslogPoller) loadCursor(ctx context.Context) error {
	st, err := p.store.GetSyncState(ctx, p.cfg.Name)
	if err != nil {
		return err
	}
	p.fresh = false
	if st.Cursor == "" {
		p.cursor, p.fresh = p.firstRequest(), true
		p.cfg.Logger.Info("okta system log: no saved cursor; polling from a recent point", "lookback", p.cfg.InitialLookback.String())
		return nil
	}
	path, rawQuery, _ := strings.Cut(st.Cursor, "?")
	q, qerr := url.ParseQuery(rawQuery)
	if path != LogsPath || qerr != nil || q.Get("after") == "" {
		p.cursor, p.fresh = p.firstRequest(), true
		p.cfg.Logger.Warn("okta system log: the saved cursor is not a System Log next link; polling from a recent point", "lookback", p.cfg.InitialLookback.String())
		return nil
	}
	want := map[string]string{"filter": LogsFilter(), "limit": strconv.Itoa(p.cfg.PageSize), "sortOrder": "ASCENDING"}
	changed := q.Has("until")
	for k, v := range want {
		if q.Get(k) != v {
			q.Set(k, v)
			changed = true
		}
	}
	if changed {
		q.Del("until")
		p.cursor = LogsPath + "?" + q.Encode()
		return nil
	}
	p.cursor = st.Cursor
	return nil
}

// transient reports whether err may pass by itself (the directory or the
// graph unavailable, a timeout): the page is then read again.
func transient(ctx context.Context, err error) bool {
	return ctx.Err() != nil || schema.KindOf(err) == schema.KindUnavailable ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// applyPage applies a page's events: each person named once, re-read from
// the directory, in the order of their first event. It returns an error,
// having applied what it could, when a person could not be read or written
// for a reason that may pass: the page is then read again, and the events
// applied already are skipped as seen.
func (p *SyslogPoller) applyPage(ctx context.Context, events []schema.HookEvent) error {
	type person struct {
		last   schema.HookEvent // the latest event about them: their audit record names it
		events []int
	}
	outcomes := make([]string, len(events))
	people := map[string]*person{}
	var order []string
	inPage := map[string]bool{}
	for i, ev := range events {
		switch {
		case !HookEventTypes[ev.Type] || len(ev.UserIDs) == 0:
			outcomes[i] = "ignored"
		case inPage[ev.UUID] || p.seen.Contains(ev.UUID):
			outcomes[i] = "duplicate"
		default:
			inPage[ev.UUID] = true
			outcomes[i] = "unchanged"
			for _, id := range ev.UserIDs {
				who := people[id]
				if who == nil {
					who = &person{}
					people[id] = who
					order = append(order, id)
				}
				who.last = ev
				who.events = append(who.events, i)
			}
		}
	}
	pending := make([]int, len(events)) // targets not yet applied, per event
	for _, id := range order {
		for _, i := range people[id].events {
			pending[i]++
		}
	}
	finish := func() {
		for i, ev := range events {
			if pending[i] > 0 {
				continue // read again with the page
			}
			if outcomes[i] != "duplicate" && outcomes[i] != "ignored" {
				p.seen.Add(ev.UUID, struct{}{})
			}
			p.cfg.Observer.SyslogEvent(typeLabel(ev.Type), outcomes[i])
		}
	}
	for _, id := range order {
		who := people[id]
		if !p.renewIfDue(ctx) {
			finish()
			return errors.New("the poller's lease was lost while applying a page")
		}
		var extra []any
		if len(who.events) > 1 {
			extra = []any{"coalesced_events", len(who.events)}
		}
		written, err := p.apply.applyOne(ctx, who.last, id, extra...)
		if err != nil && transient(ctx, err) {
			finish()
			return err
		}
		for _, i := range who.events {
			pending[i]--
			switch {
			case err != nil:
				outcomes[i] = "failed"
			case written && outcomes[i] != "failed":
				outcomes[i] = "applied"
			}
		}
		if err != nil {
			p.cfg.Logger.ErrorContext(ctx, "okta system log: event not applied; the next sync catches up", "event_uuid", who.last.UUID,
				"event_type", who.last.Type, OtherKeyOktaID, id, "error", err)
		}
	}
	finish()
	return nil
}
