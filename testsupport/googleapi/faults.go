package googleapi

import (
	"net/http"
)

// Fault is how the server breaks an answer.
type Fault int

const (
	// UserRateLimited answers 403 with reason userRateLimitExceeded (the
	// per-user queries-per-minute quota is spent).
	UserRateLimited Fault = iota + 1
	// QuotaExceeded answers 403 with reason quotaExceeded (too many
	// concurrent requests for an operation).
	QuotaExceeded
	// RateLimited answers 429 with reason rateLimitExceeded (the
	// per-account concurrency limit).
	RateLimited
	// Unavailable answers 503 with reason backendError.
	Unavailable
	// Dropped closes the connection without answering (a reset).
	Dropped
	// Malformed answers 200 with a body that is not JSON.
	Malformed
	// DailyLimitExceeded answers 403 with reason dailyLimitExceeded (a
	// project's daily quota, not to be retried until fixed).
	DailyLimitExceeded
)

type faults struct {
	next       int   // API calls still to fail with nextFault
	nextFault  Fault //
	tokens     int   // token calls still to fail with tokenFault
	tokenFault Fault
	// page and pageFault: requests for the page-th page (1-based) of any
	// listing get pageFault, pageTimes more times (negative: always).
	page      int
	pageFault Fault
	pageTimes int
}

// FailNext answers the next n Directory API calls (users.get and
// users.list, not the token endpoint) with f.
func (s *Server) FailNext(n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.next, s.faults.nextFault = n, f
}

// FailTokens answers the next n token endpoint calls with f: 503 for
// Unavailable, 429 for the rate faults (OAuth error bodies), or a dropped
// connection or unreadable answer.
func (s *Server) FailTokens(n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.tokens, s.faults.tokenFault = n, f
}

// FailPage answers requests for the page-th page (1-based) of any listing
// with f, times times (negative: every time, until ClearFaults): a blip
// a client's retries ride out, or an outage that outlasts them, at a
// chosen point of a paging.
func (s *Server) FailPage(page int, f Fault, times int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.page, s.faults.pageFault, s.faults.pageTimes = page, f, times
}

// ClearFaults drops every pending and persistent fault: the service
// recovers.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = faults{}
}

// pageFaultFor reports (and spends) the fault for the page-th page.
func (s *Server) pageFaultFor(page int) Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := &s.faults
	if f.page != page || f.pageFault == 0 || f.pageTimes == 0 {
		return 0
	}
	if f.pageTimes > 0 {
		f.pageTimes--
	}
	return f.pageFault
}

// injectFault applies a pending fault for a request of kind; true means
// the request was answered (or dropped) by it.
func (s *Server) injectFault(w http.ResponseWriter, kind string) bool {
	s.mu.Lock()
	var f Fault
	switch {
	case kind == "token" && s.faults.tokens > 0:
		s.faults.tokens--
		f = s.faults.tokenFault
	case (kind == "users.get" || kind == "users.list") && s.faults.next > 0:
		s.faults.next--
		f = s.faults.nextFault
	}
	s.mu.Unlock()
	switch {
	case f == 0:
		return false
	case kind == "token" && f != Dropped && f != Malformed:
		// The token endpoint answers in OAuth's shape.
		if f == Unavailable {
			tokenError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the token endpoint is unavailable")
		} else {
			tokenError(w, http.StatusTooManyRequests, "rate_limit_exceeded", "too many token requests")
		}
	default:
		s.writeFault(w, f)
	}
	return true
}

// writeFault answers with f, in the shape the Directory API answers it
// (the "Limits and quotas" page lists the reasons and codes).
func (s *Server) writeFault(w http.ResponseWriter, f Fault) {
	switch f {
	case UserRateLimited:
		writeError(w, http.StatusForbidden, "usageLimits", "userRateLimitExceeded", "User Rate Limit Exceeded")
	case QuotaExceeded:
		writeError(w, http.StatusForbidden, "usageLimits", "quotaExceeded", "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user'")
	case RateLimited:
		writeError(w, http.StatusTooManyRequests, "usageLimits", "rateLimitExceeded", "Rate Limit Exceeded")
	case DailyLimitExceeded:
		writeError(w, http.StatusForbidden, "usageLimits", "dailyLimitExceeded", "Daily Limit Exceeded")
	case Dropped:
		hijackClose(w)
	case Malformed:
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"kind": "admin#directory#user`))
	default:
		writeError(w, http.StatusServiceUnavailable, "global", "backendError", "The service is currently unavailable.")
	}
}
