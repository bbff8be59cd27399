// Package oktaapi is an Okta Users API test server on loopback, faithful to
// the parts of the real API usersvc relies on: user lookup by id or login,
// search with the SCIM filter grammar, Link pagination, group membership,
// SSWS and OAuth 2.0 private-key JWT authentication, Okta's error bodies,
// and rate limits with Okta's headers; and the System Log API's polling
// requests (logs.go). Faults can be injected at will.
package oktaapi

import (
	"bufio"
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Okta error codes.
const (
	CodeNotFound       = "E0000007"
	CodeInvalidToken   = "E0000011"
	CodeInvalidSearch  = "E0000031"
	CodeRateLimited    = "E0000047"
	CodeInternalError  = "E0000009"
	CodeServiceUnavail = "E0000010"
)

// Request is one request the server received.
type Request struct {
	Method        string
	Path          string // escaped, as sent
	Query         url.Values
	Search        string // decoded `search` parameter
	Authorization string
	Status        int       // the answer's status; 0 while in flight or when dropped
	At            time.Time // when it arrived (the server's clock)
	// RateRemaining is the answer's X-Rate-Limit-Remaining; -1 without one.
	RateRemaining int
}

// Option configures a Server.
type Option func(*Server)

// WithSSWSToken requires "Authorization: SSWS <token>" on API calls.
func WithSSWSToken(token string) Option { return func(s *Server) { s.ssws = token } }

// WithPrivateKeyClient registers an OAuth client whose assertions are signed
// by the private half of pub; API calls then need its access tokens.
func WithPrivateKeyClient(clientID string, pub crypto.PublicKey) Option {
	return func(s *Server) { s.clients[clientID] = pub }
}

// WithClock sets the server's notion of now (rate-limit windows, Date).
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithRateLimits sets calls per window for fetching one user and for
// listing/searching users (Okta's defaults are in the 1,000–2,000 and 600
// per minute range).
func WithRateLimits(getUser, listUsers int) Option {
	return func(s *Server) { s.limits["users:get"], s.limits["users:list"] = getUser, listUsers }
}

// WithWindow sets the rate-limit window length (default one minute).
func WithWindow(d time.Duration) Option { return func(s *Server) { s.window = d } }

// WithConcurrencyLimit caps requests in flight; beyond it the server answers
// 429 with X-Rate-Limit-Limit: 0, as Okta does.
func WithConcurrencyLimit(n int) Option { return func(s *Server) { s.maxInFlight = n } }

// Server is the test org.
type Server struct {
	srv *httptest.Server

	ssws    string
	clients map[string]crypto.PublicKey
	now     func() time.Time
	window  time.Duration
	limits  map[string]int

	mu          sync.Mutex
	anchor      time.Time // windows start at anchor + k×window
	users       map[string]User
	byLogin     map[string]string // lowercased login → id
	sorted      []User            // users by id; nil when stale
	issued      map[string]bool   // OAuth access tokens
	used        map[string]int    // bucket+window start → calls
	requests    []Request
	inFlight    int
	maxInFlight int
	faults      faults
	conns       int       // connections accepted
	logs        systemLog // GET /api/v1/logs (logs.go)
}

// Connections counts the TCP connections the server accepted: every
// connection attempt a client made, answered or not.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// New starts the server on loopback; t.Cleanup stops it.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := NewServer(opts...)
	t.Cleanup(s.Close)
	return s
}

// NewServer is New for programs that are not tests (the load harness);
// Close stops it.
func NewServer(opts ...Option) *Server {
	s := &Server{
		clients: map[string]crypto.PublicKey{},
		now:     time.Now,
		window:  time.Minute,
		limits:  map[string]int{"users:get": 1200, "users:list": 600, "users:groups": 1200, bucketLogs: 120},
		anchor:  time.Unix(0, 0), // minute-aligned windows
		users:   map[string]User{},
		byLogin: map[string]string{},
		issued:  map[string]bool{},
		used:    map[string]int{},
	}
	for _, o := range opts {
		o(s)
	}
	// Unstarted first, so handlers never read srv before it is assigned.
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
		}
	}
	s.srv.Start()
	return s
}

