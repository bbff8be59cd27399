package main

import (
	"testing"
	"time"

	"github.com/usersvc/usersvc/handlers"
)

// BenchmarkRequestFinished is the metrics work of one warm request: in
// flight, count and latency, auth outcome, store read. Before issue 22 the
// label sets were cached in sync.Maps: about 120 ns against 220 ns, 100 ns a
// request, within the noise of the warm path's ~30 µs of CPU.
func BenchmarkRequestFinished(b *testing.B) {
	m := newMetrics(handlers.BuildInfo{})
	b.ReportAllocs()
	for b.Loop() {
		m.RequestStarted()
		m.AuthOutcome("ok")
		m.StoreOperation("get_user", time.Microsecond, nil)
		m.RequestFinished("/user/:id", "GET", 200, time.Millisecond)
	}
}
