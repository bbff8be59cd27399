package handlers

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/usersvc/usersvc/schema"
)

// probeTimeout bounds each dependency probe so a hung backend turns into a
// failed check instead of a hung health route.
const probeTimeout = 2 * time.Second

type checkResult struct {
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

type healthBody struct {
	Status string                 `json:"status"`
	Checks map[string]checkResult `json:"checks"`
}

func runChecks(ctx context.Context, checks []Check) (healthBody, bool) {
	body := healthBody{Status: "ok", Checks: make(map[string]checkResult, len(checks))}
	healthy := true
	for _, chk := range checks {
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		err := chk.Probe(pctx)
		cancel()
		if err != nil {
			healthy = false
			msg := "unavailable"
			var e *schema.Error
			if errors.As(err, &e) {
				msg = e.Message
			}
			body.Checks[chk.Name] = checkResult{Status: "fail", Message: msg}
			continue
		}
		body.Checks[chk.Name] = checkResult{Status: "ok"}
	}
	if !healthy {
		body.Status = "fail"
	}
	return body, healthy
}

func (s *server) respondChecks(c *gin.Context, checks []Check) {
	body, healthy := runChecks(c.Request.Context(), checks)
	status := http.StatusOK
	if !healthy {
		status = http.StatusServiceUnavailable
	}
	c.JSON(status, body)
}

// healthcheck is Amundsen's /healthcheck: the store must answer.
func (s *server) healthcheck(c *gin.Context) { s.respondChecks(c, s.health) }

// readyz gates traffic: store reachable and auth keys loaded.
func (s *server) readyz(c *gin.Context) { s.respondChecks(c, s.ready) }

// livez says only that the process serves HTTP.
func (s *server) livez(c *gin.Context) {
	c.JSON(http.StatusOK, healthBody{Status: "ok", Checks: map[string]checkResult{}})
}
