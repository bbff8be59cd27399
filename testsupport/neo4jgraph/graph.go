// Package neo4jgraph is an in-memory property graph that executes usersvc's
// own Cypher statements (proxy/neo4j.Statements, matched by text) with
// Neo4j's semantics, behind the Bolt test server. It is not a Cypher engine:
// each statement has a Go implementation, and any other text is refused as
// a syntax error, so a statement the store runs but the tests do not cover
// cannot slip through.
package neo4jgraph

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	usersvcneo4j "github.com/usersvc/usersvc/proxy/neo4j"
)

// Node is a graph node.
type Node struct {
	ID     int64
	Labels []string
	Props  map[string]any
}

// Rel is a directed relationship.
type Rel struct {
	ID       int64
	Type     string
	From, To int64
	Props    map[string]any
}

// Error is a Neo4j status failure (code like Neo.ClientError.Statement.SyntaxError).
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Result is a statement's columns and rows.
type Result struct {
	Keys    []string
	Records [][]any
}

// state is one immutable version of the graph; write transactions work on a
// clone and commit by swapping it in.
type state struct {
	nodes       map[int64]*Node
	rels        map[int64]*Rel
	next        int64
	constraints map[string]bool
}

func (s *state) clone() *state {
	c := &state{
		nodes:       make(map[int64]*Node, len(s.nodes)),
		rels:        make(map[int64]*Rel, len(s.rels)),
		next:        s.next,
		constraints: maps.Clone(s.constraints),
	}
	for id, n := range s.nodes {
		c.nodes[id] = &Node{ID: n.ID, Labels: slices.Clone(n.Labels), Props: maps.Clone(n.Props)}
	}
	for id, r := range s.rels {
		c.rels[id] = &Rel{ID: r.ID, Type: r.Type, From: r.From, To: r.To, Props: maps.Clone(r.Props)}
	}
	return c
}

type handler func(tx *state, p params, now int64) (Result, error)

// Graph holds the committed state. Write transactions are serialised (as a
// uniqueness constraint serialises concurrent MERGEs in Neo4j); reads see the
// last committed state.
type Graph struct {
	mu        sync.Mutex
	committed *state
	writer    sync.Mutex
	now       func() time.Time
	handlers  map[string]handler
	names     map[string]string // statement text → name
	txLog     [][]string        // statement names of each committed write transaction
}

// WriteTransactions returns, for every committed write transaction in
// order, the names of the statements it ran: what the in-memory graph can
// show about how statements are combined into transactions.
func (g *Graph) WriteTransactions() [][]string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.txLog)
}

// New returns an empty graph that knows every statement of proxy/neo4j.
func New() *Graph { return NewWith() }

// NewWith is New that also serves extra statements (the test fixtures of
// proxy/neo4j, which only its tests hold), each of which must have an
// implementation here.
func NewWith(extra ...usersvcneo4j.Statement) *Graph {
	g := &Graph{
		committed: &state{nodes: map[int64]*Node{}, rels: map[int64]*Rel{}, constraints: map[string]bool{}},
		now:       time.Now,
	}
	impl := implementations()
	g.handlers = make(map[string]handler, len(impl))
	g.names = map[string]string{}
	for _, st := range append(usersvcneo4j.Statements(), extra...) {
		g.names[st.Text] = st.Name
		h, ok := impl[st.Name]
		if !ok {
			panic(fmt.Sprintf("neo4jgraph: statement %s has no implementation", st.Name))
		}
		g.handlers[st.Text] = h
	}
	return g
}

// Tx is one transaction.
type Tx struct {
	g     *Graph
	state *state
	write bool
	done  bool
	ran   []string
}

// Begin starts a transaction; a write transaction holds the writer lock
// until Commit or Rollback.
func (g *Graph) Begin(write bool) *Tx {
	if write {
		g.writer.Lock()
	}
	g.mu.Lock()
	s := g.committed
	g.mu.Unlock()
	if write {
		s = s.clone()
	}
	return &Tx{g: g, state: s, write: write}
}

// Run executes one statement.
func (t *Tx) Run(query string, parameters map[string]any) (Result, error) {
	h, ok := t.g.handlers[query]
	if !ok {
		return Result{}, &Error{Code: "Neo.ClientError.Statement.SyntaxError", Message: "statement not known to the test graph"}
	}
	t.ran = append(t.ran, t.g.names[query])
	return h(t.state, params(parameters), t.g.now().UnixMilli())
}

// Commit makes a write transaction's changes visible.
func (t *Tx) Commit() {
	if t.done {
		return
	}
	t.done = true
	if t.write {
		t.g.mu.Lock()
		t.g.committed = t.state
		t.g.txLog = append(t.g.txLog, t.ran)
		t.g.mu.Unlock()
		t.g.writer.Unlock()
	}
}

