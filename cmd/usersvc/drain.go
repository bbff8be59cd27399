package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// acceptGrace is how long the listener stays open after SIGTERM, with
// keep-alives off, so that connections already in the kernel's accept queue
// are taken and served rather than reset when the listener closes.
const acceptGrace = 100 * time.Millisecond

// connTracker counts the server's open connections through its ConnState
// hook.
type connTracker struct {
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func newConnTracker() *connTracker {
	return &connTracker{conns: make(map[net.Conn]struct{})}
}

// hook takes the lock only when a connection opens or ends, not on the
// active and idle transitions of every request.
func (t *connTracker) hook(c net.Conn, state http.ConnState) {
	switch state {
	case http.StateNew:
		t.mu.Lock()
		t.conns[c] = struct{}{}
		t.mu.Unlock()
	case http.StateClosed, http.StateHijacked:
		t.mu.Lock()
		delete(t.conns, c)
		t.mu.Unlock()
	}
}

func (t *connTracker) open() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns)
}

// drain stops srv so that every request already on the wire is answered.
//
// http.Server.Shutdown is not enough on its own: a connection it accepted
// whose first request it reads after Shutdown began is closed unanswered
// (net/http's conn.serve returns when shuttingDown), and a request written
// on such a connection before SIGTERM is lost with an EOF. So drain first
// turns keep-alives off (each answer now ends its connection, idle ones
// close), keeps accepting for acceptGrace, closes the listener, and waits
// until every connection has been answered and closed. Only then does it
// call Shutdown, which has nothing left to cut. ctx bounds the whole wait;
// when it ends, the remaining connections are closed.
func drain(ctx context.Context, srv *http.Server, ln net.Listener, conns *connTracker, served <-chan error) error {
	srv.SetKeepAlivesEnabled(false)
	select {
	case <-time.After(acceptGrace):
	case <-ctx.Done():
	}
	if err := ln.Close(); err != nil {
		return fmt.Errorf("close listener: %w", err)
	}
	<-served // Serve returns once its listener is closed

	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for conns.open() > 0 {
		select {
		case <-ctx.Done():
			open := conns.open()
			_ = srv.Close()
			return fmt.Errorf("shutdown timeout reached with connections still open (%d), now closed: %w", open, ctx.Err())
		case <-tick.C:
			// A connection that finished its answer just before keep-alives
			// went off may have gone idle since; this closes it.
			srv.SetKeepAlivesEnabled(false)
		}
	}
	return srv.Shutdown(ctx)
}
