// Package googleapi is a Google Workspace test server on loopback: the
// parts of the Admin SDK Directory API usersvc relies on (users.get and
// users.list with customer, maxResults, orderBy, sortOrder and page
// tokens), Google's JSON error bodies, and the OAuth 2.0 token endpoint a
// service account exchanges a signed JWT assertion at, with domain-wide
// delegation (token.go). Faults can be injected at will (faults.go).
//
// It is built from Google's public references: the Directory API's users
// resource, users.get and users.list pages; the Directory API's "Limits
// and quotas" page (403 userRateLimitExceeded, 403 quotaExceeded, 429
// rateLimitExceeded); Google Cloud's JSON error format ({"error": {"code",
// "message", "errors": [{"message", "domain", "reason"}], "status"}}); and
// "Using OAuth 2.0 for Server to Server Applications" (the JWT bearer grant).
package googleapi

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
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

// Scopes that allow reading users (the Directory API's users.get and
// users.list accept either).
const (
	ScopeUserReadonly = "https://www.googleapis.com/auth/admin.directory.user.readonly"
	ScopeUser         = "https://www.googleapis.com/auth/admin.directory.user"
)

// DefaultCustomerID is the customer the server holds unless WithCustomerID
// says otherwise; "my_customer" names it too, as the API's alias for the
// customer of the authenticated admin.
const DefaultCustomerID = "C0test00a"

// usersPath is where the Directory API's users collection lives, below
// the service root (https://admin.googleapis.com/ in production).
const usersPath = "/admin/directory/v1/users"

// Request is one request the server received.
type Request struct {
	Method string
	Path   string // escaped, as sent
	Query  url.Values
	// Kind is "token", "users.get", "users.list" or "other".
	Kind          string
	Authorization string
	Status        int // the answer's status; 0 while in flight or when dropped
	At            time.Time
}

// IsAPI matches Directory API calls (not the token endpoint).
func IsAPI(r Request) bool { return r.Kind == "users.get" || r.Kind == "users.list" }

// IsToken matches token endpoint calls.
func IsToken(r Request) bool { return r.Kind == "token" }

// IsList matches users.list calls.
func IsList(r Request) bool { return r.Kind == "users.list" }

// IsGet matches users.get calls.
func IsGet(r Request) bool { return r.Kind == "users.get" }

// Option configures a Server.
type Option func(*Server)

// WithCustomerID sets the customer id users.list accepts (besides
// "my_customer").
func WithCustomerID(id string) Option { return func(s *Server) { s.customerID = id } }

// WithDomains sets the domains the customer owns. users.get of an email in
// any other domain is then answered 403 forbidden, as the Directory API
// answers for users outside the administrator's domains; without domains
// every email is in reach.
func WithDomains(domains ...string) Option {
	return func(s *Server) {
		for _, d := range domains {
			s.domains[strings.ToLower(d)] = true
		}
	}
}

// WithClock sets the server's notion of now (JWT exp and iat checks, token
// expiry).
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// Server is the test Workspace customer.
type Server struct {
	srv *httptest.Server

	customerID string
	domains    map[string]bool
	now        func() time.Time

	mu       sync.Mutex
	users    map[string]User   // by id
	byEmail  map[string]string // lowercased primary email or alias → id
	accounts map[string]*account
	// delegation: false makes the token endpoint refuse every delegated
	// grant (domain-wide delegation not granted in the Admin console).
	delegation bool
	issued     map[string]issuedToken
	requests   []Request
	faults     faults
}

// New starts the server on loopback; t.Cleanup stops it.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := NewServer(opts...)
	t.Cleanup(s.Close)
	return s
}

// NewServer is New for programs that are not tests; Close stops it.
func NewServer(opts ...Option) *Server {
	s := &Server{
		customerID: DefaultCustomerID,
		domains:    map[string]bool{},
		now:        time.Now,
		users:      map[string]User{},
		byEmail:    map[string]string{},
		accounts:   map[string]*account{},
		delegation: true,
		issued:     map[string]issuedToken{},
	}
	for _, o := range opts {
		o(s)
	}
	// Unstarted first, so handlers never read srv before it is assigned.
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.Start()
	return s
}

// URL is the service root to give a client as its endpoint (no trailing
// slash): the Directory API lives at URL()+"/admin/directory/v1/".
func (s *Server) URL() string { return s.srv.URL }

// TokenURL is the token endpoint, the token_uri of the keys the server
// makes (NewServiceAccount).
func (s *Server) TokenURL() string { return s.srv.URL + "/token" }

// Close stops the server: later calls are refused.
func (s *Server) Close() { s.srv.Close() }

// AddUsers adds or replaces users by id.
func (s *Server) AddUsers(users ...User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range users {
		if old, ok := s.users[u.ID]; ok {
			for _, e := range old.addresses() {
				delete(s.byEmail, strings.ToLower(e))
			}
		}
		s.users[u.ID] = u
		for _, e := range u.addresses() {
			s.byEmail[strings.ToLower(e)] = u.ID
		}
	}
}

