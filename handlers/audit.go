package handlers

import (
	"log/slog"

	"github.com/gin-gonic/gin"

	"github.com/usersvc/usersvc/schema"
)

// audit writes one audit record for a change made through the API: who did
// what to which key, and how it ended.
func (s *server) audit(c *gin.Context, event, key, outcome string, attrs ...slog.Attr) {
	actor := "anonymous"
	if p, ok := schema.PrincipalFrom(c.Request.Context()); ok {
		actor = p.Subject
	}
	all := append([]slog.Attr{
		slog.Bool("audit", true),
		slog.String("event", event),
		slog.String("actor", actor),
		slog.String("key", key),
		slog.String("source", "api"),
		slog.String("outcome", outcome),
		slog.String("request_id", requestID(c)),
	}, attrs...)
	s.log.LogAttrs(c.Request.Context(), slog.LevelInfo, "audit", all...)
}
