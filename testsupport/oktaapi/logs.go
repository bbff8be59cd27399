package oktaapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// The System Log API, GET /api/v1/logs, as Okta documents it
// (https://developer.okta.com/docs/reference/api/system-log/, "List
// events", "Request parameters", "Polling requests", "Bounded requests",
// "Filtering results"; and the System Log query guide,
// https://developer.okta.com/docs/reference/system-log-query/):
//
//   - parameters: `since` and `until` (ISO 8601), `after` (the opaque
//     cursor Okta puts in the next link), `filter` (a SCIM-style expression
//     on event attributes such as eventType), `q`, `limit` (default 100,
//     at most 1000) and `sortOrder` (ASCENDING, the default, or
//     DESCENDING);
//   - the answer is a JSON array of LogEvent objects (uuid, published,
//     eventType, actor, target[], outcome, ...) with
//     `Link: <...>; rel="self"` and, when there is more to read,
//     `Link: <https://{org}/api/v1/logs?...&after=...>; rel="next"`;
//   - a polling request is one without `until`, in ASCENDING order: its
//     answer always carries a next link, even when it holds no events, and
//     the client keeps following it; an empty page means it is caught up.
//     For polling requests `since` and `until` bound the events' persistence
//     time rather than their `published` time (events can be persisted out
//     of published order);
//   - /api/v1/logs has a rate-limit bucket of its own (20 to 120 requests a
//     minute depending on the plan) with the usual X-Rate-Limit-Limit,
//     -Remaining and -Reset (UTC epoch seconds) headers and 429 with
//     errorCode E0000047 when it is spent.
//
// The test org keeps its log in persistence order; the cursor is the
// persistence position of the last event sent.

// LogEvent is one System Log event of the test org.
type LogEvent struct {
	UUID      string
	Published time.Time
	EventType string
	// Targets are the ids of the event's targets of type User.
	Targets []string

	seq       int       // persistence position, from 1
	persisted time.Time // when the org recorded it
}

// LogFault is how FailLogsCall breaks one /api/v1/logs call.
type LogFault int

const (
	// LogRateLimited answers 429 (E0000047) with X-Rate-Limit-Remaining 0
	// and a Reset one to two seconds ahead, as a spent bucket does.
	LogRateLimited LogFault = iota + 1
	// LogTruncated sends the page's status, headers and Content-Length,
	// then half of its body, then resets the connection: a connection
	// dropped mid-page.
	LogTruncated
	// LogUnavailable answers 503 with Okta's error body.
	LogUnavailable
)

// systemLog is the org's log and its faults; Server.mu guards it.
type systemLog struct {
	events    []LogEvent
	calls     int              // /api/v1/logs calls received
	faults    map[int]LogFault // by call number
	forbidden bool
}

// WithLogsRateLimit sets the calls per window of the /api/v1/logs bucket
// (Okta: 20 to 120 a minute by plan; the test org's default is 120).
func WithLogsRateLimit(n int) Option { return func(s *Server) { s.limits[bucketLogs] = n } }

const bucketLogs = "logs"

// Publish records an event of eventType about the users with these ids,
// published now, and returns it.
func (s *Server) Publish(eventType string, userIDs ...string) LogEvent {
	return s.AppendEvents(LogEvent{EventType: eventType, Targets: userIDs})[0]
}

// AppendEvents records events in the order given (their persistence
// order), whatever their Published times say: an event published earlier
// may be persisted, and so delivered, after a later one. A zero UUID or
// Published is filled in (a random uuid, now); a UUID may repeat, for a
// duplicate delivery.
func (s *Server) AppendEvents(events ...LogEvent) []LogEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := make([]LogEvent, 0, len(events))
	for _, ev := range events {
		if ev.UUID == "" {
			ev.UUID = randomUUID()
		}
		if ev.Published.IsZero() {
			ev.Published = now
		}
		ev.Targets = slices.Clone(ev.Targets)
		ev.seq = len(s.logs.events) + 1
		ev.persisted = now
		s.logs.events = append(s.logs.events, ev)
		out = append(out, ev)
	}
	return out
}

// SetStatus changes a user's status (and statusChanged, lastUpdated) now,
// without publishing anything; false when there is no such user.
func (s *Server) SetStatus(id, status string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return false
	}
	now := s.now()
	u.Status, u.StatusChanged, u.LastUpdated = status, now, now
	s.users[id] = u
	s.sorted = nil
	return true
}

// Deactivate deprovisions the user and publishes user.lifecycle.deactivate
// about them, as Okta does when an administrator deactivates someone.
func (s *Server) Deactivate(id string) LogEvent {
	s.SetStatus(id, "DEPROVISIONED")
	return s.Publish("user.lifecycle.deactivate", id)
}

// Activate makes the user ACTIVE and publishes user.lifecycle.activate.
func (s *Server) Activate(id string) LogEvent {
	s.SetStatus(id, "ACTIVE")
	return s.Publish("user.lifecycle.activate", id)
}