// DeleteUsers removes users by id: they are no longer found or listed.
func (s *Server) DeleteUsers(ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if old, ok := s.users[id]; ok {
			for _, e := range old.addresses() {
				delete(s.byEmail, strings.ToLower(e))
			}
			delete(s.users, id)
		}
	}
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

// Reset forgets the requests received so far.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// apiError is Google's JSON error body.
type apiError struct {
	Error apiErrorBody `json:"error"`
}

type apiErrorBody struct {
	Code    int            `json:"code"`
	Message string         `json:"message"`
	Errors  []apiErrorItem `json:"errors"`
	Status  string         `json:"status,omitempty"`
}

type apiErrorItem struct {
	Message      string `json:"message"`
	Domain       string `json:"domain"`
	Reason       string `json:"reason"`
	Location     string `json:"location,omitempty"`
	LocationType string `json:"locationType,omitempty"`
}

// writeError answers status with Google's error body: one error item
// with reason, in domain.
func writeError(w http.ResponseWriter, status int, domain, reason, message string) {
	writeJSON(w, status, apiError{Error: apiErrorBody{
		Code: status, Message: message, Status: statusName(status),
		Errors: []apiErrorItem{{Message: message, Domain: domain, Reason: reason}},
	}})
}

// statusName is the canonical status Google puts beside the HTTP code.
func statusName(code int) string {
	switch code {
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	default:
		return ""
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func randomID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
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

func kindOf(r *http.Request) string {
	switch p := r.URL.Path; {
	case p == "/token":
		return "token"
	case p == usersPath:
		return "users.list"
	case strings.HasPrefix(p, usersPath+"/"):
		return "users.get"
	default:
		return "other"
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	kind := kindOf(r)
	s.mu.Lock()
	s.requests = append(s.requests, Request{
		Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.Query(), Kind: kind,
		Authorization: r.Header.Get("Authorization"), At: s.now(),
	})
	idx := len(s.requests) - 1
	s.mu.Unlock()
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if idx < len(s.requests) {
			s.requests[idx].Status = sw.status
		}
	}()
	s.handle(sw, r, kind)
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request, kind string) {
	if s.injectFault(w, kind) {
		return
	}
	switch kind {
	case "token":
		s.serveToken(w, r)
		return
	case "other":
		writeError(w, http.StatusNotFound, "global", "notFound", "Not Found")
		return
	}
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "global", "httpMethodNotAllowed", "Method Not Allowed")
		return
	}
	tok, ok := s.bearer(r)
	if !ok {
		writeJSON(w, http.StatusUnauthorized, apiError{Error: apiErrorBody{
			Code: http.StatusUnauthorized, Status: statusName(http.StatusUnauthorized),
			Message: "Request had invalid authentication credentials.",
			Errors: []apiErrorItem{{Message: "Invalid Credentials", Domain: "global", Reason: "authError",
				Location: "Authorization", LocationType: "header"}},
		}})
		return
	}
	if !slices.Contains(tok.scopes, ScopeUserReadonly) && !slices.Contains(tok.scopes, ScopeUser) {
		writeError(w, http.StatusForbidden, "global", "insufficientPermissions", "Request had insufficient authentication scopes.")
		return
	}
	if !s.isAdmin(tok.subject) {
		writeError(w, http.StatusForbidden, "global", "forbidden", "Not Authorized to access this resource/api")
		return
	}
	if err := checkEnums(r.URL.Query()); err != "" {
		writeError(w, http.StatusBadRequest, "global", "invalid", err)
		return
	}
	if kind == "users.list" {
		s.serveList(w, r)
		return
	}
	key, err := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), usersPath+"/"))
	if err != nil || key == "" || strings.Contains(key, "/") {
		writeError(w, http.StatusNotFound, "global", "notFound", "Resource Not Found: userKey")
		return
	}
	if s.foreign(key) {
		writeError(w, http.StatusForbidden, "global", "forbidden", "Not Authorized to access this resource/api")
		return
	}
	u, ok := s.find(key)
	if !ok {
		writeError(w, http.StatusNotFound, "global", "notFound", "Resource Not Found: userKey")
		return
	}
	writeJSON(w, http.StatusOK, u.json(s.customerID))
}

// checkEnums refuses values outside the API's enums (projection, viewType,
// orderBy, sortOrder), as the API does.
func checkEnums(q url.Values) string {
	enums := map[string][]string{
		"projection": {"basic", "custom", "full"},
		"viewType":   {"admin_view", "domain_public"},
		"orderBy":    {"email", "familyName", "givenName"},
		"sortOrder":  {"ASCENDING", "DESCENDING"},
	}
	for name, allowed := range enums {
		if v := q.Get(name); v != "" && !slices.Contains(allowed, v) {
			return "Invalid value for " + name + ": " + v
		}
	}
	return ""
}

