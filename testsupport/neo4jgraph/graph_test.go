package neo4jgraph

import (
	"testing"

	usersvcneo4j "github.com/usersvc/usersvc/proxy/neo4j"
)

func statement(t *testing.T, name string) string {
	t.Helper()
	for _, s := range usersvcneo4j.Statements() {
		if s.Name == name {
			return s.Text
		}
	}
	t.Fatalf("no statement %s", name)
	return ""
}

func TestEveryStatementIsImplemented(t *testing.T) {
	g := New() // panics on a statement without implementation
	if len(g.handlers) != len(usersvcneo4j.Statements()) {
		t.Fatalf("%d handlers for %d statements", len(g.handlers), len(usersvcneo4j.Statements()))
	}
	tx := g.Begin(false)
	defer tx.Rollback()
	if _, err := tx.Run("MATCH (n) SET n.hacked = true", nil); err == nil {
		t.Fatal("an unknown statement ran")
	}
}

func TestRollbackDiscardsAndCommitPublishes(t *testing.T) {
	g := New()
	upsert := statement(t, "UpsertUser")
	p := map[string]any{"key": "a@x.com", "props": map[string]any{"email": "a@x.com"}, "derived": map[string]any{}, "is_active": true}

	tx := g.Begin(true)
	if _, err := tx.Run(upsert, p); err != nil {
		t.Fatal(err)
	}
	tx.Rollback()
	if nodes, _ := g.Snapshot(); len(nodes) != 0 {
		t.Fatalf("rollback kept %d nodes", len(nodes))
	}

	tx = g.Begin(true)
	res, err := tx.Run(upsert, p)
	if err != nil {
		t.Fatal(err)
	}
	if created := res.Records[0][3]; created != true {
		t.Fatalf("created = %v on first upsert", created)
	}
	tx.Commit()
	if nodes, _ := g.Snapshot(); len(nodes) != 1 || nodes[0].Props["email"] != "a@x.com" {
		t.Fatalf("after commit: %+v", nodes)
	}
	tx = g.Begin(true)
	defer tx.Rollback()
	if _, err := tx.Run(upsert, map[string]any{"key": 1}); err == nil {
		t.Fatal("a parameter of the wrong type was accepted")
	}
}
