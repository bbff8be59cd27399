// Package entraapi is a Microsoft Entra ID test server on loopback: the
// Microsoft identity platform's token endpoint for the OAuth 2.0 client
// credentials grant (with a client secret) and the parts of Microsoft Graph
// v1.0's user API that usersvc calls. It is written from Microsoft's
// published references, cited where each behaviour is implemented:
//
//   - "Microsoft identity platform and the OAuth 2.0 client credentials
//     flow" (learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow):
//     POST /{tenant}/oauth2/v2.0/token with client_id, client_secret,
//     scope={resource}/.default and grant_type=client_credentials; the
//     answer's token_type, expires_in and access_token; errors as
//     {error, error_description, error_codes, timestamp, trace_id,
//     correlation_id} with AADSTS codes.
//   - Graph v1.0 "Get user" (GET /users/{id | userPrincipalName}), "List
//     users" (GET /users with $filter, $select, $top, $expand; no $skip;
//     default page 100, at most 999), "List manager" (GET
//     /users/{id}/manager, 404 when none is assigned), "Paging Microsoft
//     Graph data" (@odata.nextLink with a $skiptoken, carrying the other
//     query parameters of the request), "Use query parameters" (doubled
//     single quotes in literals), "Microsoft Graph error responses"
//     ({error: {code, message, innerError}}) and "Microsoft Graph
//     throttling guidance" (429 with Retry-After).
//
// The token endpoint and Graph listen on two loopback ports, as
// login.microsoftonline.com and graph.microsoft.com are two hosts. Faults
// can be injected (faults.go): throttling with Retry-After on the next n
// calls or on the k-th page of a listing, 503, dropped connections,
// latency, a rotated client secret, expired tokens, missing permissions.
package entraapi

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"maps"
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

// Default credentials of the test tenant's one application registration.
const (
	DefaultTenantID     = "11111111-2222-4333-8444-555555555555"
	DefaultClientID     = "66666666-7777-4888-9999-000000000000"
	DefaultClientSecret = "test~secret.value_0123456789abcdefABCDEF"
)

// Graph error codes (Microsoft Graph error responses; the directory's own
// codes for user objects).
const (
	CodeNotFound        = "Request_ResourceNotFound"
	CodeBadRequest      = "BadRequest"
	CodeUnsupported     = "Request_UnsupportedQuery"
	CodeInvalidToken    = "InvalidAuthenticationToken"
	CodeDenied          = "Authorization_RequestDenied"
	CodeThrottled       = "TooManyRequests"
	CodeUnavailable     = "serviceNotAvailable"
	CodeInvalidPageSize = "Request_BadRequest"
)

// Request is one request a listener received.
type Request struct {
	Method string
	// Token is true for the token endpoint (the login host), false for
	// Graph.
	Token         bool
	Path          string // escaped, as sent
	RawQuery      string // as sent
	Query         url.Values
	Authorization string
	// Page is the 1-based page of a user listing the request asked for
	// (1 without a $skiptoken); 0 for other requests.
	Page   int
	Status int // the answer's status; 0 while in flight or when dropped
	At     time.Time
}

// IsGraph matches Graph calls; IsToken matches token requests.
func IsGraph(r Request) bool { return !r.Token }

// IsToken matches token requests.
func IsToken(r Request) bool { return r.Token }

// Option configures a Server.
type Option func(*Server)

// WithCredentials registers the application's tenant, client id and
// secret (default: the Default* constants).
func WithCredentials(tenant, clientID, secret string) Option {
	return func(s *Server) { s.tenant, s.clientID, s.secret = tenant, clientID, secret }
}

// WithTokenLifetime sets the expires_in of issued tokens (default 3599 s,
// what the identity platform typically answers).
func WithTokenLifetime(d time.Duration) Option { return func(s *Server) { s.lifetime = d } }

// WithClock sets the server's notion of now (token expiry).
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// Server is the test tenant.
type Server struct {
	graph, login *httptest.Server

	tenant, clientID string
	lifetime         time.Duration
	now              func() time.Time

	mu       sync.Mutex
	secret   string
	users    map[string]User   // by object id
	byUPN    map[string]string // lowercased UPN → id
	tokens   map[string]time.Time
	pages    map[string]pageState // $skiptoken → where it continues
	requests []Request
	faults   faults
	denied   bool   // Graph answers 403 Authorization_RequestDenied
	nextBase string // scheme+host nextLinks are written with ("" = this server)
}