// foreign reports whether key is an email in a domain the customer does
// not own (only when WithDomains named the customer's domains).
func (s *Server) foreign(key string) bool {
	_, domain, ok := strings.Cut(key, "@")
	if !ok || len(s.domains) == 0 {
		return false
	}
	return !s.domains[strings.ToLower(domain)]
}

// find looks a user up as users.get's userKey does: primary email or
// alias (case-insensitively), or unique id.
func (s *Server) find(key string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.users[key]; ok {
		return u, true
	}
	if id, ok := s.byEmail[strings.ToLower(key)]; ok {
		return s.users[id], true
	}
	return User{}, false
}

func (s *Server) isAdmin(email string) bool {
	u, ok := s.find(email)
	return ok && u.IsAdmin && !u.Suspended
}

// pageToken is what a nextPageToken carries: where the next page starts,
// which page it is (1-based), and the query it belongs to.
type pageToken struct {
	Offset int    `json:"o"`
	Page   int    `json:"p"`
	Query  string `json:"q"`
}

func encodeToken(t pageToken) string {
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(s string) (pageToken, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	var t pageToken
	if err != nil || json.Unmarshal(b, &t) != nil || t.Offset < 0 || t.Page < 2 {
		return pageToken{}, false
	}
	return t, true
}

// serveList is users.list: customer (or domain), maxResults (1 to 500,
// default 100), orderBy and sortOrder, pageToken. Every user is listed,
// suspended and archived ones included.
func (s *Server) serveList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	customer, domain := q.Get("customer"), strings.ToLower(q.Get("domain"))
	switch {
	case customer == "" && domain == "":
		writeError(w, http.StatusBadRequest, "global", "badRequest", "Bad Request")
		return
	case customer != "" && customer != "my_customer" && customer != s.customerID:
		writeError(w, http.StatusBadRequest, "global", "badRequest", "Bad Request")
		return
	case domain != "" && len(s.domains) > 0 && !s.domains[domain]:
		writeError(w, http.StatusForbidden, "global", "forbidden", "Not Authorized to access this resource/api")
		return
	}
	if q.Get("query") != "" || q.Get("event") != "" {
		writeError(w, http.StatusBadRequest, "global", "invalid", "query and event are not supported by this test server")
		return
	}
	limit := 100
	if v := q.Get("maxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			writeError(w, http.StatusBadRequest, "global", "invalid", "Invalid value for maxResults: "+v)
			return
		}
		limit = n
	}
	// The query a token belongs to: a token is only good for the listing
	// that issued it.
	fingerprint := strings.Join([]string{customer, domain, q.Get("orderBy"), q.Get("sortOrder"), q.Get("showDeleted")}, "|")
	tok := pageToken{Page: 1, Query: fingerprint}
	if v := q.Get("pageToken"); v != "" {
		t, ok := decodeToken(v)
		if !ok || t.Query != fingerprint {
			writeError(w, http.StatusBadRequest, "global", "invalid", "Invalid Input: pageToken")
			return
		}
		tok = t
	}
	if f := s.pageFaultFor(tok.Page); f != 0 {
		s.writeFault(w, f)
		return
	}
	users := s.sortedUsers(q.Get("orderBy"), domain)
	if q.Get("sortOrder") == "DESCENDING" {
		slices.Reverse(users)
	}
	start := min(tok.Offset, len(users))
	end := min(start+limit, len(users))
	page := make([]map[string]any, 0, end-start)
	for _, u := range users[start:end] {
		page = append(page, u.json(s.customerID))
	}
	body := map[string]any{"kind": "admin#directory#users", "etag": `"` + randomID("") + `"`}
	if len(page) > 0 {
		body["users"] = page
	}
	if end < len(users) {
		body["nextPageToken"] = encodeToken(pageToken{Offset: end, Page: tok.Page + 1, Query: fingerprint})
	}
	writeJSON(w, http.StatusOK, body)
}

// sortedUsers returns the users (of domain, when set) in orderBy's order;
// without one, by id.
func (s *Server) sortedUsers(orderBy, domain string) []User {
	s.mu.Lock()
	users := make([]User, 0, len(s.users))
	for _, u := range s.users {
		if _, d, _ := strings.Cut(u.PrimaryEmail, "@"); domain == "" || strings.EqualFold(d, domain) {
			users = append(users, u)
		}
	}
	s.mu.Unlock()
	key := func(u User) string {
		switch orderBy {
		case "email":
			return strings.ToLower(u.PrimaryEmail)
		case "familyName":
			return strings.ToLower(u.FamilyName)
		case "givenName":
			return strings.ToLower(u.GivenName)
		}
		return ""
	}
	slices.SortFunc(users, func(a, b User) int {
		if c := strings.Compare(key(a), key(b)); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return users
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
