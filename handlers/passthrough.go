package handlers

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// routeUpstream labels every request passed through to the metadata
// upstream, so raw paths never become metric labels.
const routeUpstream = "upstream"

// ownPaths are the routes usersvc answers itself: every path registered on
// the engine, and everything under /user/ (the catch-all). It is built from
// the engine so the two can never disagree.
type ownPaths struct {
	exact    map[string]bool
	prefixes []string
}

func newOwnPaths(engine *gin.Engine) ownPaths {
	own := ownPaths{exact: map[string]bool{}}
	for _, r := range engine.Routes() {
		if prefix, ok := strings.CutSuffix(r.Path, "*path"); ok {
			own.prefixes = append(own.prefixes, prefix)
			continue
		}
		own.exact[r.Path] = true
	}
	return own
}

// owns reports whether path (decoded, as gin routes it) is one of ours.
func (o ownPaths) owns(path string) bool {
	if o.exact[path] {
		return true
	}
	for _, p := range o.prefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// classifyUpstream marks requests for paths usersvc does not own, before
// metrics, logs and authentication see them.
func (s *server) classifyUpstream(c *gin.Context) {
	if s.upstream != nil && !s.own.owns(c.Request.URL.Path) {
		stateOf(c).route = routeUpstream
	}
	c.Next()
}

// passThrough forwards an authenticated request to the upstream. Our own
// JSON answer headers are dropped so the upstream's come back unchanged;
// the request id goes along so traces join up.
func (s *server) passThrough(c *gin.Context) {
	h := c.Writer.Header()
	h.Del("Cache-Control")
	h.Del("X-Content-Type-Options")
	c.Request.Header["X-Request-Id"] = []string{requestID(c)}
	s.upstream.ServeHTTP(c.Writer, c.Request)
	c.Abort()
}

// notFound answers unknown routes when no upstream is configured.
func notFound(c *gin.Context) { abortJSON(c, http.StatusNotFound, "not found") }
