package handlers

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
)

const (
	ctxState = "usersvc.request"
	// maxLoggedPath keeps a hostile 4 KiB path from flooding the logs.
	maxLoggedPath = 256
)

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
	// user is the parsed /user/<id>... path, when isUser.
	user   userRequest
	isUser bool
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

func requestID(c *gin.Context) string { return stateOf(c).id }

// requestIDs generates request ids: a random prefix drawn once per process
// (so ids from different replicas do not collide) and a counter, which
// costs no system call per request, unlike reading crypto/rand each time.
type requestIDs struct {
	prefix string
	next   atomic.Uint64
}

func newRequestIDs() *requestIDs {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &requestIDs{prefix: hex.EncodeToString(b[:])}
}

// id is 32 hex digits: the prefix and the counter.
func (g *requestIDs) id() string {
	var buf [32]byte
	copy(buf[:16], g.prefix)
	n := g.next.Add(1)
	for i := 31; i >= 16; i-- {
		buf[i] = hexDigits[n&0xF]
		n >>= 4
	}
	return string(buf[:])
}

const hexDigits = "0123456789abcdef"

// withRequestID honours a well-formed X-Request-Id from the caller (so traces
// join up across services) and otherwise generates one.
func withRequestID(ids *requestIDs) gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader("X-Request-Id")
		if !validRequestID(id) {
			id = ids.id()
		}
		st := &requestState{id: id, idHeader: [1]string{id}}
		c.Set(ctxState, st)
		c.Writer.Header()["X-Request-Id"] = st.idHeader[:]
		c.Next()
	}
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
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

// logRequests writes one access record per request through access. Query
// strings are never logged: flaskoidc-era clients may put tokens there.
func logRequests(access AccessLog) gin.HandlerFunc {
	return func(c *gin.Context) {
		st := stateOf(c)
		start := st.start
		if start.IsZero() {
			start = time.Now()
		}
		c.Next()
		// The end time serves as the record's time, for its duration and the
		// latency metric.
		end := time.Now()
		st.end = end
		status := c.Writer.Status()
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		ctx := c.Request.Context()
		if !access.Enabled(ctx, level) {
			return
		}
		path := c.Request.URL.Path
		if len(path) > maxLoggedPath {
			path = path[:maxLoggedPath] + "…"
		}
		access.LogRequest(ctx, AccessRecord{
			Time:      end,
			Level:     level,
			Method:    c.Request.Method,
			Route:     routeOf(c),
			Path:      path,
			Status:    status,
			Duration:  end.Sub(start),
			Bytes:     c.Writer.Size(),
			RequestID: requestID(c),
		})
	}
}

// recoverPanics turns a panic into a logged 500 JSON answer.
func recoverPanics(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.ErrorContext(c.Request.Context(), "panic while serving request",
					"panic", p, "route", routeOf(c), "request_id", requestID(c), "stack", string(debug.Stack()))
				if !c.Writer.Written() {
					abortJSON(c, http.StatusInternalServerError, "internal server error")
				} else {
					c.Abort()
				}
			}
		}()
		c.Next()
	}
}

// Shared header values: net/http never modifies them, so one slice serves
// every response.
var (
	nosniff = []string{"nosniff"}
	noStore = []string{"no-store"}
)

// securityHeaders marks every answer as JSON that must not be sniffed or
// cached: user records are personal data.
func securityHeaders() gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h["X-Content-Type-Options"] = nosniff
		h["Cache-Control"] = noStore
		c.Next()
	}
}
