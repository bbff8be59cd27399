package neo4j

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

type lintResult struct {
	Name        string `json:"name"`
	Diagnostics []struct {
		Severity int    `json:"severity"`
		Message  string `json:"message"`
		Offset   int    `json:"offset"`
	} `json:"diagnostics"`
}

// lint runs Neo4j's official Cypher parser (npm @neo4j-cypher/language-support)
// over statements.
func lint(t *testing.T, statements []Statement) []lintResult {
	t.Helper()
	dir := filepath.Join("..", "..", "testsupport", "cypherlint")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@neo4j-cypher", "language-support")); err != nil {
		t.Fatalf("the Cypher linter is not installed: run `npm ci --prefix testsupport/cypherlint` (make test does)")
	}
	type input struct {
		Name   string   `json:"name"`
		Text   string   `json:"text"`
		Params []string `json:"params"`
	}
	var in []input
	for _, s := range statements {
		in = append(in, input(s))
	}
	data, _ := json.Marshal(in)
	cmd := exec.Command("node", "lint.mjs")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(data)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("cypher linter: %v\n%s", err, stderr.String())
	}
	var results []lintResult
	if err := json.Unmarshal(out, &results); err != nil {
		t.Fatalf("linter output: %v\n%s", err, out)
	}
	if len(results) != len(statements) {
		t.Fatalf("linter answered %d results for %d statements", len(results), len(statements))
	}
	return results
}

// TestStatementsLintClean: every statement the store runs parses and passes
// Neo4j's semantic analysis with no diagnostic at all (undefined variables,
// undeclared parameters, syntax errors).
func TestStatementsLintClean(t *testing.T) {
	statements := append(Statements(), FixtureStatements()...)
	for _, r := range lint(t, statements) {
		for _, d := range r.Diagnostics {
			t.Errorf("%s: severity %d at %d: %s", r.Name, d.Severity, d.Offset, d.Message)
		}
	}
}

// TestLinterCatchesBrokenStatements proves the check can fail.
func TestLinterCatchesBrokenStatements(t *testing.T) {
	broken := []Statement{
		{"syntax", strings.Replace(stmtGetUser, "{key: $key}", "{key: $key", 1), []string{"key"}},
		{"undefined variable", strings.Replace(stmtGetUser, "m.full_name", "manager.full_name", 1), []string{"key"}},
		{"undeclared parameter", stmtGetUser, nil},
		{"misspelled clause", strings.Replace(stmtUpsertUser, "ON MATCH SET", "ON MATCH SETT", 1), []string{"key", "props", "is_active"}},
	}
	for _, r := range lint(t, broken) {
		if len(r.Diagnostics) == 0 {
			t.Errorf("%s: the linter found nothing wrong", r.Name)
		}
	}
}

// TestEveryStatementIsRegistered keeps Statements() complete: each stmt
// constant in statements.go and each generated relation statement must be
// listed, so none escapes the linter.
func TestEveryStatementIsRegistered(t *testing.T) {
	src, err := os.ReadFile("statements.go")
	if err != nil {
		t.Fatal(err)
	}
	declared := 0
	for _, line := range strings.Split(string(src), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(line, "const "))
		if strings.HasPrefix(line, "stmt") && strings.Contains(line, "= `") {
			declared++
		}
	}
	generated := len(RelationStatements())
	if got := len(Statements()); got != declared+generated {
		t.Fatalf("statements.go declares %d statements and the relation table generates %d, Statements() lists %d",
			declared, generated, got)
	}
}
