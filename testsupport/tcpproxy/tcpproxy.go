// Package tcpproxy is a fault-injecting TCP relay for tests, on loopback:
// it sits between a client and a real server (the Neo4j driver and Neo4j)
// and can cut live connections or stop answering altogether, faults the real
// server does not produce on demand.
package tcpproxy

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy relays connections on Addr to the target.
type Proxy struct {
	addr string
	opts Options

	mu     sync.Mutex
	target string
	ln     net.Listener
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

// Options change what the relay does besides relaying.
type Options struct {
	// TLS, when set, makes the relay's listener speak TLS: the relay
	// terminates it and talks to the target in the clear.
	TLS *tls.Config
	// Downstream copies what the server sends to the client, in place of
	// io.Copy: a relay that reads the protocol can cut a connection at a
	// chosen message by returning. Both sides close when it returns.
	Downstream func(client io.Writer, server io.Reader)
}

// Start relays a free loopback port to target; t.Cleanup stops it.
func Start(t testing.TB, target string) *Proxy { return StartWith(t, target, Options{}) }

// StartWith is Start with options.
func StartWith(t testing.TB, target string, opts Options) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{addr: ln.Addr().String(), opts: opts, target: target, conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	t.Cleanup(p.Stop)
	return p
}

// Addr is host:port of the relay.
func (p *Proxy) Addr() string { return p.addr }

// SetTarget sends new connections to another server.
func (p *Proxy) SetTarget(target string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.target = target
}

func (p *Proxy) serve(ln net.Listener) {
	if p.opts.TLS != nil {
		ln = tls.NewListener(ln, p.opts.TLS)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.relay(c)
		}
	}()
}

func (p *Proxy) relay(c net.Conn) {
	p.mu.Lock()
	target := p.target
	p.mu.Unlock()
	up, err := net.Dial("tcp", target)
	if err != nil {
		_ = c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // stopped while dialing: Stop's CutAll missed these
		p.mu.Unlock()
		_ = c.Close()
		_ = up.Close()
		return
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	var once sync.Once
	closeBoth := func() {
		once.Do(func() {
			_ = c.Close()
			_ = up.Close()
			p.mu.Lock()
			delete(p.conns, c)
			delete(p.conns, up)
			p.mu.Unlock()
		})
	}
	downstream := p.opts.Downstream
	if downstream == nil {
		downstream = func(client io.Writer, server io.Reader) { _, _ = io.Copy(client, server) }
	}
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		defer closeBoth()
		_, _ = io.Copy(up, c)
	}()
	go func() {
		defer p.wg.Done()
		defer closeBoth()
		downstream(c, up)
	}()
}

// CutAll closes every live connection, both ways, and keeps listening: a
// network fault in the middle of whatever the client was doing.
func (p *Proxy) CutAll() {
	p.mu.Lock()
	conns := make([]net.Conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// Stop closes the listener and every connection: to the client the server
// is gone (connections refused) until Resume.
func (p *Proxy) Stop() {
	p.mu.Lock()
	ln := p.ln
	p.ln = nil
	p.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
	p.CutAll()
	p.wg.Wait()
}

// Resume listens again on the same address.
func (p *Proxy) Resume(t testing.TB) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(errors.Join(errors.New("tcpproxy: listen again"), err))
	}
	p.serve(ln)
}
