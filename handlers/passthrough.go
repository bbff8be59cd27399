package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"time"

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

// MsgUserPathNotCanonical answers a request that would reach the upstream's
// own user routes only once its path is decoded or normalised.
const MsgUserPathNotCanonical = "request path reaches the user API only after decoding or normalisation; send it as /user/..."

// passThrough forwards an authenticated request to the upstream. Our own
// JSON answer headers are dropped so the upstream's come back unchanged;
// the request id goes along so traces join up.
func (s *server) passThrough(c *gin.Context) {
	raw, _, _ := strings.Cut(c.Request.RequestURI, "?")
	if reachesUserAPI(raw) {
		// Werkzeug decodes %2F and merges slashes before it routes, so the
		// upstream would answer these with Amundsen's own /user routes:
		// no write policy, no one-node resolution, no audit record.
		abortJSON(c, http.StatusBadRequest, MsgUserPathNotCanonical)
		return
	}
	// The server's WriteTimeout bounds usersvc's own answers; a forwarded
	// transfer is bounded by UPSTREAM_TIMEOUT between bytes instead, so a
	// long download is not cut while it still flows.
	_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Time{})
	h := c.Writer.Header()
	h.Del("Cache-Control")
	h.Del("X-Content-Type-Options")
	c.Request.Header["X-Request-Id"] = []string{requestID(c)}
	s.upstream.ServeHTTP(c.Writer, c.Request)
	switch c.Request.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		// Also after a failed or cut answer: the upstream may have
		// written before it failed.
		s.upstreamWrote()
	}
	c.Abort()
}

// reachesUserAPI reports whether a raw request path names the /user
// namespace once a server or proxy behind usersvc has interpreted it in any
// of the usual ways: percent-decoded once (WSGI servers decode %2F into
// PATH_INFO), backslashes read as slashes, repeated slashes merged, dot
// segments resolved (RFC 3986 §5.2.4), and case folded. The upstream may do
// fewer of these; assuming all of them refuses a superset.
func reachesUserAPI(raw string) bool {
	path := raw
	if strings.IndexByte(path, '%') >= 0 {
		if p, err := url.PathUnescape(path); err == nil {
			path = p
		}
	}
	path = strings.ReplaceAll(path, "\\", "/")
	var segs []string
	for seg := range strings.SplitSeq(path, "/") {
		switch seg {
		case "", ".":
		case "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
		default:
			segs = append(segs, seg)
		}
	}
	return len(segs) > 0 && strings.EqualFold(segs[0], "user")
}

// notFound answers unknown routes when no upstream is configured.
func notFound(c *gin.Context) { abortJSON(c, http.StatusNotFound, "not found") }
