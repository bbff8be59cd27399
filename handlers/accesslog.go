package handlers

import (
	"context"
	"log/slog"
	"time"

	"github.com/gin-gonic/gin"
)

// AccessRecord is the access-log record of one request: the "request"
// message with these attributes, in this order.
type AccessRecord struct {
	Time      time.Time
	Level     slog.Level
	Method    string
	Route     string
	Path      string
	Status    int
	Duration  time.Duration
	Bytes     int
	RequestID string
}

// AccessLog writes one record per request (Deps.AccessLog). The default
// hands each record to the slog handler of Deps.Logger; cmd/usersvc has a
// cheaper writer with the same output for JSON logs.
type AccessLog interface {
	Enabled(ctx context.Context, level slog.Level) bool
	LogRequest(ctx context.Context, r AccessRecord)
}

// SlogAccessLog writes access records through a slog handler.
type SlogAccessLog struct{ Handler slog.Handler }

// Enabled reports whether the handler takes records at level.
func (l SlogAccessLog) Enabled(ctx context.Context, level slog.Level) bool {
	return l.Handler.Enabled(ctx, level)
}

// LogRequest builds the slog record itself: Logger.LogAttrs would also walk
// the stack (runtime.Callers) for a source location this record never shows.
func (l SlogAccessLog) LogRequest(ctx context.Context, a AccessRecord) {
	r := slog.NewRecord(a.Time, a.Level, "request", 0)
	r.AddAttrs(
		slog.String("method", a.Method),
		slog.String("route", a.Route),
		slog.String("path", a.Path),
		slog.Int("status", a.Status),
		slog.Duration("duration", a.Duration),
		slog.Int("bytes", a.Bytes),
		slog.String("request_id", a.RequestID),
	)
	_ = l.Handler.Handle(ctx, r)
}

// maxLoggedPath keeps a hostile 4 KiB path from flooding the logs.
const maxLoggedPath = 256

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