// pageState is what a $skiptoken stands for: the offset of the next page
// of one query, and the query it belongs to (its other parameters).
type pageState struct {
	offset int
	query  string
}

// New starts the server; t.Cleanup stops it.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := NewServer(opts...)
	t.Cleanup(s.Close)
	return s
}

// NewServer starts the server; Close stops it.
func NewServer(opts ...Option) *Server {
	s := &Server{
		tenant: DefaultTenantID, clientID: DefaultClientID, secret: DefaultClientSecret,
		lifetime: 3599 * time.Second,
		now:      time.Now,
		users:    map[string]User{},
		byUPN:    map[string]string{},
		tokens:   map[string]time.Time{},
		pages:    map[string]pageState{},
	}
	for _, o := range opts {
		o(s)
	}
	// Unstarted first, so handlers never read the fields before they are set.
	s.graph = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, false) }))
	s.login = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, true) }))
	s.graph.Start()
	s.login.Start()
	return s
}

// GraphURL is the Graph service root without the version (the
// https://graph.microsoft.com of the real service).
func (s *Server) GraphURL() string { return s.graph.URL }

// LoginURL is the identity platform's authority host (the
// https://login.microsoftonline.com of the real service).
func (s *Server) LoginURL() string { return s.login.URL }

// TenantID, ClientID and ClientSecret are the registered application's.
func (s *Server) TenantID() string { return s.tenant }

// ClientID is the registered application's client id.
func (s *Server) ClientID() string { return s.clientID }

// ClientSecret is the currently valid client secret.
func (s *Server) ClientSecret() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.secret
}

// Close stops both listeners.
func (s *Server) Close() {
	s.graph.Close()
	s.login.Close()
}

// AddUsers adds or replaces users by object id.
func (s *Server) AddUsers(users ...User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range users {
		if old, ok := s.users[u.ID]; ok {
			delete(s.byUPN, strings.ToLower(old.UserPrincipalName))
		}
		s.users[u.ID] = u
		s.byUPN[strings.ToLower(u.UserPrincipalName)] = u.ID
	}
}

// DeleteUsers removes users by object id.
func (s *Server) DeleteUsers(ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if old, ok := s.users[id]; ok {
			delete(s.byUPN, strings.ToLower(old.UserPrincipalName))
			delete(s.users, id)
		}
	}
}

// Requests returns what both listeners received, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Count returns how many received requests satisfy match (nil: all).
func (s *Server) Count(match func(Request) bool) int {
	n := 0
	for _, r := range s.Requests() {
		if match == nil || match(r) {
			n++
		}
	}
	return n
}

// Calls is the number of requests received so far, token requests
// included.
func (s *Server) Calls() int { return s.Count(nil) }

// Reset forgets received requests.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// guid is a random GUID-shaped string (request ids, trace ids).
func guid() string {
	h := newID()
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	if w.Header().Get("request-id") == "" {
		w.Header().Set("request-id", guid())
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers with Graph's error object.
func (s *Server) writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("request-id", guid())
	s.writeJSON(w, status, map[string]any{"error": map[string]any{
		"code": code, "message": message,
		"innerError": map[string]any{
			"date": s.now().UTC().Format("2006-01-02T15:04:05"), "request-id": w.Header().Get("request-id"), "client-request-id": guid(),
		},
	}})
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

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return w.ResponseWriter.(http.Hijacker).Hijack()
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, token bool) {
	idx := s.record(r, token)
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if idx < len(s.requests) {
			s.requests[idx].Status = sw.status
		}
	}()
	if token {
		if s.injectFault(sw, r, true, 0) {
			return
		}
		s.serveToken(sw, r)
		return
	}
	s.serveGraph(sw, r, idx)
}

func (s *Server) record(r *http.Request, token bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{
		Method: r.Method, Token: token, Path: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery, Query: r.URL.Query(),
		Authorization: r.Header.Get("Authorization"), At: s.now(),
	})
	return len(s.requests) - 1
}

func (s *Server) setPage(idx, page int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if idx < len(s.requests) {
		s.requests[idx].Page = page
	}
}

// authorize checks the bearer token: issued here, for Graph, unexpired.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		s.writeError(w, http.StatusUnauthorized, CodeInvalidToken, "Access token is empty.")
		return false
	}
	s.mu.Lock()
	expiry, issued := s.tokens[tok]
	denied := s.denied
	s.mu.Unlock()
	switch {
	case !issued:
		s.writeError(w, http.StatusUnauthorized, CodeInvalidToken, "Access token validation failure. Invalid audience.")
		return false
	case !s.now().Before(expiry):
		s.writeError(w, http.StatusUnauthorized, CodeInvalidToken, "Lifetime validation failed, the token is expired.")
		return false
	case denied:
		s.writeError(w, http.StatusForbidden, CodeDenied, "Insufficient privileges to complete the operation.")
		return false
	}
	return true
}

