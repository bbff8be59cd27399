// Package tcpproxy is a fault-injecting TCP relay for tests, on loopback:
// it sits between a client and a real server (the Neo4j driver and Neo4j)
// and can cut live connections or stop answering altogether, faults the real
// server does not produce on demand.
package tcpproxy

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy relays connections on Addr to the target.
type Proxy struct {
	addr string

	mu     sync.Mutex
	target string
	ln     net.Listener
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

// Start relays a free loopback port to target; t.Cleanup stops it.
func Start(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{addr: ln.Addr().String(), target: target, conns: map[net.Conn]struct{}{}}
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
	p.wg.Add(2)
	for _, pair := range [][2]net.Conn{{up, c}, {c, up}} {
		go func() {
			defer p.wg.Done()
			_, _ = io.Copy(pair[0], pair[1])
			closeBoth()
		}()
	}
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
