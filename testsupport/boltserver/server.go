// Package boltserver is a Bolt 5 server for tests: enough of the protocol
// (handshake, PackStream, HELLO/LOGON, BEGIN/RUN/PULL/DISCARD/COMMIT/
// ROLLBACK/RESET/ROUTE/GOODBYE, the failure state machine) that the
// official neo4j-go-driver works against it unchanged. What a statement
// does is up to an Executor; the only users, proxy/neo4j's injected-failure
// tests, answer from a canned one (everything else runs on a real Neo4j).
// Faults can be injected: failing RUNs with any Neo4j code, dropped
// connections, latency, and the whole server going down and up on the same
// port.
package boltserver

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Executor runs statements in transactions.
type Executor interface {
	Begin(write bool, database string) (Tx, error)
}

// Tx is one transaction of an Executor.
type Tx interface {
	Run(query string, params map[string]any) (keys []string, records [][]any, err error)
	Commit() error
	Rollback()
}

// Failure is a Neo4j status error; executors return it to send FAILURE with
// that code. Any other error becomes Neo.DatabaseError.General.UnknownError.
type Failure struct {
	Code    string
	Message string
}

func (f *Failure) Error() string { return f.Code + ": " + f.Message }

// Option configures a Server.
type Option func(*Server)

// WithAuth requires basic auth with these credentials.
func WithAuth(user, password string) Option {
	return func(s *Server) { s.user, s.password = user, password }
}

// Stats counts what the server saw.
type Stats struct {
	Connections, Runs, Begins, Commits, Rollbacks, Resets int64
}

// Server is a Bolt test server.
type Server struct {
	exec           Executor
	user, password string
	addr           string

	mu       sync.Mutex
	ln       net.Listener
	conns    map[*conn]bool
	wg       sync.WaitGroup
	failRuns int
	failCode string
	dropRuns int
	latency  time.Duration
	nextID   int

	connections, runs, begins, commits, rollbacks, resets atomic.Int64
}

// New creates a server on a free loopback port without listening yet, so a
// test can point a client at a database that is down; Start opens it.
// t.Cleanup stops it.
func New(t testing.TB, exec Executor, opts ...Option) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	s := &Server{exec: exec, addr: addr, conns: map[*conn]bool{}, user: "neo4j", password: "test"}
	for _, o := range opts {
		o(s)
	}
	t.Cleanup(s.Stop)
	return s
}

// Start listens (again) on the server's address.
func (s *Server) Start(t testing.TB) *Server {
	t.Helper()
	var ln net.Listener
	var err error
	// The port was free a moment ago; a restart may race the kernel's
	// release of the old socket.
	for range 50 {
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("bolt test server listen %s: %v", s.addr, err)
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	s.wg.Add(1)
	go s.accept(ln)
	return s
}

// Run is New followed by Start.
func Run(t testing.TB, exec Executor, opts ...Option) *Server {
	t.Helper()
	return New(t, exec, opts...).Start(t)
}

// URI is the bolt:// address.
func (s *Server) URI() string { return "bolt://" + s.addr }

// Addr is host:port.
func (s *Server) Addr() string { return s.addr }

// Stop closes the listener and every connection (open transactions roll
// back); later connection attempts are refused until Start.
func (s *Server) Stop() {
	s.mu.Lock()
	ln := s.ln
	s.ln = nil
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
	for _, c := range conns {
		_ = c.nc.Close()
	}
	s.wg.Wait()
}

// DropConnections closes every open connection now, mid-transaction or not.
func (s *Server) DropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		_ = c.nc.Close()
	}
}

// FailNextRuns answers the next n RUN messages with FAILURE code.
func (s *Server) FailNextRuns(n int, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failRuns, s.failCode = n, code
}

// DropOnNextRuns closes the connection when each of the next n RUN messages
// arrives, before it runs.
func (s *Server) DropOnNextRuns(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropRuns = n
}

// SetLatency delays the answer to every RUN.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{s.connections.Load(), s.runs.Load(), s.begins.Load(), s.commits.Load(), s.rollbacks.Load(), s.resets.Load()}
}

func (s *Server) accept(ln net.Listener) {
	defer s.wg.Done()
	for {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.nextID++
		c := &conn{s: s, nc: nc, id: "bolt-" + strconv.Itoa(s.nextID), results: map[int64]*result{}}
		s.conns[c] = true
		s.mu.Unlock()
		s.connections.Add(1)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c.serve()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// runFault consumes the pending RUN fault: drop the connection, fail with a
// code, or nothing; and returns the latency to apply.
func (s *Server) runFault() (drop bool, code string, latency time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	latency = s.latency
	if s.dropRuns > 0 {
		s.dropRuns--
		return true, "", latency
	}
	if s.failRuns > 0 {
		s.failRuns--
		return false, s.failCode, latency
	}
	return false, "", latency
}

// --- framing ---

// readMessage reads one chunked message.
func readMessage(r io.Reader) ([]byte, error) {
	var msg []byte
	var hdr [2]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return nil, err
		}
		n := int(binary.BigEndian.Uint16(hdr[:]))
		if n == 0 {
			if len(msg) == 0 {
				continue // a NOOP keep-alive chunk
			}
			return msg, nil
		}
		start := len(msg)
		msg = append(msg, make([]byte, n)...)
		if _, err := io.ReadFull(r, msg[start:]); err != nil {
			return nil, err
		}
	}
}

// writeMessage chunks and writes one message.
func writeMessage(w io.Writer, tag byte, fields ...any) error {
	e := &encoder{}
	if err := e.value(structure{tag: tag, fields: fields}); err != nil {
		return err
	}
	var out []byte
	for data := e.buf; len(data) > 0; {
		n := min(len(data), 0xFFFF)
		out = binary.BigEndian.AppendUint16(out, uint16(n))
		out = append(out, data[:n]...)
		data = data[n:]
	}
	out = append(out, 0, 0)
	_, err := w.Write(out)
	return err
}

var errProtocol = errors.New("bolt protocol violation")

func protocolError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errProtocol, fmt.Sprintf(format, args...))
}