// Rollback discards the transaction.
func (t *Tx) Rollback() {
	if t.done {
		return
	}
	t.done = true
	if t.write {
		t.g.writer.Unlock()
	}
}

// Snapshot returns copies of every node and relationship, for assertions.
func (g *Graph) Snapshot() ([]Node, []Rel) {
	g.mu.Lock()
	s := g.committed
	g.mu.Unlock()
	var nodes []Node
	for _, n := range s.nodes {
		nodes = append(nodes, Node{ID: n.ID, Labels: slices.Clone(n.Labels), Props: maps.Clone(n.Props)})
	}
	var rels []Rel
	for _, r := range s.rels {
		rels = append(rels, Rel{ID: r.ID, Type: r.Type, From: r.From, To: r.To, Props: maps.Clone(r.Props)})
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].ID < nodes[j].ID })
	sort.Slice(rels, func(i, j int) bool { return rels[i].ID < rels[j].ID })
	return nodes, rels
}

// HasConstraint reports whether the named constraint was created.
func (g *Graph) HasConstraint(name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.committed.constraints[name]
}

// --- graph primitives ---

func (s *state) find(label, key string) *Node {
	for _, n := range s.nodes {
		if slices.Contains(n.Labels, label) && n.Props["key"] == key {
			return n
		}
	}
	return nil
}

func (s *state) nodesWith(label string) []*Node {
	var out []*Node
	for _, n := range s.nodes {
		if slices.Contains(n.Labels, label) {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (s *state) create(label string, props map[string]any) *Node {
	s.next++
	n := &Node{ID: s.next, Labels: []string{label}, Props: props}
	s.nodes[n.ID] = n
	return n
}

// merge finds or creates the node with label and key.
func (s *state) merge(label, key string) (*Node, bool) {
	if n := s.find(label, key); n != nil {
		return n, false
	}
	return s.create(label, map[string]any{"key": key}), true
}

func (s *state) out(from *Node, typ string) []*Rel {
	var rs []*Rel
	for _, r := range s.rels {
		if r.From == from.ID && r.Type == typ {
			rs = append(rs, r)
		}
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].ID < rs[j].ID })
	return rs
}

func (s *state) in(to *Node, typ string) []*Rel {
	var rs []*Rel
	for _, r := range s.rels {
		if r.To == to.ID && r.Type == typ {
			rs = append(rs, r)
		}
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].ID < rs[j].ID })
	return rs
}

// neighbour follows a single relationship of typ out of n to a node with
// label, as a MATCH of one hop does (the first match; our data has one).
func (s *state) neighbour(n *Node, typ, label string, outgoing bool) *Node {
	rels := s.in(n, typ)
	if outgoing {
		rels = s.out(n, typ)
	}
	for _, r := range rels {
		id := r.From
		if outgoing {
			id = r.To
		}
		if m := s.nodes[id]; m != nil && slices.Contains(m.Labels, label) {
			return m
		}
	}
	return nil
}

func (s *state) rel(from *Node, typ string, to *Node) *Rel {
	for _, r := range s.out(from, typ) {
		if r.To == to.ID {
			return r
		}
	}
	return nil
}

// mergeRel finds or creates from-[typ]->to.
func (s *state) mergeRel(from *Node, typ string, to *Node) *Rel {
	if r := s.rel(from, typ, to); r != nil {
		return r
	}
	s.next++
	r := &Rel{ID: s.next, Type: typ, From: from.ID, To: to.ID, Props: map[string]any{}}
	s.rels[r.ID] = r
	return r
}

func (s *state) deleteRel(r *Rel) {
	if r != nil {
		delete(s.rels, r.ID)
	}
}

// props returns n's properties as `n {.*}` does: a copy.
func props(n *Node) map[string]any {
	if n == nil {
		return nil
	}
	return maps.Clone(n.Props)
}

func prop(n *Node, name string) any {
	if n == nil {
		return nil
	}
	return n.Props[name]
}

// params reads typed parameters and reports type errors as Neo4j does.
type params map[string]any

func (p params) str(name string) (string, error) {
	v, ok := p[name]
	if !ok {
		return "", &Error{Code: "Neo.ClientError.Statement.ParameterMissing", Message: "Expected parameter(s): " + name}
	}
	s, ok := v.(string)
	if !ok {
		return "", &Error{Code: "Neo.ClientError.Statement.TypeError", Message: fmt.Sprintf("parameter %s is %T, not a string", name, v)}
	}
	return s, nil
}

func (p params) value(name string) (any, error) {
	v, ok := p[name]
	if !ok {
		return nil, &Error{Code: "Neo.ClientError.Statement.ParameterMissing", Message: "Expected parameter(s): " + name}
	}
	return v, nil
}

// strs reads several string parameters at once.
func (p params) strs(names ...string) ([]string, error) {
	out := make([]string, len(names))
	for i, n := range names {
		s, err := p.str(n)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}
