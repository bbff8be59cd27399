package handlers

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/gin-gonic/gin"
)

// TestClientAddrAgreesWithGin: the parse that skips gin's ClientIP names the
// same client as ClientIP would (compared unmapped, as the introspection
// limiter does), X-Forwarded-For included.
func TestClientAddrAgreesWithGin(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	for _, trusted := range [][]string{{}, {"10.0.0.0/8"}} {
		r := gin.New()
		if err := r.SetTrustedProxies(trusted); err != nil {
			t.Fatal(err)
		}
		s := &server{trustsProxies: len(trusted) > 0}
		for _, remote := range []string{"192.0.2.1:1234", "10.1.2.3:80", "[2001:db8::1]:443", "[::ffff:192.0.2.9]:1",
			"[fe80::1%eth0]:80", " 192.0.2.1:1234", "192.0.2.1:http", "192.0.2.1", "[1.2.3.4]:80", "garbage", ""} {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.RemoteAddr = remote
			req.Header.Set("X-Forwarded-For", "198.51.100.7")
			c := gin.CreateTestContextOnly(httptest.NewRecorder(), r)
			c.Request = req
			want, _ := netip.ParseAddr(c.ClientIP())
			if got := s.clientAddr(c); got.Unmap() != want.Unmap() {
				t.Errorf("trusted %v, RemoteAddr %q: %v, gin says %v", trusted, remote, got, want)
			}
		}
	}
}
