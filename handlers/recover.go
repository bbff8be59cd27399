package handlers

import (
	"log/slog"
	"net/http"
	"runtime/debug"

	"github.com/gin-gonic/gin"
)

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
