package handlers

import (
	"crypto/rand"
	"encoding/hex"
	"sync/atomic"
	"unsafe"

	"github.com/gin-gonic/gin"
)

func requestID(c *gin.Context) string { return stateOf(c).id }

// requestIDs generates request ids: a random prefix drawn once per process
// (so ids from different replicas do not collide) and a counter, which
// costs no system call per request, unlike reading crypto/rand each time.
type requestIDs struct {
	prefix string
	next   atomic.Uint64
}

func newRequestIDs() *requestIDs {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &requestIDs{prefix: hex.EncodeToString(b[:])}
}

// id writes 32 hex digits into buf: the prefix and the counter.
func (g *requestIDs) id(buf *[32]byte) {
	copy(buf[:16], g.prefix)
	n := g.next.Add(1)
	for i := 31; i >= 16; i-- {
		buf[i] = hexDigits[n&0xF]
		n >>= 4
	}
}

const hexDigits = "0123456789abcdef"

// withRequestID honours a well-formed X-Request-Id from the caller (so traces
// join up across services) and otherwise generates one.
func withRequestID(ids *requestIDs) gin.HandlerFunc {
	return func(c *gin.Context) {
		st := attachState(c)
		var id string
		// The key is canonical already: indexing skips Get's canonicalising.
		if v := c.Request.Header["X-Request-Id"]; len(v) > 0 {
			id = v[0]
		}
		if !validRequestID(id) {
			ids.id(&st.idBuf)
			// The string shares the state's memory, which nothing writes again.
			id = unsafe.String(&st.idBuf[0], len(st.idBuf))
		}
		st.id, st.idHeader[0] = id, id
		c.Writer.Header()["X-Request-Id"] = st.idHeader[:]
		c.Next()
	}
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}
