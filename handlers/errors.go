package handlers

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/usersvc/usersvc/schema"
)

// statusOf is the one mapping from error kinds to HTTP statuses.
func statusOf(kind schema.ErrorKind) int {
	switch kind {
	case schema.KindInvalid:
		return http.StatusBadRequest
	case schema.KindNotFound:
		return http.StatusNotFound
	case schema.KindConflict:
		return http.StatusConflict
	case schema.KindTooLarge:
		return http.StatusRequestEntityTooLarge
	case schema.KindUnauthorized:
		return http.StatusUnauthorized
	case schema.KindForbidden:
		return http.StatusForbidden
	case schema.KindUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// message is the body of every error response.
type message struct {
	Message string `json:"message"`
}

// respondError writes err as {"message": ...} with the status of its kind.
// Unclassified errors are logged and answered with a generic 500 so that no
// internal detail reaches the caller.
func respondError(c *gin.Context, log *slog.Logger, err error) {
	var e *schema.Error
	if !errors.As(err, &e) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			// The caller went away or our own deadline hit: a dependency did
			// not answer in time, which is not the caller's fault.
			e = schema.Unavailable("the request could not be completed in time", 0, err)
		} else {
			log.ErrorContext(c.Request.Context(), "request failed", "error", err, "request_id", requestID(c))
			abortJSON(c, http.StatusInternalServerError, "internal server error")
			return
		}
	}
	status := statusOf(e.Kind)
	if status >= 500 {
		log.WarnContext(c.Request.Context(), "dependency failure", "error", err, "kind", e.Kind.String(), "request_id", requestID(c))
	}
	if e.Kind == schema.KindUnavailable {
		c.Header("Retry-After", strconv.Itoa(retryAfterSeconds(e)))
	}
	abortJSON(c, status, e.Message)
}

func retryAfterSeconds(e *schema.Error) int {
	if e.RetryAfter <= 0 {
		return 1
	}
	return int(math.Ceil(e.RetryAfter.Seconds()))
}

func abortJSON(c *gin.Context, status int, msg string) {
	c.AbortWithStatusJSON(status, message{Message: msg})
}
