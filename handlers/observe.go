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

// knownMethods bounds the method label: anything else is "OTHER".
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

func methodLabel(m string) string {
	if knownMethods[m] {
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
