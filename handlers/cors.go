package handlers

import (
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
)

// corsPolicy answers browsers calling from other origins. With no allowed
// origins it does nothing at all: CORS is off unless configured.
type corsPolicy struct {
	origins []string // exact origins, or "*"
}

func (p corsPolicy) allows(origin string) bool {
	return origin != "" && (slices.Contains(p.origins, "*") || slices.Contains(p.origins, origin))
}

var (
	corsMethods = []string{"GET, HEAD, PUT, DELETE"}
	corsHeaders = []string{"Authorization, Content-Type, X-Request-Id"}
	corsExpose  = []string{"X-Request-Id, Retry-After, WWW-Authenticate"}
	corsMaxAge  = []string{"600"}
	varyOrigin  = []string{"Origin"}
)

// handle runs before authentication: a preflight carries no credentials.
// Bearer tokens are not cookies, so credentials are never allowed.
func (p corsPolicy) handle(c *gin.Context) {
	if len(p.origins) == 0 {
		c.Next()
		return
	}
	h := c.Writer.Header()
	h["Vary"] = varyOrigin
	var origin string
	if v := c.Request.Header["Origin"]; len(v) > 0 { // canonical key: no canonicalising
		origin = v[0]
	}
	if !p.allows(origin) {
		c.Next()
		return
	}
	h["Access-Control-Allow-Origin"] = []string{origin}
	h["Access-Control-Expose-Headers"] = corsExpose
	if c.Request.Method == http.MethodOptions && c.GetHeader("Access-Control-Request-Method") != "" {
		h["Access-Control-Allow-Methods"] = corsMethods
		h["Access-Control-Allow-Headers"] = corsHeaders
		h["Access-Control-Max-Age"] = corsMaxAge
		c.AbortWithStatus(http.StatusNoContent)
		return
	}
	c.Next()
}

// parseOrigins normalises configured origins (scheme://host[:port], no
// trailing slash).
func parseOrigins(origins []string) []string {
	var out []string
	for _, o := range origins {
		if o = strings.TrimRight(strings.TrimSpace(o), "/"); o != "" {
			out = append(out, o)
		}
	}
	return out
}