// serveGraph routes /v1.0/users, /v1.0/users/{key}, /v1.0/users('{key}')
// and /v1.0/users/{key}/manager.
func (s *Server) serveGraph(w http.ResponseWriter, r *http.Request, idx int) {
	path := r.URL.EscapedPath()
	rest, ok := strings.CutPrefix(path, "/v1.0/users")
	if !ok {
		if s.injectFault(w, r, false, 0) {
			return
		}
		s.writeError(w, http.StatusBadRequest, CodeBadRequest, "Resource not found for the segment '"+strings.TrimPrefix(path, "/")+"'.")
		return
	}
	if rest == "" || rest == "/" {
		page := s.pageOf(r.URL.Query())
		s.setPage(idx, page)
		if s.injectFault(w, r, false, page) {
			return
		}
		if !s.authorize(w, r) {
			return
		}
		if r.Method != http.MethodGet {
			s.writeError(w, http.StatusMethodNotAllowed, CodeBadRequest, "Method not allowed.")
			return
		}
		s.serveList(w, r)
		return
	}
	if s.injectFault(w, r, false, 0) {
		return
	}
	if !s.authorize(w, r) {
		return
	}
	if r.Method != http.MethodGet {
		s.writeError(w, http.StatusMethodNotAllowed, CodeBadRequest, "Method not allowed.")
		return
	}
	key, nav, err := userKey(rest)
	if err != nil {
		s.writeError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
		return
	}
	switch nav {
	case "":
		s.serveUser(w, r, key)
	case "manager":
		s.serveManager(w, r, key)
	default:
		s.writeError(w, http.StatusBadRequest, CodeBadRequest, "Resource not found for the segment '"+nav+"'.")
	}
}

// userKey reads the key segment after /users: "/{key}[/nav]" (percent-
// decoded) or "('{key}')[/nav]", the form "Get user" prescribes for a
// userPrincipalName that begins with $ ("the GET request URL syntax
// /users/$x@y.com fails with a 400 Bad Request ... use /users('$x@y.com')").
func userKey(rest string) (key, nav string, err error) {
	if inner, ok := strings.CutPrefix(rest, "("); ok {
		unescaped, err := url.PathUnescape(inner)
		if err != nil {
			return "", "", errBad("Invalid key.")
		}
		lit, tail, err := parseLiteral(unescaped)
		if err != nil || !strings.HasPrefix(tail, ")") {
			return "", "", errBad("Bad Request - Error in query syntax.")
		}
		return lit, strings.Trim(tail[1:], "/"), nil
	}
	segs := strings.Split(strings.TrimPrefix(rest, "/"), "/")
	if len(segs) > 2 {
		return "", "", errBad("Resource not found for the segment '" + segs[2] + "'.")
	}
	key, err = url.PathUnescape(segs[0])
	if err != nil {
		return "", "", errBad("Invalid key.")
	}
	if strings.HasPrefix(key, "$") {
		// "/users/$x@y.com fails with a 400 Bad Request": Graph reads a
		// leading $ as a system segment ($count, $ref...).
		return "", "", errBad("Unsupported segment type. ODataQuery: users/" + key)
	}
	if len(segs) == 2 {
		nav = segs[1]
	}
	return key, nav, nil
}

type errBad string

func (e errBad) Error() string { return string(e) }

// find looks a user up by object id or by userPrincipalName
// (case-insensitively), as /users/{id | userPrincipalName} does.
func (s *Server) find(key string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, u := range s.users {
		if strings.EqualFold(id, key) {
			return u, true
		}
	}
	if id, ok := s.byUPN[strings.ToLower(key)]; ok {
		return s.users[id], true
	}
	return User{}, false
}

func (s *Server) notFound(w http.ResponseWriter, key string) {
	s.writeError(w, http.StatusNotFound, CodeNotFound,
		"Resource '"+key+"' does not exist or one of its queried reference-property objects are not present.")
}

