package neo4j

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"

	"github.com/usersvc/usersvc/schema"
)

// Fail fast while Neo4j is known to be down: the Amundsen frontend gives a
// whole page 3 s, and a call that waits out connection attempts and the
// driver's retries takes seconds to say 503. The monitor (Start) makes one
// connection attempt every monitorEvery: refused or dropped, calls fail at
// once for downFor (renewed while the server stays away); answered, the
// window closes. Only the monitor opens it: a call that failed under load
// (no pooled connection in time) says the server is busy, not away, and
// turning that into a window of 503s would make an overload an outage.
const (
	downFor      = time.Second
	monitorEvery = 500 * time.Millisecond
	probeFor     = 2 * time.Second
)

var errKnownDown = errors.New("neo4j did not answer the last attempt")

// breaker holds until when calls fail fast (unix nanoseconds; 0: not).
type breaker struct{ downUntil atomic.Int64 }

func (b *breaker) open(now time.Time) { b.downUntil.Store(now.Add(downFor).UnixNano()) }
func (b *breaker) close()             { b.downUntil.Store(0) }

// KnownDown implements proxy.FailFast: the error calls fail with while the
// monitor's window is open.
func (s *Store) KnownDown() error { return s.down.check(time.Now()) }

// check fails while the window is open.
func (b *breaker) check(now time.Time) error {
	if now.UnixNano() < b.downUntil.Load() {
		return schema.Unavailable("the graph store is unavailable", downFor, errKnownDown)
	}
	return nil
}

// unreachable reports whether err means the server was not reached: no
// answer of its own (a Neo4j error, even a transient one such as a lock
// timeout, is an answer), no domain error, no misuse of the driver.
func unreachable(err error) bool {
	var (
		nerr   *neo4j.Neo4jError
		domain *schema.Error
		usage  *neo4j.UsageError
	)
	return !errors.As(err, &nerr) && !errors.As(err, &domain) && !errors.As(err, &usage)
}

// slow reports whether err is a timeout: the probe's own deadline, or a
// dial or read that timed out (the driver's ConnectivityError keeps the
// network error in Inner, without Unwrap).
func slow(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var ce *neo4j.ConnectivityError
	if errors.As(err, &ce) {
		err = ce.Inner
	}
	// A full pool (the driver's internal PoolTimeout and PoolFull, known
	// only by their text) means busy, not away.
	if msg := err.Error(); strings.Contains(msg, "waiting for connection") || strings.Contains(msg, "No idle connections") {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// monitor probes the server while the store is open, so that an outage is
// known before a caller meets it and its end as soon as it ends.
func (s *Store) monitor(ctx context.Context) {
	t := time.NewTicker(monitorEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.closed:
			return
		case <-t.C:
		}
		// One connection attempt, without the driver's retries: a refused
		// or dropped connection says the server is away at once.
		pctx, cancel := context.WithTimeout(ctx, probeFor)
		err := s.driver.VerifyConnectivity(pctx)
		outOfTime := pctx.Err() != nil
		cancel()
		switch {
		case err == nil:
			s.down.close()
		case outOfTime || slow(err):
			// Slow, not away (a loaded machine, a GC pause, a server slow
			// to accept): failing every caller fast for it would turn
			// slowness into 503s.
		case unreachable(err):
			s.down.open(time.Now())
		}
	}
}
