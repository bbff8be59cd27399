package proxy

import (
	"context"

	"github.com/usersvc/usersvc/schema"
)

// Node properties a provisioning client's identifiers live in (SCIM 2.0,
// RFC 7643 §3.1): the id this service assigns and the client's externalId.
// They are written like other_key_values entries (a node property each)
// and found through UserIndex.
const (
	SCIMIDProperty         = "scim_id"
	SCIMExternalIDProperty = "scim_external_id"
)

// IndexedUserProperties are the properties UserIndex.UserKeysByProperty
// accepts: each is indexed in Neo4j, so finding a node by one never scans.
var IndexedUserProperties = []string{schema.DirectoryIDProperty, SCIMIDProperty, SCIMExternalIDProperty}

// UserIndex is implemented by stores that can find and page user nodes by
// properties outside the user model: what the SCIM endpoint needs beyond
// Store.
type UserIndex interface {
	// UserKeysByProperty returns, sorted, the keys of the (:User) nodes whose
	// property name equals value exactly. name must be one of
	// IndexedUserProperties (else KindInvalid). An empty value matches
	// nothing: databuilder writes '' for every absent property.
	UserKeysByProperty(ctx context.Context, name, value string) ([]string, error)
	// UserProperties returns the named string properties of the node keyed
	// key; absent or empty ones are missing from the map. KindNotFound when
	// no node is keyed key; KindInvalid for a name that fails
	// schema.CheckOtherKeyName.
	UserProperties(ctx context.Context, key string, names ...string) (map[string]string, error)
	// SetUserPropertyIfAbsent sets name to value on the node keyed key unless
	// it holds a non-empty value already, in one transaction, and returns
	// the value it holds afterwards (so two concurrent callers agree).
	// KindNotFound when no node is keyed key; KindInvalid for an empty
	// value or a name that fails schema.CheckOtherKeyName. A value another
	// writer stored as a non-string counts as held.
	SetUserPropertyIfAbsent(ctx context.Context, key, name, value string) (string, error)
	// PageUserKeys returns the keys of all (:User) nodes in ascending key
	// order (Unicode code points), skipping offset and at most limit, with
	// the count of all keyed nodes; negative arguments are KindInvalid.
	PageUserKeys(ctx context.Context, offset, limit int) (keys []string, total int, err error)
}