// selection parses $select (default: the default property set).
func (s *Server) selection(w http.ResponseWriter, q url.Values) ([]string, bool) {
	raw := q.Get("$select")
	if raw == "" {
		return defaultProperties, true
	}
	var out []string
	for _, name := range strings.Split(raw, ",") {
		p, ok := knownProperty(strings.TrimSpace(name))
		if !ok {
			s.writeError(w, http.StatusBadRequest, CodeBadRequest,
				"Parsing OData Select and Expand failed: Could not find a property named '"+strings.TrimSpace(name)+"' on type 'microsoft.graph.user'.")
			return nil, false
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, true
}

// expansion parses $expand: only manager, optionally with a nested
// $select (`manager($select=displayName,mail)`). Nil when absent.
func (s *Server) expansion(w http.ResponseWriter, q url.Values) (expand bool, managerSelect []string, ok bool) {
	raw := strings.TrimSpace(q.Get("$expand"))
	if raw == "" {
		return false, nil, true
	}
	name, opts, hasOpts := strings.Cut(raw, "(")
	if !strings.EqualFold(strings.TrimSpace(name), "manager") {
		s.writeError(w, http.StatusBadRequest, CodeBadRequest,
			"Parsing OData Select and Expand failed: Could not find a property named '"+name+"' on type 'microsoft.graph.user'.")
		return false, nil, false
	}
	if !hasOpts {
		return true, properties, true
	}
	opts, closed := strings.CutSuffix(opts, ")")
	sel, found := strings.CutPrefix(strings.TrimSpace(opts), "$select=")
	if !closed || !found {
		s.writeError(w, http.StatusBadRequest, CodeBadRequest, "Parsing OData Select and Expand failed: syntax error in "+raw)
		return false, nil, false
	}
	sub, ok := s.selection(w, url.Values{"$select": {sel}})
	return true, sub, ok
}

func (s *Server) serveUser(w http.ResponseWriter, r *http.Request, key string) {
	q := r.URL.Query()
	sel, ok := s.selection(w, q)
	if !ok {
		return
	}
	expand, managerSel, ok := s.expansion(w, q)
	if !ok {
		return
	}
	u, found := s.find(key)
	if !found {
		s.notFound(w, key)
		return
	}
	body := u.render(sel)
	body["@odata.context"] = s.GraphURL() + "/v1.0/$metadata#users(" + strings.Join(sel, ",") + ")/$entity"
	if expand {
		s.addManager(body, u, managerSel)
	}
	s.writeJSON(w, http.StatusOK, body)
}

// addManager expands the manager into body, as $expand=manager does
// (absent when none is assigned).
func (s *Server) addManager(body map[string]any, u User, sel []string) {
	if u.ManagerID == "" {
		return
	}
	if m, ok := s.find(u.ManagerID); ok {
		mb := m.render(sel)
		mb["@odata.type"] = "#microsoft.graph.user"
		body["manager"] = mb
	}
}

// serveManager is GET /users/{key}/manager: the manager as a
// directoryObject, 404 when none is assigned ("List manager").
func (s *Server) serveManager(w http.ResponseWriter, r *http.Request, key string) {
	sel, ok := s.selection(w, r.URL.Query())
	if !ok {
		return
	}
	u, found := s.find(key)
	if !found {
		s.notFound(w, key)
		return
	}
	m, found := s.find(u.ManagerID)
	if u.ManagerID == "" || !found {
		s.notFound(w, "manager")
		return
	}
	body := m.render(sel)
	body["@odata.context"] = s.GraphURL() + "/v1.0/$metadata#directoryObjects(" + strings.Join(sel, ",") + ")/$entity"
	body["@odata.type"] = "#microsoft.graph.user"
	s.writeJSON(w, http.StatusOK, body)
}

// Page sizes of GET /users ("List users": "The default and maximum page
// sizes are 100 and 999 user objects respectively"), and the known issue
// that $expand on directory objects returns at most 100 objects a page
// (Microsoft Graph known issues, "$expand ... returns a maximum of 100
// objects").
const (
	defaultPageSize = 100
	maxPageSize     = 999
	maxExpandedPage = 100
)

// listQuery is the part of a listing's query string a $skiptoken belongs
// to: every parameter but the token itself, canonically ordered.
func listQuery(q url.Values) string {
	c := url.Values{}
	for k, v := range q {
		if k != "$skiptoken" {
			c[k] = v
		}
	}
	return c.Encode()
}

// pageOf is the 1-based page a listing request asks for (for page faults).
func (s *Server) pageOf(q url.Values) int {
	tok := q.Get("$skiptoken")
	if tok == "" {
		return 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.pages[tok]
	if !ok {
		return 0
	}
	top := pageSizeOf(q)
	return st.offset/top + 1
}

func pageSizeOf(q url.Values) int {
	top := defaultPageSize
	if n, err := strconv.Atoi(q.Get("$top")); err == nil && n >= 1 && n <= maxPageSize {
		top = n
	}
	if q.Get("$expand") != "" {
		top = min(top, maxExpandedPage)
	}
	return top
}

// SetNextLinkBase makes the server write its @odata.nextLink URLs with
// base (scheme and host) instead of its own: a nextLink to a foreign host,
// which a client must refuse to follow with its token.
func (s *Server) SetNextLinkBase(base string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextBase = base
}

// serveList is GET /users with $filter, $select, $top, $expand and
// $skiptoken. Users come in object-id order.
func (s *Server) serveList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Has("$skip") {
		s.writeError(w, http.StatusBadRequest, CodeUnsupported, "'$skip' is not supported by the service.")
		return
	}
	if v := q.Get("$top"); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > maxPageSize {
			s.writeError(w, http.StatusBadRequest, CodeInvalidPageSize, "Invalid page size specified: '"+v+"'. Must be between 1 and 999 inclusive.")
			return
		}
	}
	sel, ok := s.selection(w, q)
	if !ok {
		return
	}
	expand, managerSel, ok := s.expansion(w, q)
	if !ok {
		return
	}
	match := func(User) bool { return true }
	if expr := q.Get("$filter"); expr != "" {
		f, err := ParseFilter(expr)
		switch {
		case err == ErrUnsupportedFilter:
			s.writeError(w, http.StatusBadRequest, CodeUnsupported, "Unsupported or invalid query filter clause specified: "+expr)
			return
		case err != nil:
			s.writeError(w, http.StatusBadRequest, CodeBadRequest, "Invalid filter clause: "+err.Error())
			return
		}
		match = f.Match
	}
	top := pageSizeOf(q)
	offset := 0
	if tok := q.Get("$skiptoken"); tok != "" {
		s.mu.Lock()
		st, known := s.pages[tok]
		s.mu.Unlock()
		if !known || st.query != listQuery(q) {
			// The token is opaque and bound to the request it came with:
			// "Don't try to extract the $skiptoken ... value and use it in a
			// different request" (Paging Microsoft Graph data).
			s.writeError(w, http.StatusBadRequest, CodeBadRequest, "The specified page token value has expired or is invalid.")
			return
		}
		offset = st.offset
	}

	s.mu.Lock()
	all := make([]User, 0, len(s.users))
	for _, u := range s.users {
		all = append(all, u)
	}
	nextBase := s.nextBase
	s.mu.Unlock()
	slices.SortFunc(all, func(a, b User) int { return strings.Compare(a.ID, b.ID) })
	var matched []User
	for _, u := range all {
		if match(u) {
			matched = append(matched, u)
		}
	}
	page := []map[string]any{}
	for _, u := range matched[min(offset, len(matched)):min(offset+top, len(matched))] {
		body := u.render(sel)
		if expand {
			s.addManager(body, u, managerSel)
		}
		page = append(page, body)
	}
	out := map[string]any{
		"@odata.context": s.GraphURL() + "/v1.0/$metadata#users(" + strings.Join(sel, ",") + ")",
		"value":          page,
	}
	if offset+top < len(matched) {
		tok := "RFNwdAIAAQAAA" + newID()
		s.mu.Lock()
		s.pages[tok] = pageState{offset: offset + top, query: listQuery(q)}
		s.mu.Unlock()
		next := url.Values{}
		for k, v := range q {
			next[k] = v
		}
		next.Set("$skiptoken", tok)
		base := s.GraphURL()
		if nextBase != "" {
			base = nextBase
		}
		out["@odata.nextLink"] = base + "/v1.0/users?" + EncodeQuery(next)
	}
	s.writeJSON(w, http.StatusOK, out)
}

// EncodeQuery renders query parameters as Graph writes them: system
// query option names keep their $, values are percent-encoded (spaces as
// %20, as "Use query parameters" asks: values "should be percent-encoded as
// per RFC 3986"), keys in sorted order.
func EncodeQuery(q url.Values) string {
	keys := slices.Sorted(maps.Keys(q))
	var b strings.Builder
	for _, k := range keys {
		for _, v := range q[k] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(strings.ReplaceAll(url.QueryEscape(k), "%24", "$"))
			b.WriteByte('=')
			b.WriteString(strings.ReplaceAll(url.QueryEscape(v), "+", "%20"))
		}
	}
	return b.String()
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
