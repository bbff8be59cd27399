package neo4jgraph

import "maps"

// Writer adds data to the graph the way another writer (databuilder, an
// Amundsen metadata service) would, outside usersvc's statements: nodes
// with any property types, or without properties usersvc always sets.
type Writer struct{ s *state }

// Write runs fn as one committed write transaction.
func (g *Graph) Write(fn func(w Writer)) {
	tx := g.Begin(true)
	fn(Writer{tx.state})
	tx.Commit()
}

// Node creates a node with a copy of props and returns its id.
func (w Writer) Node(label string, props map[string]any) int64 {
	return w.s.create(label, maps.Clone(props)).ID
}

// Rel creates a relationship between two nodes.
func (w Writer) Rel(from int64, typ string, to int64) {
	w.s.mergeRel(w.s.nodes[from], typ, w.s.nodes[to])
}
