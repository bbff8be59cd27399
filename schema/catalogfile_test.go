package schema_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/usersvc/usersvc/schema"
)

func TestReadCatalogFile(t *testing.T) {
	c, err := schema.ReadCatalogFile("../examples/catalog.json")
	if err != nil || len(c.Tables) == 0 {
		t.Fatalf("examples/catalog.json: %d tables, %v", len(c.Tables), err)
	}
	bad := filepath.Join(t.TempDir(), "catalog.json")
	if err := os.WriteFile(bad, []byte(`{"tabels": []}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := schema.ReadCatalogFile(bad); err == nil || !strings.Contains(err.Error(), `unknown field "tabels"`) || !strings.Contains(err.Error(), bad) {
		t.Fatalf("a misspelt key = %v, want an error naming the file and the field", err)
	}
	if _, err := schema.ReadCatalogFile(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Fatal("a missing file read without error")
	}
}
