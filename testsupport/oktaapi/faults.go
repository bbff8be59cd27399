package oktaapi

import (
	"net/http"
	"time"
)

type faults struct {
	latency  time.Duration
	failNext int
	failCode int
	// failErrorCode, when set, is the errorCode of FailNext's answers
	// ("-" for an error body without one).
	failErrorCode string
	malformed     int
	hang          int
	drop          int
	hangUp        int
	// page and pageFault: every request for the page-th page of a list
	// (1-based, counted from the cursor) gets pageFault, until cleared.
	page      int
	pageFault PageFault
}

// PageFault is how FailPage breaks a page.
type PageFault int

const (
	// PageUnavailable answers 503 with Okta's error body.
	PageUnavailable PageFault = iota + 1
	// PageDropped closes the connection without answering.
	PageDropped
	// PageMalformed answers 200 with a body that is not JSON.
	PageMalformed
)

// FailPage breaks every request for the page-th page (1-based) of any user
// list, however often it is retried, until FailPage(0, 0) clears it: an
// outage that outlasts a client's retries, at a chosen point of a paging.
func (s *Server) FailPage(page int, fault PageFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.page, s.faults.pageFault = page, fault
}

// pageFaultFor reports the fault for the page-th page, if one is set.
func (s *Server) pageFaultFor(page int) PageFault {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults.page == page {
		return s.faults.pageFault
	}
	return 0
}

// writePageFault answers with fault.
func (s *Server) writePageFault(w http.ResponseWriter, fault PageFault) {
	switch fault {
	case PageDropped:
		hijackClose(w)
	case PageMalformed:
		writeMalformed(w)
	default:
		s.writeError(w, http.StatusServiceUnavailable, CodeServiceUnavail, "Service Unavailable")
	}
}

func writeMalformed(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(`{"id": "00u`))
}

// SetLatency delays every answer by d (cut short when the client gives up).
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.latency = d
}

// FailNext answers the next n requests with status and an Okta error body.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.failNext, s.faults.failCode, s.faults.failErrorCode = n, status, ""
}

// FailNextWith answers the next n requests with status and an Okta error
// body carrying errorCode ("" for a body without one, as some 400s are).
func (s *Server) FailNextWith(n, status int, errorCode string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if errorCode == "" {
		errorCode = "-"
	}
	s.faults.failNext, s.faults.failCode, s.faults.failErrorCode = n, status, errorCode
}

// MalformNext answers the next n requests 200 with a body that is not JSON.
func (s *Server) MalformNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.malformed = n
}

// HangNext holds the next n requests until the client gives up.
func (s *Server) HangNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.hang = n
}

// DropNext closes the connection of the next n requests without answering.
func (s *Server) DropNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.drop = n
}

// HangUpNext closes the connection of the next n requests cleanly (FIN,
// not a reset) without answering: the client reads EOF, the error
// okta-sdk-golang v2 retries at once without counting.
func (s *Server) HangUpNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.hangUp = n
}

// take decrements a counter and reports whether it was positive.
func take(n *int) bool {
	if *n > 0 {
		*n--
		return true
	}
	return false
}

// injectFault applies the pending fault, if any; true means the request was
// answered (or dropped) by it.
func (s *Server) injectFault(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	latency := s.faults.latency
	hang, drop, hangUp := take(&s.faults.hang), take(&s.faults.drop), take(&s.faults.hangUp)
	fail := take(&s.faults.failNext)
	status, errorCode := s.faults.failCode, s.faults.failErrorCode
	malformed := take(&s.faults.malformed)
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
	case drop:
		hijackClose(w)
		return true
	case hangUp:
		hijackHangUp(w)
		return true
	case fail && errorCode == "-":
		s.writeJSON(w, status, map[string]any{"errorSummary": http.StatusText(status), "errorCauses": []any{}})
		return true
	case fail && errorCode != "":
		s.writeError(w, status, errorCode, http.StatusText(status))
		return true
	case fail:
		code := CodeInternalError
		if status == http.StatusServiceUnavailable {
			code = CodeServiceUnavail
		}
		s.writeError(w, status, code, "Internal Server Error")
		return true
	case malformed:
		writeMalformed(w)
		return true
	}
	return false
}

// ClearFaults drops every pending and persistent fault, latency included:
// the org recovers.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = faults{}
}