// URL is the org URL (no trailing slash).
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server: later calls are refused.
func (s *Server) Close() { s.srv.Close() }

// AddUsers adds or replaces users by id.
func (s *Server) AddUsers(users ...User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range users {
		if old, ok := s.users[u.ID]; ok {
			delete(s.byLogin, strings.ToLower(old.login()))
		}
		s.users[u.ID] = u
		s.byLogin[strings.ToLower(u.login())] = u.ID
	}
	s.sorted = nil
}

// DeleteUsers removes users by id, as Okta's DELETE /api/v1/users/{id} of a
// deactivated user does: they are no longer found or listed.
func (s *Server) DeleteUsers(ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if old, ok := s.users[id]; ok {
			delete(s.byLogin, strings.ToLower(old.login()))
			delete(s.users, id)
		}
	}
	s.sorted = nil
}

// Requests returns what the server received, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Count returns how many received requests satisfy match.
func (s *Server) Count(match func(Request) bool) int {
	n := 0
	for _, r := range s.Requests() {
		if match(r) {
			n++
		}
	}
	return n
}

// IsAPI matches Users API calls (not the token endpoint, nor the System
// Log's /api/v1/logs: IsLogs).
func IsAPI(r Request) bool { return strings.HasPrefix(r.Path, "/api/v1/users") }

// RestartWindows makes the current rate-limit window start now and forgets
// the calls counted so far (by default windows are aligned to the minute, as
// Okta's are).
func (s *Server) RestartWindows() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.anchor = s.now()
	s.used = map[string]int{}
}

// Reset forgets received requests and used rate limit.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
	s.used = map[string]int{}
}

type oktaError struct {
	ErrorCode    string           `json:"errorCode"`
	ErrorSummary string           `json:"errorSummary"`
	ErrorLink    string           `json:"errorLink"`
	ErrorID      string           `json:"errorId"`
	ErrorCauses  []map[string]any `json:"errorCauses"`
}

func randomID(prefix string) string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func (s *Server) writeError(w http.ResponseWriter, status int, code, summary string) {
	s.writeJSON(w, status, oktaError{ErrorCode: code, ErrorSummary: summary, ErrorLink: code, ErrorID: randomID("oae"), ErrorCauses: []map[string]any{}})
}

