package auth

import (
	"context"
	"net/netip"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"

	"github.com/usersvc/usersvc/schema"
)

// clientLimiters holds one token bucket per client address, so that a flood
// of random tokens from one source spends only that source's share of the
// introspection rate. The least recently seen sources are forgotten first;
// a forgotten source starts again with a full bucket, which the process-wide
// bucket still bounds.
type clientLimiters struct {
	rate    rate.Limit
	burst   int
	clients *lru.Cache[netip.Prefix, *rate.Limiter]
}

func newClientLimiters(perSecond float64, size int) *clientLimiters {
	c, _ := lru.New[netip.Prefix, *rate.Limiter](max(1, size))
	return &clientLimiters{rate: rate.Limit(perSecond), burst: max(1, int(perSecond)), clients: c}
}

// allow takes one call from the client's bucket. A call without a known
// address (an in-process caller; the HTTP layer always names one) is bound
// by the process-wide bucket alone.
func (c *clientLimiters) allow(client netip.Prefix) bool {
	if !client.IsValid() {
		return true
	}
	l, ok := c.clients.Get(client)
	if !ok {
		l = rate.NewLimiter(c.rate, c.burst)
		if prev, found, _ := c.clients.PeekOrAdd(client, l); found {
			l = prev
		}
	}
	return l.Allow()
}

// clientFrom is the unit of fairness of the request ctx belongs to: the
// HTTP layer puts the client's address (the peer, or the client a trusted
// proxy names) in the request's schema.Caller, so introspection calls are
// shared fairly between addresses.
func clientFrom(ctx context.Context) netip.Prefix {
	return clientPrefix(schema.ClientAddrFrom(ctx))
}

// clientPrefix is the unit of fairness: one IPv4 address, or one IPv6 /64
// (what a single host or subscriber is usually given, so rotating through
// its addresses earns no new share).
func clientPrefix(ip netip.Addr) netip.Prefix {
	if !ip.IsValid() {
		return netip.Prefix{}
	}
	ip = ip.Unmap().WithZone("")
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}