// FailLogsCall breaks the n-th /api/v1/logs call from now (1: the next
// one) with fault, once.
func (s *Server) FailLogsCall(n int, fault LogFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.logs.faults == nil {
		s.logs.faults = map[int]LogFault{}
	}
	s.logs.faults[s.logs.calls+n] = fault
}

// SetLogsForbidden makes /api/v1/logs answer 403 E0000006, as Okta does
// for credentials without the okta.logs.read scope or an admin role that
// may read the System Log, until SetLogsForbidden(false).
func (s *Server) SetLogsForbidden(forbidden bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logs.forbidden = forbidden
}

// LogCalls counts the /api/v1/logs calls received.
func (s *Server) LogCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.calls
}

// IsLogs matches System Log calls.
func IsLogs(r Request) bool { return r.Path == "/api/v1/logs" }

func randomUUID() string {
	id := randomID("")
	return id[0:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + randomID("")[0:12]
}

// attribute resolves a filter attribute on the event.
func (ev LogEvent) attribute(path string) (any, bool) {
	switch path {
	case "eventType":
		return ev.EventType, true
	case "uuid":
		return ev.UUID, true
	case "published":
		return ev.Published.UTC().Format("2006-01-02T15:04:05.000Z"), true
	case "target.id":
		if len(ev.Targets) > 0 {
			return ev.Targets[0], true
		}
	}
	return nil, false
}

// validLogAttr: the event attributes the test org filters on.
func validLogAttr(s string) bool {
	switch s {
	case "eventType", "uuid", "published", "target.id":
		return true
	}
	return false
}

// ParseLogFilter parses a System Log filter expression
// (eventType eq "user.lifecycle.deactivate" or ...).
func ParseLogFilter(expr string) (Filter, error) { return parseFilter(expr, validLogAttr) }

// logCursor renders a persistence position as Okta-like opaque text
// (milliseconds and a sequence number).
func logCursor(ms int64, seq int) string { return fmt.Sprintf("%d_%d", ms, seq) }

func parseLogCursor(after string) (int, bool) {
	_, seqText, ok := strings.Cut(after, "_")
	if !ok {
		return 0, false
	}
	seq, err := strconv.Atoi(seqText)
	return seq, err == nil && seq >= 0
}

func parseLogTime(v string) (time.Time, error) {
	return time.Parse(time.RFC3339Nano, v)
}

// serveLogs is GET /api/v1/logs.
func (s *Server) serveLogs(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.logs.calls++
	fault := s.logs.faults[s.logs.calls]
	delete(s.logs.faults, s.logs.calls)
	forbidden := s.logs.forbidden
	s.mu.Unlock()

	if !s.authorized(r) {
		s.writeError(w, http.StatusUnauthorized, CodeInvalidToken, "Invalid token provided")
		return
	}
	if forbidden {
		s.writeError(w, http.StatusForbidden, "E0000006", "You do not have permission to perform the requested action")
		return
	}
	if fault == LogRateLimited {
		s.writeRateLimited(w, bucketLogs)
		return
	}
	if !s.spend(w, bucketLogs) {
		s.writeError(w, http.StatusTooManyRequests, CodeRateLimited, "API call exceeded rate limit due to too many requests.")
		return
	}
	if r.Method != http.MethodGet {
		s.writeError(w, http.StatusMethodNotAllowed, "E0000022", "The endpoint does not support the provided HTTP method")
		return
	}
	if fault == LogUnavailable {
		s.writeError(w, http.StatusServiceUnavailable, CodeServiceUnavail, "Service Unavailable")
		return
	}
	q := r.URL.Query()
	invalid := func(param string) {
		s.writeError(w, http.StatusBadRequest, "E0000001", "Api validation failed: "+param)
	}
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			invalid("limit")
			return
		}
		limit = n
	}
	order := strings.ToUpper(q.Get("sortOrder"))
	switch order {
	case "":
		order = "ASCENDING"
	case "ASCENDING", "DESCENDING":
	default:
		invalid("sortOrder")
		return
	}
	var since, until time.Time
	var err error
	if v := q.Get("since"); v != "" {
		if since, err = parseLogTime(v); err != nil {
			invalid("since")
			return
		}
	}
	if v := q.Get("until"); v != "" {
		if until, err = parseLogTime(v); err != nil {
			invalid("until")
			return
		}
	}
	polling := until.IsZero() && order == "ASCENDING"
	var match Filter
	if v := q.Get("filter"); v != "" {
		if match, err = ParseLogFilter(v); err != nil {
			s.writeError(w, http.StatusBadRequest, CodeInvalidSearch, "Invalid search criteria.")
			return
		}
	}
	if q.Get("q") != "" {
		invalid("q (not supported by the test org)")
		return
	}
	after := -1
	if v := q.Get("after"); v != "" {
		seq, ok := parseLogCursor(v)
		if !ok {
			invalid("after")
			return
		}
		after = seq
	}

	s.mu.Lock()
	log := slices.Clone(s.logs.events)
	s.mu.Unlock()
	if order == "DESCENDING" {
		slices.Reverse(log)
	}
	var page []LogEvent
	more := false
	position := after
	if position < 0 && polling {
		// A first polling request starts at the end of what was persisted
		// before since: events persisted later come after this point.
		position = 0
	}
	for _, ev := range log {
		if after >= 0 && (order == "ASCENDING" && ev.seq <= after || order == "DESCENDING" && ev.seq >= after) {
			continue
		}
		// Polling requests bound persistence time; bounded ones published.
		at := ev.Published
		if polling {
			at = ev.persisted
		}
		if !since.IsZero() && at.Before(since) || !until.IsZero() && !at.Before(until) {
			if polling && ev.seq > position {
				position = ev.seq
			}
			continue
		}
		if match != nil && !match.matches(ev) {
			if polling {
				position = ev.seq
			}
			continue
		}
		if len(page) == limit {
			more = true
			break
		}
		page = append(page, ev)
		position = ev.seq
	}

	base := s.URL() + "/api/v1/logs?"
	w.Header().Add("Link", "<"+base+r.URL.RawQuery+`>; rel="self"`)
	if polling || more {
		next := url.Values{}
		for k, v := range q {
			if k != "after" && k != "since" {
				next[k] = v
			}
		}
		if !polling && !since.IsZero() {
			next.Set("since", q.Get("since"))
		}
		if position < 0 {
			position = 0
		}
		next.Set("after", logCursor(s.now().UnixMilli(), position))
		w.Header().Add("Link", "<"+base+next.Encode()+`>; rel="next"`)
	}
	body := make([]map[string]any, 0, len(page))
	for _, ev := range page {
		body = append(body, s.eventJSON(ev))
	}
	if fault == LogTruncated {
		s.writeTruncated(w, body)
		return
	}
	s.writeJSON(w, http.StatusOK, body)
}

