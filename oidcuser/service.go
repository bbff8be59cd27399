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
