package handlers

import (
	"time"

	"github.com/gin-gonic/gin"
)

const ctxState = "usersvc.request"

// requestState is what the middleware learns about a request, kept in one
// value under one key: every gin Set boxes its value, an allocation per key
// per request on the hot path.
type requestState struct {
	id string
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

// stateOf returns the request's state (an empty one outside the chain).
func stateOf(c *gin.Context) *requestState {
	if v, ok := c.Get(ctxState); ok {
		if st, ok := v.(*requestState); ok {
			return st
		}
	}
	st := &requestState{}
	c.Set(ctxState, st)
	return st
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
