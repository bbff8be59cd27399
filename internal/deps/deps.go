// Package deps pins modules that later packages use, so parallel work does
// not race on go.mod. It is removed once real imports exist.
package deps

import (
	_ "github.com/coreos/go-oidc/v3/oidc"
	_ "github.com/go-jose/go-jose/v4"
	_ "github.com/neo4j/neo4j-go-driver/v5/neo4j"
	_ "github.com/okta/okta-sdk-golang/v2/okta"
	_ "golang.org/x/sync/singleflight"
)
