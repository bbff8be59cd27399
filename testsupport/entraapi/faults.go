package entraapi

import (
	"math"
	"net/http"
	"strconv"
	"time"
)

// Fault is how the server breaks a request.
type Fault struct {
	// Status is the answer's status (429, 503, 500...); Graph's error
	// object comes with it.
	Status int
	// RetryAfter, when positive, is sent as Retry-After in whole seconds
	// (rounded up), as Graph sends it with 429 and some 503s ("Microsoft
	// Graph throttling guidance": "a suggested wait time is returned in the
	// response header of the failed request").
	RetryAfter time.Duration
	// Drop closes the connection without answering (Status is ignored).
	Drop bool
}

// Throttled is a 429 with a Retry-After.
func Throttled(retryAfter time.Duration) Fault {
	return Fault{Status: http.StatusTooManyRequests, RetryAfter: retryAfter}
}

// Unavailable is a 503 without a Retry-After.
func Unavailable() Fault { return Fault{Status: http.StatusServiceUnavailable} }

// Dropped closes the connection.
func Dropped() Fault { return Fault{Drop: true} }

type faults struct {
	latency time.Duration
	hang    int
	outage  bool // every request, token endpoint included: 503

	next      int // the next n Graph calls get nextFault
	nextFault Fault

	tokenNext  int // the next n token requests get tokenFault
	tokenFault Fault

	// page, pageTimes, pageFault: requests for the page-th page of any
	// listing get pageFault, pageTimes times (-1: until cleared).
	page      int
	pageTimes int
	pageFault Fault
}

// FailNext answers the next n Graph calls with f.
func (s *Server) FailNext(n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.next, s.faults.nextFault = n, f
}

// Throttle answers every Graph call 429 with a Retry-After of retryAfter
// until ClearFaults, as Graph does while a client is throttled.
func (s *Server) Throttle(retryAfter time.Duration) { s.FailNext(math.MaxInt, Throttled(retryAfter)) }

// Outage answers every request, token endpoint included, 503 until
// ClearFaults.
func (s *Server) Outage() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.outage = true
}

// FailTokenNext answers the next n token requests with f.
func (s *Server) FailTokenNext(n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.tokenNext, s.faults.tokenFault = n, f
}

// FailPage answers requests for the page-th page (1-based) of any user
// listing with f, times times; times < 0 keeps failing it until
// ClearFaults (an outage that outlasts a client's retries).
func (s *Server) FailPage(page, times int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.page, s.faults.pageTimes, s.faults.pageFault = page, times, f
}

// DropNext closes the connection of the next n Graph calls unanswered.
func (s *Server) DropNext(n int) { s.FailNext(n, Dropped()) }

// HangNext holds the next n requests until the client gives up.
func (s *Server) HangNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.hang = n
}

// SetLatency delays every answer by d (cut short when the client gives up).
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.latency = d
}

// ClearFaults drops every pending and persistent fault: the service
// recovers. Credentials (RotateSecret, Deny) are left as they are.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = faults{}
}

// RotateSecret replaces the application's client secret with a new one
// and returns it: the secret clients hold is now wrong (the token endpoint
// answers AADSTS7000215). Tokens already issued stay valid until they
// expire, as on the real service.
func (s *Server) RotateSecret() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secret = "rotated~" + newID()
	return s.secret
}

// ExpireTokens makes every token issued so far expired: Graph answers 401
// InvalidAuthenticationToken until the client fetches a new one.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tok := range s.tokens {
		s.tokens[tok] = time.Time{}
	}
}

// Deny makes Graph answer 403 Authorization_RequestDenied ("Insufficient
// privileges to complete the operation.") to valid tokens, as it does when
// the application lacks User.Read.All admin consent; Deny(false) grants it
// again.
func (s *Server) Deny(denied bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denied = denied
}

func take(n *int) bool {
	if *n > 0 {
		*n--
		return true
	}
	return false
}

// injectFault applies the pending fault for this request, if any; true
// means the request was answered (or dropped) by it. page is the listing
// page asked for (0 for other requests).
func (s *Server) injectFault(w http.ResponseWriter, r *http.Request, token bool, page int) bool {
	s.mu.Lock()
	f := &s.faults
	latency, outage, hang := f.latency, f.outage, take(&f.hang)
	var fault *Fault
	switch {
	case token && take(&f.tokenNext):
		fault = &Fault{}
		*fault = f.tokenFault
	case !token && page > 0 && page == f.page && f.pageTimes != 0:
		if f.pageTimes > 0 {
			f.pageTimes--
		}
		fault = &Fault{}
		*fault = f.pageFault
	case !token && take(&f.next):
		fault = &Fault{}
		*fault = f.nextFault
	}
	s.mu.Unlock()

	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			return true
		}
	}
	switch {
	case hang:
		<-r.Context().Done()
		return true
	case outage:
		fault = &Fault{Status: http.StatusServiceUnavailable}
	case fault == nil:
		return false
	}
	if fault.Drop {
		hijackClose(w)
		return true
	}
	if fault.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(fault.RetryAfter.Seconds()))))
	}
	if token {
		s.writeTokenError(w, fault.Status, "temporarily_unavailable", 50196, "The server is temporarily unavailable.")
		return true
	}
	code, message := "generalException", "An unspecified error has occurred."
	switch fault.Status {
	case http.StatusTooManyRequests:
		code, message = CodeThrottled, "Too many requests."
	case http.StatusServiceUnavailable:
		code, message = CodeUnavailable, "The service is temporarily unavailable. Please retry later."
	case http.StatusGatewayTimeout:
		code, message = "gatewayTimeout", "The gateway did not receive a timely response from the upstream server."
	}
	s.writeError(w, fault.Status, code, message)
	return true
}
