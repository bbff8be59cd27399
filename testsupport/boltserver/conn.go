package boltserver

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"time"
)

// Message tags.
const (
	msgHello     = 0x01
	msgGoodbye   = 0x02
	msgReset     = 0x0F
	msgRun       = 0x10
	msgBegin     = 0x11
	msgCommit    = 0x12
	msgRollback  = 0x13
	msgDiscard   = 0x2F
	msgPull      = 0x3F
	msgTelemetry = 0x54
	msgRoute     = 0x66
	msgLogon     = 0x6A
	msgLogoff    = 0x6B

	msgSuccess = 0x70
	msgRecord  = 0x71
	msgIgnored = 0x7E
	msgFailure = 0x7F
)

type state int

const (
	stateConnected      state = iota // before HELLO
	stateAuthentication              // after HELLO, before LOGON
	stateReady
	stateStreaming   // an auto-commit result is open
	stateTxReady     // explicit transaction, no open result
	stateTxStreaming // explicit transaction with open results
	stateFailed
)

// negotiated is the protocol version this server speaks: 5.4 has LOGON and
// keeps the message set small.
const negotiatedMinor = 4

type result struct {
	keys    []string
	records [][]any
	next    int
}

type conn struct {
	s       *Server
	nc      net.Conn
	id      string
	w       *bufio.Writer
	state   state
	tx      Tx
	write   bool
	db      string
	auto    bool // the open result belongs to an auto-commit transaction
	results map[int64]*result
	lastQID int64
	nextQID int64
}

func (c *conn) serve() {
	defer c.nc.Close()
	defer c.rollback()
	r := bufio.NewReader(c.nc)
	c.w = bufio.NewWriter(c.nc)
	if err := c.handshake(r); err != nil {
		return
	}
	for {
		raw, err := readMessage(r)
		if err != nil {
			return
		}
		msg, err := decodeMessage(raw)
		if err != nil {
			return
		}
		if keepOpen := c.handle(msg); !keepOpen {
			_ = c.w.Flush()
			return
		}
		if r.Buffered() == 0 {
			// Pipelined requests are answered in one flush.
			if err := c.w.Flush(); err != nil {
				return
			}
		}
	}
}

// handshake accepts the magic and four proposals and answers 5.4 when any
// proposal's range covers it (the driver's first proposal is the manifest
// marker, which a plain version answer declines).
func (c *conn) handshake(r io.Reader) error {
	var hs [20]byte
	if _, err := io.ReadFull(r, hs[:]); err != nil {
		return err
	}
	if !bytes.Equal(hs[:4], []byte{0x60, 0x60, 0xB0, 0x17}) {
		return protocolError("bad magic")
	}
	for i := 4; i < 20; i += 4 {
		back, minor, major := int(hs[i+1]), int(hs[i+2]), int(hs[i+3])
		if major == 5 && minor >= negotiatedMinor && minor-back <= negotiatedMinor {
			_, err := c.nc.Write([]byte{0, 0, negotiatedMinor, 5})
			return err
		}
	}
	_, _ = c.nc.Write([]byte{0, 0, 0, 0})
	return protocolError("no supported version proposed")
}

func (c *conn) send(tag byte, fields ...any) bool {
	return writeMessage(c.w, tag, fields...) == nil
}

func (c *conn) success(meta map[string]any) bool { return c.send(msgSuccess, meta) }

func (c *conn) fail(code, message string) bool {
	c.rollback()
	c.state = stateFailed
	return c.send(msgFailure, map[string]any{"code": code, "message": message})
}

func (c *conn) failErr(err error) bool {
	var f *Failure
	if errors.As(err, &f) {
		return c.fail(f.Code, f.Message)
	}
	return c.fail("Neo.DatabaseError.General.UnknownError", err.Error())
}

func (c *conn) rollback() {
	if c.tx != nil {
		c.tx.Rollback()
		c.tx = nil
		c.s.rollbacks.Add(1)
	}
	c.results = map[int64]*result{}
	c.auto = false
}

func mapField(fields []any, i int) map[string]any {
	if i < len(fields) {
		if m, ok := fields[i].(map[string]any); ok {
			return m
		}
	}
	return map[string]any{}
}

