// Package docs carries usersvc's OpenAPI document (openapi.yaml, the one
// source) into the binary.
package docs

import (
	_ "embed"

	"sigs.k8s.io/yaml"
)

//go:embed openapi.yaml
var openAPIYAML []byte

// OpenAPIYAML returns the document as written.
func OpenAPIYAML() []byte { return append([]byte(nil), openAPIYAML...) }

// OpenAPIJSON returns the document as JSON, as GET /openapi.json serves it.
func OpenAPIJSON() ([]byte, error) { return yaml.YAMLToJSON(openAPIYAML) }