func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// statusWriter remembers the status of the answer for Requests.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return w.ResponseWriter.(http.Hijacker).Hijack()
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	idx := s.record(r)
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if idx < len(s.requests) {
			s.requests[idx].Status = sw.status
			s.requests[idx].RateRemaining = -1
			if n, err := strconv.Atoi(sw.Header().Get("X-Rate-Limit-Remaining")); err == nil {
				s.requests[idx].RateRemaining = n
			}
		}
	}()
	s.handle(sw, r)
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Date", s.now().UTC().Format(http.TimeFormat))
	w.Header().Set("X-Okta-Request-Id", randomID("req"))

	if !s.enter() {
		w.Header().Set("X-Rate-Limit-Limit", "0")
		w.Header().Set("X-Rate-Limit-Remaining", "0")
		w.Header().Set("X-Rate-Limit-Reset", strconv.FormatInt(s.now().Add(time.Second).Unix(), 10))
		s.writeError(w, http.StatusTooManyRequests, CodeRateLimited, "API call exceeded rate limit due to too many requests.")
		return
	}
	defer s.leave()
	if s.injectFault(w, r) {
		return
	}

	if r.URL.Path == "/oauth2/v1/token" {
		s.serveToken(w, r)
		return
	}
	if r.URL.Path == "/api/v1/logs" {
		s.serveLogs(w, r)
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/api/v1/users") {
		s.writeError(w, http.StatusNotFound, CodeNotFound, "Not found: Resource not found: "+r.URL.Path)
		return
	}
	if !s.authorized(r) {
		s.writeError(w, http.StatusUnauthorized, CodeInvalidToken, "Invalid token provided")
		return
	}
	segments := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.EscapedPath(), "/api/v1/users"), "/"), "/")
	var bucket string
	switch {
	case len(segments) == 1 && segments[0] == "":
		bucket = "users:list"
	case len(segments) == 1:
		bucket = "users:get"
	case len(segments) == 2 && segments[1] == "groups":
		bucket = "users:groups"
	default:
		s.writeError(w, http.StatusNotFound, CodeNotFound, "Not found: Resource not found: "+r.URL.Path)
		return
	}
	if !s.spend(w, bucket) {
		s.writeError(w, http.StatusTooManyRequests, CodeRateLimited, "API call exceeded rate limit due to too many requests.")
		return
	}
	if r.Method != http.MethodGet {
		s.writeError(w, http.StatusMethodNotAllowed, "E0000022", "The endpoint does not support the provided HTTP method")
		return
	}
	switch bucket {
	case "users:list":
		s.serveList(w, r)
	case "users:get":
		id, err := url.PathUnescape(segments[0])
		if err != nil {
			s.writeError(w, http.StatusBadRequest, "E0000001", "Api validation failed")
			return
		}
		if u, ok := s.find(id); ok {
			s.writeJSON(w, http.StatusOK, u.json(s.URL()))
			return
		}
		s.writeError(w, http.StatusNotFound, CodeNotFound, "Not found: Resource not found: "+id+" (User)")
	case "users:groups":
		id, _ := url.PathUnescape(segments[0])
		u, ok := s.find(id)
		if !ok {
			s.writeError(w, http.StatusNotFound, CodeNotFound, "Not found: Resource not found: "+id+" (User)")
			return
		}
		groups := make([]map[string]any, 0, len(u.Groups))
		for _, g := range u.Groups {
			groups = append(groups, g.json())
		}
		s.writeJSON(w, http.StatusOK, groups)
	}
}

func (s *Server) record(r *http.Request) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{
		Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.Query(),
		Search: r.URL.Query().Get("search"), Authorization: r.Header.Get("Authorization"), At: s.now(),
	})
	return len(s.requests) - 1
}

func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.maxInFlight > 0 && s.inFlight >= s.maxInFlight {
		return false
	}
	s.inFlight++
	return true
}

func (s *Server) leave() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inFlight--
}

// spend counts a call against its bucket's window and writes Okta's
// rate-limit headers; false means the window is spent.
func (s *Server) spend(w http.ResponseWriter, bucket string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	start := s.anchor.Add(now.Sub(s.anchor).Truncate(s.window))
	reset := start.Add(s.window)
	key := bucket + "@" + strconv.FormatInt(start.Unix(), 10)
	limit := s.limits[bucket]
	ok := s.used[key] < limit
	if ok {
		s.used[key]++
	}
	h := w.Header()
	h.Set("X-Rate-Limit-Limit", strconv.Itoa(limit))
	h.Set("X-Rate-Limit-Remaining", strconv.Itoa(limit-s.used[key]))
	h.Set("X-Rate-Limit-Reset", strconv.FormatInt(reset.Unix(), 10))
	return ok
}

func (s *Server) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if s.ssws != "" && h == "SSWS "+s.ssws {
		return true
	}
	if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.issued[tok]
	}
	return s.ssws == "" && len(s.clients) == 0 // an open org, for tests that do not care
}

// find looks a user up by id, or by login case-insensitively.
func (s *Server) find(idOrLogin string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.users[idOrLogin]; ok {
		return u, true
	}
	if id, ok := s.byLogin[strings.ToLower(idOrLogin)]; ok {
		return s.users[id], true
	}
	return User{}, false
}

