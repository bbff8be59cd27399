package slapd

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/usersvc/usersvc/testsupport/tcpproxy"
)

// PageCutter is a TCP relay between a directory and slapd that reads the
// server's side as LDAP messages (RFC 4511 section 4.1.1: BER LDAPMessage
// SEQUENCE { messageID, protocolOp, [0] controls OPTIONAL }) so that it can
// drop a connection in the middle of a given page of a paged search: the
// k-th SearchResultDone that carries controls (the paged-results response
// control, RFC 2696) on a connection ends page k; the relay forwards that
// page's entries, then half of that message, and closes both sides. A base
// read of a manager ends with a SearchResultDone without controls and does
// not count. With a TLS configuration it terminates ldaps:// itself and
// relays to a plain listener.
type PageCutter struct {
	*tcpproxy.Proxy

	mu   sync.Mutex
	page int // the page to cut in (1-based); 0: none
	left int // cuts still to make; negative: every connection
	cuts int
}

// StartPageCutter relays a loopback listener to target (host:port of a
// plain LDAP listener); tlsConfig, when not nil, makes the listener speak
// ldaps://. It stops with the test.
func StartPageCutter(t testing.TB, target string, tlsConfig *tls.Config) *PageCutter {
	t.Helper()
	p := &PageCutter{}
	p.Proxy = tcpproxy.StartWith(t, target, tcpproxy.Options{TLS: tlsConfig, Downstream: p.forward})
	return p
}

// CutIn makes the relay cut the next times connections that reach page
// (times < 0: every one; page 0: none), and resets the count of cuts.
func (p *PageCutter) CutIn(page, times int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.page, p.left, p.cuts = page, times, 0
}

// Cuts is how many connections were cut since CutIn.
func (p *PageCutter) Cuts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cuts
}

// cutNow reports whether a connection that just finished page number
// page (on the wire) is to be cut, counting the cut.
func (p *PageCutter) cutNow(page int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.page == 0 || page != p.page || p.left == 0 {
		return false
	}
	p.left--
	p.cuts++
	return true
}

// forward relays slapd's messages to the client one by one, and ends the
// connection half-way through the SearchResultDone of the page to cut.
func (p *PageCutter) forward(client io.Writer, server io.Reader) {
	r := bufio.NewReader(server)
	pages := 0
	for {
		msg, op, controls, err := readMessage(r)
		if err != nil {
			return
		}
		if op == berSearchResultDone && controls {
			pages++
			if p.cutNow(pages) {
				_, _ = client.Write(msg[:len(msg)/2])
				return
			}
		}
		if _, err := client.Write(msg); err != nil {
			return
		}
	}
}

// berSearchResultDone is the BER tag of a SearchResultDone: [APPLICATION
// 5], constructed.
const berSearchResultDone = 0x65

// readMessage reads one LDAPMessage: its bytes, the tag of its
// protocolOp, and whether controls follow the protocolOp.
func readMessage(r *bufio.Reader) (msg []byte, op byte, controls bool, err error) {
	tag, err := r.ReadByte()
	if err != nil {
		return nil, 0, false, err
	}
	if tag != 0x30 {
		return nil, 0, false, fmt.Errorf("not an LDAPMessage: tag %#x", tag)
	}
	n, lenBytes, err := readLength(r)
	if err != nil {
		return nil, 0, false, err
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, 0, false, err
	}
	msg = append(append([]byte{tag}, lenBytes...), body...)
	// messageID INTEGER, then the protocolOp.
	rest, err := skipTLV(body)
	if err != nil || len(rest) == 0 {
		return nil, 0, false, errors.New("short LDAPMessage")
	}
	op = rest[0]
	after, err := skipTLV(rest)
	if err != nil {
		return nil, 0, false, err
	}
	return msg, op, len(after) > 0 && after[0] == 0xa0, nil
}

// readLength reads a BER definite length (short or long form).
func readLength(r *bufio.Reader) (int, []byte, error) {
	b, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	if b < 0x80 {
		return int(b), []byte{b}, nil
	}
	k := int(b & 0x7f)
	if k == 0 || k > 4 {
		return 0, nil, fmt.Errorf("unsupported BER length form %#x", b)
	}
	raw := []byte{b}
	n := 0
	for range k {
		c, err := r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		raw = append(raw, c)
		n = n<<8 | int(c)
	}
	return n, raw, nil
}

// skipTLV returns what follows the first BER element of b.
func skipTLV(b []byte) ([]byte, error) {
	if len(b) < 2 {
		return nil, errors.New("short BER element")
	}
	n, i := int(b[1]), 2
	if b[1] >= 0x80 {
		k := int(b[1] & 0x7f)
		if k == 0 || k > 4 || len(b) < 2+k {
			return nil, errors.New("bad BER length")
		}
		n = 0
		for _, c := range b[2 : 2+k] {
			n = n<<8 | int(c)
		}
		i = 2 + k
	}
	if len(b) < i+n {
		return nil, errors.New("truncated BER element")
	}
	return b[i+n:], nil
}
