package handlers

import (
	"context"
	"errors"
	"net/http"
	"slices"
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

// runChecks probes every check; only the gating ones decide healthy, the
// reported ones (the upstream) are shown beside them.
func runChecks(ctx context.Context, gating, reported []Check) (healthBody, bool) {
	body := healthBody{Status: "ok", Checks: make(map[string]checkResult, len(gating)+len(reported))}
	healthy := true
	for i, chk := range append(append([]Check{}, gating...), reported...) {
		res := probe(ctx, chk)
		body.Checks[chk.Name] = res
		if res.Status != "ok" && i < len(gating) {
			healthy = false
		}
	}
	if !healthy {
		body.Status = "fail"
	}
	return body, healthy
}

func probe(ctx context.Context, chk Check) checkResult {
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	err := chk.Probe(pctx)
	if err == nil {
		return checkResult{Status: "ok"}
	}
	msg := "unavailable"
	var e *schema.Error
	if errors.As(err, &e) {
		msg = e.Message
	}
	return checkResult{Status: "fail", Message: msg}
}

func (s *server) respondChecks(c *gin.Context, gating, reported []Check) {
	body, healthy := runChecks(c.Request.Context(), gating, reported)
	status := http.StatusOK
	if !healthy {
		status = http.StatusServiceUnavailable
	}
	c.JSON(status, body)
}

// healthcheck is Amundsen's /healthcheck: the store must answer; the
// upstream's reachability is shown but never fails it, since the user routes
// work without the upstream.
func (s *server) healthcheck(c *gin.Context) {
	s.respondChecks(c, s.health, append(slices.Clip(s.reported), s.advisory...))
}

// readyz gates traffic: store reachable and auth keys loaded; the advisory
// checks are shown beside them.
func (s *server) readyz(c *gin.Context) { s.respondChecks(c, s.ready, s.advisory) }

// livez says only that the process serves HTTP.
func (s *server) livez(c *gin.Context) {
	c.JSON(http.StatusOK, healthBody{Status: "ok", Checks: map[string]checkResult{}})
}