// sortedUsers returns the users by id; the slice is shared and read-only.
func (s *Server) sortedUsers() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sorted == nil {
		users := make([]User, 0, len(s.users))
		for _, u := range s.users {
			users = append(users, u)
		}
		slices.SortFunc(users, func(a, b User) int { return strings.Compare(a.ID, b.ID) })
		s.sorted = users
	}
	return s.sorted
}

// serveList is GET /api/v1/users with search, filter, q, limit and after.
func (s *Server) serveList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 200
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			s.writeError(w, http.StatusBadRequest, "E0000001", "Api validation failed: limit")
			return
		}
		limit = min(n, 200)
	}
	var match func(User) bool
	includeDeprovisioned := false
	switch {
	case q.Get("search") != "" || q.Get("filter") != "":
		expr := q.Get("search")
		includeDeprovisioned = expr != ""
		if expr == "" {
			expr = q.Get("filter")
		}
		f, err := ParseFilter(expr)
		if err != nil {
			s.writeError(w, http.StatusBadRequest, CodeInvalidSearch, "Invalid search criteria.")
			return
		}
		match = f.Match
	case q.Get("q") != "":
		// q= is a prefix match on names and email, capped at 10: never
		// a way to resolve one person.
		prefix := strings.ToLower(q.Get("q"))
		match = func(u User) bool {
			for _, k := range []string{"firstName", "lastName", "email"} {
				if v, _ := u.Profile[k].(string); strings.HasPrefix(strings.ToLower(v), prefix) {
					return true
				}
			}
			return false
		}
		limit = min(limit, 10)
	default:
		match = func(User) bool { return true }
	}
	var matched []User
	for _, u := range s.sortedUsers() {
		if (includeDeprovisioned || u.Status != "DEPROVISIONED") && match(u) {
			matched = append(matched, u)
		}
	}
	switch q.Get("sortBy") {
	case "", "id":
	case "lastUpdated":
		slices.SortStableFunc(matched, func(a, b User) int { return a.LastUpdated.Compare(b.LastUpdated) })
	default:
		s.writeError(w, http.StatusBadRequest, "E0000001", "Api validation failed: sortBy")
		return
	}
	if strings.EqualFold(q.Get("sortOrder"), "desc") {
		slices.Reverse(matched)
	}
	// The cursor is the id of the last user sent: the page continues after it
	// in the order chosen.
	pageNo := 1
	if after := q.Get("after"); after != "" {
		i := slices.IndexFunc(matched, func(u User) bool { return u.ID == after })
		matched = matched[i+1:] // i = -1 (unknown cursor) restarts
		pageNo = (i+1)/limit + 1
	}
	if fault := s.pageFaultFor(pageNo); fault != 0 {
		s.writePageFault(w, fault)
		return
	}
	var page []map[string]any
	more := false
	for _, u := range matched {
		if len(page) == limit {
			more = true
			break
		}
		page = append(page, u.json(s.URL()))
	}
	if q.Get("q") != "" {
		more = false
	}
	self := url.Values{}
	for k, v := range q {
		if k != "after" {
			self[k] = v
		}
	}
	self.Set("limit", strconv.Itoa(limit))
	w.Header().Add("Link", "<"+s.URL()+"/api/v1/users?"+self.Encode()+`>; rel="self"`)
	if more {
		next := url.Values{}
		for k, v := range self {
			next[k] = v
		}
		next.Set("after", page[len(page)-1]["id"].(string))
		w.Header().Add("Link", "<"+s.URL()+"/api/v1/users?"+next.Encode()+`>; rel="next"`)
	}
	if page == nil {
		page = []map[string]any{}
	}
	s.writeJSON(w, http.StatusOK, page)
}

// hijackHangUp closes the connection cleanly without an answer.
func hijackHangUp(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
		}
	}
}

// hijackClose drops the connection without an answer (a reset).
func hijackClose(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			if tcp, ok := conn.(*net.TCPConn); ok {
				_ = tcp.SetLinger(0)
			}
			_ = conn.Close()
		}
	}
}
