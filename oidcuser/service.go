package oidcuser

import (
	"context"
	"net"
	"strings"
	"time"
)

// Helpers the directories share for calling their providers.

// IsLoopbackHost reports whether host names this machine (localhost or a
// loopback address): the only place a directory accepts plain http, for
// its test server.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Sleep waits d, or less when ctx ends first (its error then).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Pending is a call running beside another (a directory's email search
// beside its login GET): Wait returns its answer, waiting for it the
// first time.
type Pending[T any] struct {
	ch  chan struct{}
	v   T
	err error
}

// Start runs call in its own goroutine.
func Start[T any](call func() (T, error)) *Pending[T] {
	p := &Pending[T]{ch: make(chan struct{})}
	go func() {
		defer close(p.ch)
		p.v, p.err = call()
	}()
	return p
}

// Wait returns the call's answer once it has one.
func (p *Pending[T]) Wait() (T, error) {
	<-p.ch
	return p.v, p.err
}
