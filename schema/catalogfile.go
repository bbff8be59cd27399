package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
)

// ReadCatalogFile decodes a catalog file (EMBEDDED_CATALOG_FILE's format:
// a Catalog as JSON). Unknown fields are refused, so a misspelt key is an
// error rather than a silently empty field.
func ReadCatalogFile(path string) (Catalog, error) {
	var c Catalog
	data, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}
