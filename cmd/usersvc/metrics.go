package main

import (
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/usersvc/usersvc/handlers"
	"github.com/usersvc/usersvc/handlers/auth"
	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/schema"
)

// metrics implements every observer interface of the service on one
// Prometheus registry of its own (no global registry). Label values are
// bounded: route templates, methods, statuses, outcomes, operation names;
// never ids, keys or token text.
type metrics struct {
	reg *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	// requests, authOutcomes and storeOps are the children of the metrics
	// every request touches (seriesCache).
	requests       seriesCache[requestLabels, requestSeries]
	authOutcomes   seriesCache[string, prometheus.Counter]
	storeOps       seriesCache[string, prometheus.Observer]
	inFlight       prometheus.Gauge
	auth           *prometheus.CounterVec
	tokenCache     *prometheus.CounterVec
	jwksFetches    *prometheus.CounterVec
	introspections *prometheus.CounterVec
	introspectTime prometheus.Histogram
	lookups        *prometheus.CounterVec
	lookupDuration prometheus.Histogram
	rateRemaining  *prometheus.GaugeVec
	negativeHits   prometheus.Counter
	usersWritten   *prometheus.CounterVec
	storeDuration  *prometheus.HistogramVec
	storeErrors    *prometheus.CounterVec
	syncRuns       *prometheus.CounterVec
	syncUsers      *prometheus.CounterVec
	syncDuration   prometheus.Histogram
	syncLastOK     prometheus.Gauge

	upstreamRequests *prometheus.CounterVec
	upstreamDuration prometheus.Histogram

	cacheHit  prometheus.Counter
	cacheMiss prometheus.Counter

	hookEvents *prometheus.CounterVec

	scimChanges *prometheus.CounterVec

	syslogEvents *prometheus.CounterVec
	syslogPolls  *prometheus.CounterVec
	syslogLag    prometheus.Gauge
}