// writeRateLimited answers 429 as a spent bucket does.
func (s *Server) writeRateLimited(w http.ResponseWriter, bucket string) {
	now := s.now()
	reset := now.Truncate(time.Second).Add(2 * time.Second) // 1 to 2 s ahead
	h := w.Header()
	h.Set("X-Rate-Limit-Limit", strconv.Itoa(s.limits[bucket]))
	h.Set("X-Rate-Limit-Remaining", "0")
	h.Set("X-Rate-Limit-Reset", strconv.FormatInt(reset.Unix(), 10))
	s.writeError(w, http.StatusTooManyRequests, CodeRateLimited, "API call exceeded rate limit due to too many requests.")
}

// writeTruncated sends the answer's head with the full Content-Length and
// half its body, then resets the connection.
func (s *Server) writeTruncated(w http.ResponseWriter, body any) {
	data, _ := json.Marshal(body)
	hj, ok := w.(http.Hijacker)
	if !ok {
		return
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	var head bytes.Buffer
	head.WriteString("HTTP/1.1 200 OK\r\n")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	_ = w.Header().Write(&head)
	head.WriteString("\r\n")
	head.Write(data[:len(data)/2])
	_, _ = buf.Write(head.Bytes())
	_ = buf.Flush()
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
}

// eventJSON renders an event as the System Log API does (the fields usersvc
// and common consumers read; others are left out).
func (s *Server) eventJSON(ev LogEvent) map[string]any {
	targets := make([]map[string]any, 0, len(ev.Targets))
	for _, id := range ev.Targets {
		t := map[string]any{"id": id, "type": "User", "alternateId": "unknown", "displayName": "unknown", "detailEntry": nil}
		if u, ok := s.find(id); ok {
			t["alternateId"] = u.login()
			first, _ := u.Profile["firstName"].(string)
			last, _ := u.Profile["lastName"].(string)
			t["displayName"] = strings.TrimFunc(first+" "+last, unicode.IsSpace)
		}
		targets = append(targets, t)
	}
	return map[string]any{
		"uuid":           ev.UUID,
		"published":      ev.Published.UTC().Format("2006-01-02T15:04:05.000Z"),
		"eventType":      ev.EventType,
		"version":        "0",
		"severity":       "INFO",
		"displayMessage": ev.EventType,
		"legacyEventType": map[string]string{
			"user.lifecycle.deactivate": "core.user.config.user_deactivated",
			"user.lifecycle.activate":   "core.user.config.user_activated",
		}[ev.EventType],
		"actor":   map[string]any{"id": "00uadmin", "type": "User", "alternateId": "admin@example.com", "displayName": "Admin"},
		"client":  map[string]any{"zone": "null", "ipAddress": "127.0.0.1", "device": "Unknown"},
		"outcome": map[string]any{"result": "SUCCESS", "reason": nil},
		"target":  targets,
		"transaction": map[string]any{
			"type": "WEB", "id": randomID("tx"),
		},
		"authenticationContext": map[string]any{"externalSessionId": randomID("ses")},
		"debugContext":          map[string]any{"debugData": map[string]any{}},
	}
}
