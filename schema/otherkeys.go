package schema

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
)

// otherKeyName is the form of a property name that other_key_values may
// write: a plain Cypher identifier, so it never needs quoting.
var otherKeyName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// reservedProperties are the user node's own properties (DESIGN §3), which
// an other_key_values entry must not overwrite.
var reservedProperties = []string{
	"key", "user_id", "email", "first_name", "last_name", "full_name", "display_name", "is_active",
	"profile_url", "github_username", "team_name", "employee_type", "slack_id", "role_name",
	"manager_fullname", "manager_email", "manager_id", "updated_at", "other_key_values",
	"published_tag", "publisher_created_epoch_ms", "publisher_last_updated_epoch_ms", "usersvc_created_marker",
}

// CheckOtherKeyName reports why name cannot be a user node property written
// from other_key_values (or configured in USER_OTHER_KEYS), or nil.
func CheckOtherKeyName(name string) error {
	if !otherKeyName.MatchString(name) {
		return Errorf(KindInvalid, "other_key_values: key %q is not a valid property name (letters, digits and _, not starting with a digit, at most 64)", truncate(name, 80))
	}
	if slices.Contains(reservedProperties, name) {
		return Errorf(KindInvalid, "other_key_values: key %q is a property of the user node itself", name)
	}
	return nil
}

// OtherKeys are the node properties read back as other_key_values:
// Amundsen metadata's USER_OTHER_KEYS setting.
type OtherKeys []string

// DirectoryIDProperty is the node property holding a directory person's
// stable id (Okta's user id; the file directory uses the same shape). One
// person is one node: stores find a person's node by it when their key
// changes.
const DirectoryIDProperty = "okta_id"

// DefaultOtherKeys is USER_OTHER_KEYS's default: the directory's person id,
// which oidcuser writes and its sync compares. Stores opened without a
// setting (a nil OtherKeys) use it.
func DefaultOtherKeys() OtherKeys { return OtherKeys{DirectoryIDProperty} }

// ParseOtherKeys checks every configured name.
func ParseOtherKeys(names []string) (OtherKeys, error) {
	for _, n := range names {
		if err := CheckOtherKeyName(n); err != nil {
			return nil, err
		}
	}
	return OtherKeys(slices.Clone(names)), nil
}

// Read returns, as other_key_values, the configured properties that props
// holds with a non-empty value, each in its string form; nil when there are
// none (a user with no entries costs no allocation on the read path).
func (k OtherKeys) Read(props map[string]any) map[string]string {
	var out map[string]string
	for _, name := range k {
		if s, ok := PropertyString(props[name]); ok && s != "" {
			if out == nil {
				out = make(map[string]string, len(k))
			}
			out[name] = s
		}
	}
	return out
}

// Legacy fills configured keys missing from okv with the entries of a map
// written by earlier usersvc versions; it returns the (possibly new) map.
func (k OtherKeys) Legacy(okv, legacy map[string]string) map[string]string {
	for _, name := range k {
		if _, done := okv[name]; !done && legacy[name] != "" {
			if okv == nil {
				okv = map[string]string{}
			}
			okv[name] = legacy[name]
		}
	}
	return okv
}

// PropertyString is the string form of a node property value: a property
// another writer stored as a number, boolean or list must read as a
// string, never fail the request. ok is false for a missing (nil) value.
func PropertyString(v any) (string, bool) {
	switch v := v.(type) {
	case nil:
		return "", false
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case int:
		return strconv.Itoa(v), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case fmt.Stringer:
		return v.String(), true
	}
	if data, err := json.Marshal(v); err == nil {
		return string(data), true
	}
	return fmt.Sprint(v), true
}
