package handlers

import (
	"time"

	"github.com/gin-gonic/gin"

	"github.com/usersvc/usersvc/schema"
)

type stateKey struct{}

// requestState is what the middleware learns about a request. It is the
// request's context itself (carrying the schema.Caller too), so the whole
// chain costs one allocation and one http.Request copy: gin's Set would
// allocate its Keys map on every request, and the principal and client
// address would each take a context.WithValue and another request copy.
type requestState struct {
	schema.CallerContext

	id string
	// idBuf holds a generated id, so the id string needs no allocation of
	// its own.
	idBuf [32]byte
	// idHeader backs the X-Request-Id header value: one allocation less.
	idHeader [1]string
	// route is the route template, set by the classifiers of catch-all
	// paths, so logs and metrics never group by raw ids; empty: gin's.
	route string
	// user is the parsed /user/<id>... path, when userRoute is set: the
	// pattern of userRouteTable that serves it.
	user      userRequest
	userRoute *userPattern
	// start and end bound the request, read once by the outermost timing
	// middleware (observeRequests) and the access log.
	start, end time.Time
}

// Value answers stateKey with the state itself, any other key as the
// CallerContext does.
func (st *requestState) Value(key any) any {
	if key == (stateKey{}) {
		return st
	}
	return st.CallerContext.Value(key)
}

// attachState makes a new state the context of c's request.
func attachState(c *gin.Context) *requestState {
	st := &requestState{}
	st.Context = c.Request.Context()
	c.Request = c.Request.WithContext(st)
	return st
}

// stateOf returns the request's state (a new one outside the chain).
func stateOf(c *gin.Context) *requestState {
	ctx := c.Request.Context()
	if st, ok := ctx.(*requestState); ok {
		return st
	}
	if st, ok := ctx.Value(stateKey{}).(*requestState); ok {
		return st
	}
	return attachState(c)
}

// routeOf returns the route template of the request for logs and metrics.
func routeOf(c *gin.Context) string {
	if r := stateOf(c).route; r != "" {
		return r
	}
	if p := c.FullPath(); p != "" {
		return p
	}
	return "unmatched"
}
