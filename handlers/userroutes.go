package handlers

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/usersvc/usersvc/schema"
)

// Everything under /user/ is routed here, not by gin: resource keys hold
// "//" and "/" (hive://gold.schema/table) and arrive unencoded, and an id
// may hold %2F, which must not split it. gin's named parameters stop at the
// first "/" of the decoded path, so they can route neither. gin hands these
// paths to one catch-all, and userRouteTable routes them from the escaped
// path; the engine must leave such paths as they came (see New).
const userCatchAll = "/user/*path"

// userRoute is one route under the catch-all. Its pattern, in gin syntax, is
// the route's label in logs and metrics and what Routes reports.
type userRoute struct {
	method  string
	pattern string
	handle  func(s *server, c *gin.Context, req userRequest)
}

// userRouteTable is every route under the catch-all: dispatch, the Allow
// header of a 405, the route labels and Routes all come from it. A pattern's
// methods are listed in the order the Allow header names them.
var userRouteTable = []userRoute{
	{http.MethodGet, "/user/:id", (*server).getUser},
	{http.MethodGet, "/user/:id/follow/", (*server).getResources},
	{http.MethodPut, "/user/:id/follow/:type/*key", (*server).writeRelation},
	{http.MethodDelete, "/user/:id/follow/:type/*key", (*server).writeRelation},
	{http.MethodGet, "/user/:id/own/", (*server).getResources},
	{http.MethodPut, "/user/:id/own/:type/*key", (*server).writeRelation},
	{http.MethodDelete, "/user/:id/own/:type/*key", (*server).writeRelation},
	{http.MethodGet, "/user/:id/read/", (*server).getReads},
}

// userRequest is a parsed /user/<id>/... path.
type userRequest struct {
	id       string
	rel      schema.Relation // empty: the user itself
	resource string          // raw type segment; empty when listing
	key      string
	hasKey   bool
}

// parseUserPath splits the escaped path after "/user/" into the id, the
// relation and the resource; the resource key is the whole remainder.
func parseUserPath(escaped string) (userRequest, bool) {
	idPart, rest, hasRest := strings.Cut(escaped, "/")
	id, err := url.PathUnescape(idPart)
	if err != nil {
		return userRequest{}, false
	}
	req := userRequest{id: id}
	if !hasRest || rest == "" {
		return req, true
	}
	relPart, rest, hasRest := strings.Cut(rest, "/")
	switch schema.Relation(relPart) {
	case schema.Follow, schema.Own, schema.Read:
		req.rel = schema.Relation(relPart)
	default:
		return userRequest{}, false
	}
	if !hasRest || rest == "" {
		return req, true
	}
	if req.rel == schema.Read {
		return userRequest{}, false
	}
	typePart, keyPart, _ := strings.Cut(rest, "/")
	if req.resource, err = url.PathUnescape(typePart); err != nil {
		return userRequest{}, false
	}
	if req.key, err = url.PathUnescape(keyPart); err != nil {
		return userRequest{}, false
	}
	req.hasKey = true
	return req, true
}

// userShape is what parseUserPath tells apart: paths of one shape are
// served by one pattern.
type userShape struct {
	rel    schema.Relation
	hasKey bool
}

func (r userRequest) shape() userShape { return userShape{rel: r.rel, hasKey: r.hasKey} }

// userPattern is one pattern of the table with the rows that serve it.
type userPattern struct {
	pattern string
	shape   userShape
	allow   string // the Allow header of a 405
	routes  []userRoute
}

// handler is the pattern's handler for method; nil: not allowed.
func (p *userPattern) handler(method string) func(*server, *gin.Context, userRequest) {
	for i := range p.routes {
		if p.routes[i].method == method {
			return p.routes[i].handle
		}
	}
	return nil
}

// userRouter is the table grouped by pattern.
type userRouter struct {
	patterns []userPattern
	methods  []string // every method of the table, in table order
}

// newUserRouter groups table by pattern. A pattern is parsed by the same
// parser as the paths it serves, which gives its shape: a pattern the parser
// cannot read, or two patterns of one shape, are mistakes in the table.
func newUserRouter(table []userRoute) *userRouter {
	u := &userRouter{}
	index := map[string]int{}
	for _, r := range table {
		i, ok := index[r.pattern]
		if !ok {
			tail, under := strings.CutPrefix(r.pattern, "/user/")
			req, parsed := parseUserPath(tail)
			if !under || !parsed {
				panic("handlers: user route pattern " + r.pattern + " does not parse")
			}
			if u.match(req) != nil {
				panic("handlers: user route pattern " + r.pattern + " has the shape of another")
			}
			i = len(u.patterns)
			index[r.pattern] = i
			u.patterns = append(u.patterns, userPattern{pattern: r.pattern, shape: req.shape()})
		}
		p := &u.patterns[i]
		p.routes = append(p.routes, r)
		if p.allow != "" {
			p.allow += ", "
		}
		p.allow += r.method
		if !slices.Contains(u.methods, r.method) {
			u.methods = append(u.methods, r.method)
		}
	}
	return u
}

// match is the pattern that serves req; nil: none.
func (u *userRouter) match(req userRequest) *userPattern {
	shape := req.shape()
	for i := range u.patterns {
		if u.patterns[i].shape == shape {
			return &u.patterns[i]
		}
	}
	return nil
}

// classifyRoute names the route template of a request before anything else
// runs, so logs and metrics label even refused requests by template. Paths
// under the /user/*path catch-all are parsed once, here.
func (s *server) classifyRoute(c *gin.Context) {
	if c.FullPath() == userCatchAll {
		if req, ok := parseUserPath(strings.TrimPrefix(c.Request.URL.EscapedPath(), "/user/")); ok {
			if p := s.userRoutes.match(req); p != nil {
				st := stateOf(c)
				st.user, st.userRoute, st.route = req, p, p.pattern
			}
		}
	}
	c.Next()
}

// userPath dispatches every /user/<id>... route.
func (s *server) userPath(c *gin.Context) {
	st := stateOf(c)
	if st.userRoute == nil {
		abortJSON(c, http.StatusNotFound, "not found")
		return
	}
	req := st.user

	handle := st.userRoute.handler(c.Request.Method)
	if handle == nil {
		c.Header("Allow", st.userRoute.allow)
		abortJSON(c, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if err := schema.CheckID("user_id", req.id); err != nil {
		respondError(c, s.log, err)
		return
	}
	handle(s, c, req)
}
