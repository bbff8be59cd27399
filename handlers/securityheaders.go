package handlers

import "github.com/gin-gonic/gin"

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
