// Package syncbuffer is a bytes.Buffer that concurrent writers can share:
// the log sink of tests whose handlers log from many goroutines.
package syncbuffer

import (
	"bytes"
	"sync"
)

// Buffer is safe for concurrent Write and String; the zero value is empty
// and ready to use.
type Buffer struct {
	// Limit, when positive, keeps only the first Limit bytes written and
	// drops the rest, so that a long-running writer cannot grow a test's
	// memory; writes still report success.
	Limit int

	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Limit > 0 {
		if room := s.Limit - s.b.Len(); room > 0 {
			s.b.Write(p[:min(len(p), room)])
		}
		return len(p), nil
	}
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
