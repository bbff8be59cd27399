package syncbuffer

import (
	"strings"
	"sync"
	"testing"
)

// TestConcurrentWrites: run with -race; every write lands whole.
func TestConcurrentWrites(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				_, _ = b.Write([]byte("line\n"))
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	if got := strings.Count(b.String(), "line\n"); got != 800 {
		t.Fatalf("%d lines, want 800", got)
	}
}

// TestLimitKeepsTheStart: with a Limit, the first Limit bytes stay, the
// rest are dropped, and every write still reports all of p written.
func TestLimitKeepsTheStart(t *testing.T) {
	b := Buffer{Limit: 10}
	for _, w := range []string{"0123", "4567", "89ab", "cdef"} {
		if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", w, n, err)
		}
	}
	if got := b.String(); got != "0123456789" {
		t.Fatalf("kept %q, want the first 10 bytes", got)
	}
}
