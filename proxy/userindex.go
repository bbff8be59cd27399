package proxy

import (
	"context"
	"slices"

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

// ClearableUserFields are the user node's own properties that
// UserIndex.ClearUserProperties removes: the user model's string fields
// (their JSON names, which are the property names) apart from user_id, the
// node's identity. The key, is_active and the publisher's bookkeeping are
// never cleared.
var ClearableUserFields = []string{
	"first_name", "last_name", "full_name", "display_name", "email", "team_name", "role_name",
	"manager_id", "manager_email", "manager_fullname", "employee_type", "github_username", "slack_id", "profile_url",
}

// CheckClearableUserProperty reports, as KindInvalid, why name cannot be
// cleared by UserIndex.ClearUserProperties, or nil: it must be one of
// ClearableUserFields or a name schema.CheckOtherKeyName accepts.
func CheckClearableUserProperty(name string) error {
	if slices.Contains(ClearableUserFields, name) {
		return nil
	}
	if err := schema.CheckOtherKeyName(name); err != nil {
		return schema.Errorf(schema.KindInvalid, "user property %q cannot be cleared", truncateName(name))
	}
	return nil
}

// truncateName shortens a refused name for an error message.
func truncateName(name string) string {
	if r := []rune(name); len(r) > 80 {
		return string(r[:80]) + "…"
	}
	return name
}

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
	// PageSCIMUserKeys is PageUserKeys over the nodes that hold a non-empty
	// SCIMIDProperty only: the people a SCIM client lists.
	PageSCIMUserKeys(ctx context.Context, offset, limit int) (keys []string, total int, err error)
	// ClearUserProperties removes each named property from the node keyed
	// key, in one transaction, and stamps its
	// publisher_last_updated_epoch_ms as other writes do: what a SCIM
	// replace or remove needs, since CreateUpdateUser never overwrites a
	// stored value with an empty one. Afterwards GetUser shows a cleared
	// field empty and UserProperties leaves a cleared name out. Names may
	// be ClearableUserFields or any name schema.CheckOtherKeyName accepts
	// (scim_external_id, okta_id, ...); any other (key, user_id, is_active,
	// published_tag, publisher_*, usersvc_created_marker, other_key_values,
	// a malformed name) is KindInvalid and nothing is written.
	// KindNotFound when no node is keyed key, also for a call without
	// names, which writes nothing. Clearing an absent property is no error
	// (and still stamps the node). An entry of a cleared name in the
	// other_key_values map earlier usersvc versions stored is removed too,
	// so it does not read back in its place.
	//
	// The manager: GetUser reads the manager's email and name from the
	// node, else over its MANAGE_BY edge (as databuilder links them), else
	// from the node keyed manager_email. When names holds both
	// manager_email and manager_id, the node's MANAGE_BY edges to users,
	// with their reverse MANAGE edges, are deleted in the same transaction,
	// so clearing manager_email, manager_id and manager_fullname leaves no
	// manager to read back. Clearing only one of the two keeps the edges.
	ClearUserProperties(ctx context.Context, key string, names ...string) error
}