// handle processes one message; false closes the connection.
func (c *conn) handle(msg structure) bool {
	if msg.tag == msgGoodbye {
		return false
	}
	if c.state == stateFailed {
		if msg.tag == msgReset {
			return c.reset()
		}
		return c.send(msgIgnored)
	}
	switch msg.tag {
	case msgHello:
		if c.state != stateConnected {
			return false
		}
		c.state = stateAuthentication
		return c.success(map[string]any{"server": "Neo4j/5.26.0", "connection_id": c.id, "hints": map[string]any{}})
	case msgLogon:
		if c.state != stateAuthentication {
			return false
		}
		auth := mapField(msg.fields, 0)
		if auth["scheme"] != "basic" || auth["principal"] != c.s.user || auth["credentials"] != c.s.password {
			c.send(msgFailure, map[string]any{"code": "Neo.ClientError.Security.Unauthorized", "message": "The client is unauthorized due to authentication failure."})
			return false
		}
		c.state = stateReady
		return c.success(map[string]any{})
	case msgLogoff:
		c.state = stateAuthentication
		return c.success(map[string]any{})
	case msgReset:
		return c.reset()
	case msgTelemetry:
		return c.success(map[string]any{})
	case msgRoute:
		if c.state != stateReady {
			return false
		}
		extra := mapField(msg.fields, 2)
		db, _ := extra["db"].(string)
		if db == "" {
			db = "neo4j"
		}
		addr := []any{c.s.Addr()}
		return c.success(map[string]any{"rt": map[string]any{"ttl": int64(300), "db": db, "servers": []any{
			map[string]any{"role": "ROUTE", "addresses": addr},
			map[string]any{"role": "READ", "addresses": addr},
			map[string]any{"role": "WRITE", "addresses": addr},
		}}})
	case msgBegin:
		if c.state != stateReady {
			return c.fail("Neo.ClientError.Request.Invalid", "BEGIN outside the READY state")
		}
		if !c.begin(mapField(msg.fields, 0)) {
			return c.failErr(errBegin)
		}
		c.s.begins.Add(1)
		c.state = stateTxReady
		return c.success(map[string]any{})
	case msgRun:
		return c.run(msg)
	case msgPull, msgDiscard:
		return c.pull(msg)
	case msgCommit:
		if c.state != stateTxReady && c.state != stateTxStreaming {
			return c.fail("Neo.ClientError.Request.Invalid", "COMMIT without a transaction")
		}
		err := c.tx.Commit()
		c.tx = nil
		c.results = map[int64]*result{}
		if err != nil {
			return c.failErr(err)
		}
		c.s.commits.Add(1)
		c.state = stateReady
		return c.success(map[string]any{"bookmark": "usersvc-test:" + strconv.FormatInt(time.Now().UnixNano(), 10)})
	case msgRollback:
		if c.state != stateTxReady && c.state != stateTxStreaming {
			return c.fail("Neo.ClientError.Request.Invalid", "ROLLBACK without a transaction")
		}
		c.rollback()
		c.state = stateReady
		return c.success(map[string]any{})
	}
	return c.fail("Neo.ClientError.Request.Invalid", "unsupported message")
}

var errBegin = &Failure{Code: "Neo.ClientError.Transaction.InvalidBookmark", Message: "cannot begin"}

// begin opens an executor transaction from BEGIN's or RUN's extra map:
// mode "r" is a read transaction, the rest write.
func (c *conn) begin(extra map[string]any) bool {
	c.write = extra["mode"] != "r"
	c.db, _ = extra["db"].(string)
	tx, err := c.s.exec.Begin(c.write, c.db)
	if err != nil {
		return false
	}
	c.tx = tx
	return true
}

func (c *conn) reset() bool {
	c.s.resets.Add(1)
	c.rollback()
	if c.state != stateConnected && c.state != stateAuthentication {
		c.state = stateReady
	}
	return c.success(map[string]any{})
}

func (c *conn) run(msg structure) bool {
	query, _ := fieldString(msg.fields, 0)
	params := mapField(msg.fields, 1)
	switch c.state {
	case stateReady:
		if !c.begin(mapField(msg.fields, 2)) {
			return c.failErr(errBegin)
		}
		c.auto = true
	case stateTxReady, stateTxStreaming:
	default:
		return c.fail("Neo.ClientError.Request.Invalid", "RUN in the wrong state")
	}
	c.s.runs.Add(1)
	drop, code, latency := c.s.runFault()
	if latency > 0 {
		time.Sleep(latency)
	}
	if drop {
		return false
	}
	if code != "" {
		return c.fail(code, "injected failure")
	}
	keys, records, err := c.tx.Run(query, params)
	if err != nil {
		return c.failErr(err)
	}
	qid := c.nextQID
	c.nextQID++
	c.lastQID = qid
	c.results[qid] = &result{keys: keys, records: records}
	meta := map[string]any{"fields": toAnyStrings(keys), "t_first": int64(0)}
	if c.auto {
		c.state = stateStreaming
	} else {
		c.state = stateTxStreaming
		meta["qid"] = qid
	}
	return c.success(meta)
}

func (c *conn) pull(msg structure) bool {
	if c.state != stateStreaming && c.state != stateTxStreaming {
		return c.fail("Neo.ClientError.Request.Invalid", "PULL without a result")
	}
	extra := mapField(msg.fields, 0)
	n, _ := extra["n"].(int64)
	qid, ok := extra["qid"].(int64)
	if !ok || qid < 0 {
		qid = c.lastQID
	}
	res, ok := c.results[qid]
	if !ok {
		return c.fail("Neo.ClientError.Request.Invalid", "unknown qid")
	}
	if msg.tag == msgPull {
		for (n < 0 || n > 0) && res.next < len(res.records) {
			if !c.send(msgRecord, res.records[res.next]) {
				return false
			}
			res.next++
			n--
		}
	} else {
		res.next = len(res.records)
	}
	if res.next < len(res.records) {
		return c.success(map[string]any{"has_more": true})
	}
	delete(c.results, qid)
	meta := map[string]any{"type": "r", "t_last": int64(0), "db": dbName(c.db)}
	if c.write {
		meta["type"] = "rw"
	}
	if c.auto {
		err := c.tx.Commit()
		c.tx, c.auto = nil, false
		if err != nil {
			return c.failErr(err)
		}
		c.s.commits.Add(1)
		c.state = stateReady
		meta["bookmark"] = "usersvc-test:" + strconv.FormatInt(time.Now().UnixNano(), 10)
		return c.success(meta)
	}
	if len(c.results) == 0 {
		c.state = stateTxReady
	}
	return c.success(meta)
}

func dbName(db string) string {
	if db == "" {
		return "neo4j"
	}
	return db
}

func fieldString(fields []any, i int) (string, bool) {
	if i < len(fields) {
		s, ok := fields[i].(string)
		return s, ok
	}
	return "", false
}

func toAnyStrings(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
