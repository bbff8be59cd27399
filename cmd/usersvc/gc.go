package main

import "runtime/debug"

// defaultGCPercent is the garbage collector's target when GOGC is unset.
//
// The service keeps about 2.3 MiB live (SDK clients, the metrics registry,
// caches), so at Go's default of 100 the heap never leaves its 4 MiB floor
// and a collection, each marking that live heap, runs every ~1.8 MiB of
// allocation: about every 600 requests. At 150 the floor is 6 MiB and
// collections run half as often. In the representative harness this cut
// CPU per request relative to a bare gin handler from 1.21-1.24x to
// 1.16-1.18x, for 2 MiB of peak RSS (28.5 -> 30.5 MiB, under the 32 MiB
// target); see docs/performance.md. 200 saved a little more but passed
// 32 MiB.
const defaultGCPercent = 150

// tuneGC applies defaultGCPercent unless the operator set GOGC, which the
// runtime has then already applied (GOMEMLIMIT works either way).
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
}
