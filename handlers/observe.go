package handlers

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// Observer is told what the HTTP layer does, for metrics. Labels it receives
// are bounded: route templates, never raw paths or ids.
type Observer interface {
	RequestStarted()
	RequestFinished(route, method string, status int, elapsed time.Duration)
	AuthOutcome(outcome string)
	UserWritten(source string, created bool)
}

type noObserver struct{}

func (noObserver) RequestStarted()                                    {}
func (noObserver) RequestFinished(string, string, int, time.Duration) {}
func (noObserver) AuthOutcome(string)                                 {}
func (noObserver) UserWritten(string, bool)                           {}

// methodLabel bounds the method label: anything but the known methods is
// "OTHER". A switch, not a map: it runs for every request.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

// observeRequests reports every request to the observer. The clock is read
// once at each end and shared with the access log (requestState), so a
// request's latency metric and its log record agree.
func (s *server) observeRequests(c *gin.Context) {
	st := stateOf(c)
	st.start = time.Now()
	s.obs.RequestStarted()
	defer func() {
		end := st.end
		if end.IsZero() { // the access log did not run (a panic above it)
			end = time.Now()
		}
		s.obs.RequestFinished(routeOf(c), methodLabel(c.Request.Method), c.Writer.Status(), end.Sub(st.start))
	}()
	c.Next()
}
