package auth

import (
	"context"
	"net/netip"
	"testing"

	"github.com/usersvc/usersvc/schema"
)

// TestClientSharesByAddress: one IPv4 address, or one IPv6 /64, is one
// client; its bucket empties without touching another's.
func TestClientSharesByAddress(t *testing.T) {
	l := newClientLimiters(2, 100)
	take := func(addr string) bool {
		ip, _ := netip.ParseAddr(addr) // the HTTP layer's parse: an address that does not parse is none
		return l.allow(clientFrom(schema.WithCaller(context.Background(), schema.Caller{Addr: ip})))
	}
	for _, same := range [][]string{
		{"192.0.2.1", "::ffff:192.0.2.1"},
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9", "2001:db8:1:2::1%eth0"},
	} {
		if !take(same[0]) || !take(same[1]) {
			t.Fatalf("%v: the first two calls were refused", same)
		}
		for _, a := range same {
			if take(a) {
				t.Errorf("%s shares %s's spent bucket, yet was allowed", a, same[0])
			}
		}
	}
	for _, other := range []string{"192.0.2.2", "2001:db8:1:3::1"} {
		if !take(other) {
			t.Errorf("%s was refused: another client's flood spent its share", other)
		}
	}
	if !take("not an address") || !take("") {
		t.Error("a call without a known address is bound by the process-wide bucket only")
	}
}