func newMetrics(build handlers.BuildInfo) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "usersvc_http_requests_total", Help: "HTTP requests by route template, method and status.",
		}, []string{"route", "method", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "usersvc_http_request_duration_seconds", Help: "HTTP request latency by route template and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "usersvc_http_requests_in_flight", Help: "HTTP requests being served.",
		}),
		auth: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "usersvc_auth_total", Help: "Bearer-token checks by outcome (ok or the refusal reason).",
		}, []string{"outcome"}),
		tokenCache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "usersvc_token_cache_total", Help: "Verified-token cache lookups by result (hit, miss).",
		}, []string{"result"}),
		jwksFetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "usersvc_jwks_fetches_total", Help: "JWKS fetches by result (ok, error).",
		}, []string{"result"}),
		introspections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "usersvc_introspection_total", Help: "Token introspections by result (active, inactive, error, rate_limited).",
		}, []string{"result"}),
		introspectTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "usersvc_introspection_duration_seconds", Help: "Latency of token introspection calls (rate-limited ones make no call).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2, 3},
		}),
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "usersvc_directory_lookups_total", Help: "Directory lookups by outcome (found, not_found, ambiguous, rate_limited, error).",
		}, []string{"outcome"}),
		lookupDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "usersvc_directory_lookup_duration_seconds", Help: "Directory lookup latency.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2, 3, 5},
		}),
		rateRemaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "usersvc_okta_rate_limit_remaining", Help: "Okta X-Rate-Limit-Remaining by endpoint bucket.",
		}, []string{"bucket"}),
		negativeHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "usersvc_negative_cache_hits_total", Help: "Lookups answered from the not-in-directory cache.",
		}),
		usersWritten: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "usersvc_users_written_total", Help: "Users written by source (api, okta) and result (created, updated).",
		}, []string{"source", "result"}),
		storeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "usersvc_store_operation_duration_seconds", Help: "Graph store operation latency.",
			Buckets: []float64{.0001, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"operation"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "usersvc_store_errors_total", Help: "Graph store operations that failed (not-found and invalid answers excluded).",
		}, []string{"operation"}),
		syncRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "usersvc_sync_runs_total", Help: "Scheduled directory syncs by outcome (ok, lease_held, guard_tripped, error, canceled).",
		}, []string{"outcome"}),
		syncUsers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "usersvc_sync_users_total", Help: "Users written by scheduled syncs by action (created, updated, deactivated).",
		}, []string{"action"}),
		syncDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "usersvc_sync_duration_seconds", Help: "Duration of scheduled directory syncs that did work.",
			Buckets: []float64{.1, .5, 1, 5, 15, 30, 60, 120, 300, 600, 1800},
		}),
		syncLastOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "usersvc_sync_last_success_timestamp_seconds", Help: "Unix time the last scheduled sync completed (0: never).",
		}),
	}
	m.upstreamRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "usersvc_upstream_requests_total", Help: "Requests passed through to the metadata upstream by code class (2xx..5xx, error, timeout).",
	}, []string{"code_class"})
	m.upstreamDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "usersvc_upstream_request_duration_seconds", Help: "Time until the metadata upstream's answer headers arrived (or it failed).",
		Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	})
	m.reg.MustRegister(m.upstreamRequests, m.upstreamDuration)
	m.hookEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "usersvc_okta_event_hook_events_total",
		Help: "Okta event-hook events by event type (the handled types, else other) and outcome (applied, unchanged, ignored, duplicate, rejected, failed).",
	}, []string{"event_type", "outcome"})
	m.reg.MustRegister(m.hookEvents)
	m.scimChanges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "usersvc_scim_user_changes_total",
		Help: "Changes SCIM provisioning made to people, by audit event (user_created, user_provisioned, user_updated, user_deactivated, user_reactivated, user_deleted).",
	}, []string{"event"})
	m.reg.MustRegister(m.scimChanges)
	m.syslogEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "usersvc_okta_syslog_events_total",
		Help: "Okta System Log events read by the poller, by event type (the handled types, else other) and outcome (applied, unchanged, duplicate, ignored, failed).",
	}, []string{"event_type", "outcome"})
	m.syslogPolls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "usersvc_okta_syslog_polls_total",
		Help: "System Log polls by outcome (events, empty: caught up, rate_limited, forbidden, error, lease_held: another replica polls).",
	}, []string{"outcome"})
	m.syslogLag = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "usersvc_okta_syslog_lag_seconds",
		Help: "How far behind the System Log the poller's last page was (age of its newest event when read; 0 once caught up).",
	})
	m.reg.MustRegister(m.syslogEvents, m.syslogPolls, m.syslogLag)
	m.cacheHit = m.tokenCache.WithLabelValues("hit")
	m.cacheMiss = m.tokenCache.WithLabelValues("miss")
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "usersvc_build_info", Help: "The running binary; always 1.",
	}, []string{"version", "commit", "go_version"})
	buildInfo.WithLabelValues(build.Version, build.Commit, build.GoVersion).Set(1)
	m.reg.MustRegister(m.httpRequests, m.httpDuration, m.inFlight, m.auth, m.tokenCache, m.jwksFetches,
		m.introspections, m.introspectTime,
		m.lookups, m.lookupDuration, m.rateRemaining, m.negativeHits, m.usersWritten, m.storeDuration,
		m.storeErrors, m.syncRuns, m.syncUsers, m.syncDuration, m.syncLastOK, buildInfo,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// The authenticator hears of introspections only through this interface.
var _ auth.IntrospectionObserver = (*metrics)(nil)

func (m *metrics) RequestStarted() { m.inFlight.Inc() }

func (m *metrics) RequestFinished(route, method string, status int, elapsed time.Duration) {
	m.inFlight.Dec()
	r := m.requestSeries(route, method, status)
	r.count.Inc()
	r.duration.Observe(elapsed.Seconds())
}

// requestLabels are the labels of one request's series.
type requestLabels struct {
	route, method string
	status        int
}

// requestSeries are the children of httpRequests and httpDuration for one
// set of labels.
type requestSeries struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

// requestSeries returns the series of a request's labels.
func (m *metrics) requestSeries(route, method string, status int) requestSeries {
	return m.requests.get(requestLabels{route, method, status}, func(l requestLabels) requestSeries {
		return requestSeries{
			count:    m.httpRequests.WithLabelValues(l.route, l.method, strconv.Itoa(l.status)),
			duration: m.httpDuration.WithLabelValues(l.route, l.method),
		}
	})
}

// seriesCache keeps the children of metric vectors by their labels.
// WithLabelValues hashes and validates every label value (and the status
// must be formatted) on each call; the label sets of the per-request
// metrics are few (route templates, methods, statuses, operations), so each
// is resolved once into a map that is read without a lock and replaced,
// copied, when a set is new.
type seriesCache[K comparable, V any] struct {
	m  atomic.Pointer[map[K]V]
	mu sync.Mutex // serialises replacements
}

func (c *seriesCache[K, V]) get(k K, resolve func(K) V) V {
	if m := c.m.Load(); m != nil {
		if v, ok := (*m)[k]; ok {
			return v
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var old map[K]V
	if m := c.m.Load(); m != nil {
		old = *m
	}
	if v, ok := old[k]; ok {
		return v
	}
	v := resolve(k)
	next := make(map[K]V, len(old)+1)
	maps.Copy(next, old)
	next[k] = v
	c.m.Store(&next)
	return v
}

func (m *metrics) AuthOutcome(outcome string) {
	m.authOutcomes.get(outcome, func(o string) prometheus.Counter { return m.auth.WithLabelValues(o) }).Inc()
}

func (m *metrics) TokenCache(hit bool) {
	if hit {
		m.cacheHit.Inc()
	} else {
		m.cacheMiss.Inc()
	}
}

func (m *metrics) JWKSFetch(ok bool) {
	if ok {
		m.jwksFetches.WithLabelValues("ok").Inc()
	} else {
		m.jwksFetches.WithLabelValues("error").Inc()
	}
}

// Introspection implements auth.IntrospectionObserver.
func (m *metrics) Introspection(result string, elapsed time.Duration) {
	m.introspections.WithLabelValues(result).Inc()
	if result != "rate_limited" {
		m.introspectTime.Observe(elapsed.Seconds())
	}
}

func (m *metrics) DirectoryLookup(outcome string, elapsed time.Duration) {
	m.lookups.WithLabelValues(outcome).Inc()
	m.lookupDuration.Observe(elapsed.Seconds())
}

func (m *metrics) NegativeCacheHit() { m.negativeHits.Inc() }

func (m *metrics) UserWritten(source string, created bool) {
	result := "updated"
	if created {
		result = "created"
	}
	m.usersWritten.WithLabelValues(source, result).Inc()
}

// ProvisionChange counts one change SCIM provisioning made.
func (m *metrics) ProvisionChange(event string) {
	m.scimChanges.WithLabelValues(event).Inc()
}

// HookEvent counts one Okta event-hook event.
func (m *metrics) HookEvent(eventType, outcome string) {
	m.hookEvents.WithLabelValues(eventType, outcome).Inc()
}

// SyslogEvent counts one System Log event the poller read.
func (m *metrics) SyslogEvent(eventType, outcome string) {
	m.syslogEvents.WithLabelValues(eventType, outcome).Inc()
}

// SyslogPoll counts one System Log poll.
func (m *metrics) SyslogPoll(outcome string) { m.syslogPolls.WithLabelValues(outcome).Inc() }

// SyslogLag sets how far behind the System Log the poller is.
func (m *metrics) SyslogLag(lag time.Duration) { m.syslogLag.Set(lag.Seconds()) }

func (m *metrics) RateLimitRemaining(bucket string, remaining int) {
	m.rateRemaining.WithLabelValues(bucket).Set(float64(remaining))
}

func (m *metrics) StoreOperation(op string, elapsed time.Duration, err error) {
	m.storeOps.get(op, func(op string) prometheus.Observer { return m.storeDuration.WithLabelValues(op) }).
		Observe(elapsed.Seconds())
	if err != nil {
		switch schema.KindOf(err) {
		case schema.KindNotFound, schema.KindInvalid, schema.KindConflict:
		default:
			m.storeErrors.WithLabelValues(op).Inc()
		}
	}
}

// SyncRun records one scheduled sync.
func (m *metrics) SyncRun(outcome string, rep oidcuser.SyncReport, elapsed time.Duration) {
	m.syncRuns.WithLabelValues(outcome).Inc()
	if outcome == "lease_held" {
		return
	}
	m.syncDuration.Observe(elapsed.Seconds())
	if outcome != "ok" {
		return
	}
	m.syncUsers.WithLabelValues("created").Add(float64(rep.Created))
	m.syncUsers.WithLabelValues("updated").Add(float64(rep.Updated))
	m.syncUsers.WithLabelValues("deactivated").Add(float64(rep.Deactivated))
	m.syncLastOK.SetToCurrentTime()
}

// UpstreamRequest records one request passed through to the metadata
// upstream.
func (m *metrics) UpstreamRequest(codeClass string, elapsed time.Duration) {
	m.upstreamRequests.WithLabelValues(codeClass).Inc()
	m.upstreamDuration.Observe(elapsed.Seconds())
}
