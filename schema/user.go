package schema

import (
	"encoding/json"
	"slices"
	"strings"
)

// User is Amundsen's UserSchema (amundsen_common.models.user). Empty strings
// mean "no value" and are emitted as JSON null, so every response carries all
// 17 keys the Amundsen frontend expects.
type User struct {
	UserID          string            `json:"user_id" validate:"idchars"`
	Email           string            `json:"email" validate:"idchars"`
	FirstName       string            `json:"first_name" validate:"max=4096"`
	LastName        string            `json:"last_name" validate:"max=4096"`
	FullName        string            `json:"full_name" validate:"max=4096"`
	DisplayName     string            `json:"display_name" validate:"max=4096"`
	GithubUsername  string            `json:"github_username" validate:"max=4096"`
	TeamName        string            `json:"team_name" validate:"max=4096"`
	SlackID         string            `json:"slack_id" validate:"max=4096"`
	EmployeeType    string            `json:"employee_type" validate:"max=4096"`
	ManagerFullname string            `json:"manager_fullname" validate:"max=4096"`
	ManagerEmail    string            `json:"manager_email" validate:"max=4096"`
	ManagerID       string            `json:"manager_id" validate:"max=4096"`
	RoleName        string            `json:"role_name" validate:"max=4096"`
	ProfileURL      string            `json:"profile_url" validate:"max=4096"`
	IsActive        bool              `json:"is_active"`
	OtherKeyValues  map[string]string `json:"other_key_values" validate:"max=256,dive,keys,max=256,endkeys,max=4096"`
	// NodeKey, when set, is the graph key of the node, which then differs
	// from the user id: a directory person is keyed by email while user_id
	// holds their login (DESIGN §3). Never read from or written to JSON.
	NodeKey string `json:"-" validate:"-"`

	// Derived marks the fields Normalize filled from other fields rather
	// than the caller sending them. It is not part of the JSON shape.
	Derived Derived `json:"-"`
}

// Derived is a set of fields that Amundsen's derivation rules filled.
type Derived uint8

// The derivable fields.
const (
	DerivedUserID Derived = 1 << iota
	DerivedFullName
	DerivedDisplayName
)

// Has reports whether f is in the set.
func (d Derived) Has(f Derived) bool { return d&f != 0 }

// derivedFields ties each derivable field to its User field.
var derivedFields = [...]struct {
	flag Derived
	name string
	ptr  func(*User) *string
}{
	{DerivedUserID, "user_id", func(u *User) *string { return &u.UserID }},
	{DerivedFullName, "full_name", func(u *User) *string { return &u.FullName }},
	{DerivedDisplayName, "display_name", func(u *User) *string { return &u.DisplayName }},
}

// DerivedValues returns the values Normalize derived, by property name.
func (u *User) DerivedValues() map[string]string {
	out := map[string]string{}
	for _, f := range derivedFields {
		if u.Derived.Has(f.flag) {
			if v := *f.ptr(u); v != "" {
				out[f.name] = v
			}
		}
	}
	return out
}

// Key is the graph key of the user: NodeKey when set, else the normalised
// user id.
func (u User) Key() string {
	if u.NodeKey != "" {
		return UserKey(u.NodeKey)
	}
	return UserKey(u.UserID)
}

// WriteKey is Key for a store about to write u: the key must not be empty
// and every other_key_values name must be one a store can hold as a node
// property. Every store checks the same way before it writes anything.
func (u User) WriteKey() (string, error) {
	key := u.Key()
	if key == "" {
		return "", Errorf(KindInvalid, MsgNoUserID)
	}
	for name := range u.OtherKeyValues {
		if err := CheckOtherKeyName(name); err != nil {
			return "", err
		}
	}
	return key, nil
}

// stringField ties a JSON key to the User field it fills. The table is the
// single source of the 15 string keys, shared by decoding and encoding.
type stringField struct {
	name string
	ptr  func(*User) *string
}

var userStringFields = [...]stringField{
	{"user_id", func(u *User) *string { return &u.UserID }},
	{"email", func(u *User) *string { return &u.Email }},
	{"first_name", func(u *User) *string { return &u.FirstName }},
	{"last_name", func(u *User) *string { return &u.LastName }},
	{"full_name", func(u *User) *string { return &u.FullName }},
	{"display_name", func(u *User) *string { return &u.DisplayName }},
	{"github_username", func(u *User) *string { return &u.GithubUsername }},
	{"team_name", func(u *User) *string { return &u.TeamName }},
	{"slack_id", func(u *User) *string { return &u.SlackID }},
	{"employee_type", func(u *User) *string { return &u.EmployeeType }},
	{"manager_fullname", func(u *User) *string { return &u.ManagerFullname }},
	{"manager_email", func(u *User) *string { return &u.ManagerEmail }},
	{"manager_id", func(u *User) *string { return &u.ManagerID }},
	{"role_name", func(u *User) *string { return &u.RoleName }},
	{"profile_url", func(u *User) *string { return &u.ProfileURL }},
}

// userJSONKeys are the string keys as the encoder writes them, quoted, with
// their colon and separating comma: constant text, escaped once.
var userJSONKeys = func() (keys [len(userStringFields)]string) {
	for i, f := range userStringFields {
		k := string(AppendJSONString(nil, f.name, true)) + ":"
		if i > 0 {
			k = "," + k
		}
		keys[i] = k
	}
	return keys
}()

// stringValues are the string fields in userStringFields order, read
// without the table's accessors: calling them through the table would move u
// to the heap on every encode (TestStringValuesFollowTheTable keeps the two
// in step).
func (u *User) stringValues() [len(userStringFields)]string {
	return [...]string{u.UserID, u.Email, u.FirstName, u.LastName, u.FullName, u.DisplayName, u.GithubUsername,
		u.TeamName, u.SlackID, u.EmployeeType, u.ManagerFullname, u.ManagerEmail, u.ManagerID, u.RoleName, u.ProfileURL}
}

// MarshalJSON writes the Amundsen UserSchema shape: all 17 keys, empty
// strings as null, other_key_values as an object (never null).
func (u User) MarshalJSON() ([]byte, error) {
	return u.AppendJSON(make([]byte, 0, u.JSONSize())), nil
}

// JSONSize is about the length of u's JSON: the capacity that makes
// AppendJSON allocate at most once.
func (u *User) JSONSize() int {
	size := 320 // the keys, nulls and punctuation
	for _, v := range u.stringValues() {
		size += len(v)
	}
	for k, v := range u.OtherKeyValues {
		size += len(k) + len(v) + 6
	}
	return size
}

// AppendJSON appends MarshalJSON's encoding of u to buf, so a caller may
// encode into a buffer it reuses.
func (u *User) AppendJSON(buf []byte) []byte {
	vals := u.stringValues()
	buf = append(buf, '{')
	for i, v := range vals {
		buf = append(buf, userJSONKeys[i]...)
		if v != "" {
			buf = AppendJSONString(buf, v, true)
		} else {
			buf = append(buf, "null"...)
		}
	}
	buf = append(buf, `,"is_active":`...)
	if u.IsActive {
		buf = append(buf, "true"...)
	} else {
		buf = append(buf, "false"...)
	}
	buf = append(buf, `,"other_key_values":{`...)
	var few [8]string // USER_OTHER_KEYS is short: the keys sort on the stack
	keys := few[:0]
	for k := range u.OtherKeyValues {
		keys = append(keys, k)
	}
	slices.Sort(keys) // as encoding/json orders map keys
	for i, k := range keys {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = AppendJSONString(buf, k, true)
		buf = append(buf, ':')
		buf = AppendJSONString(buf, u.OtherKeyValues[k], true)
	}
	return append(buf, "}}"...)
}

// UnmarshalJSON accepts the UserSchema shape leniently (it is used to read
// stored records and fixtures); request bodies go through UserDecoder, which
// reports every problem by field.
func (u *User) UnmarshalJSON(data []byte) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return err
	}
	parsed, problems := parseUserFields(fields)
	if len(problems) > 0 {
		return Errorf(KindInvalid, "%s", strings.Join(problems, "; "))
	}
	*u = parsed
	return nil
}

// parseUserFields maps decoded JSON members onto a User, reporting type
// problems as "field: reason". Unknown keys are ignored, as in Amundsen.
func parseUserFields(fields map[string]json.RawMessage) (User, []string) {
	u := User{IsActive: true}
	var problems []string
	for _, f := range userStringFields {
		raw, ok := fields[f.name]
		if !ok || isJSONNull(raw) {
			continue
		}
		if err := json.Unmarshal(raw, f.ptr(&u)); err != nil {
			problems = append(problems, f.name+": must be a string or null")
		}
	}
	if raw, ok := fields["is_active"]; ok {
		if isJSONNull(raw) {
			problems = append(problems, "is_active: must be a boolean, not null")
		} else if v, ok := parseBoolean(raw); ok {
			u.IsActive = v
		} else {
			problems = append(problems, "is_active: must be a boolean")
		}
	}
	if raw, ok := fields["other_key_values"]; ok && !isJSONNull(raw) {
		if err := json.Unmarshal(raw, &u.OtherKeyValues); err != nil {
			problems = append(problems, "other_key_values: must be an object of string values")
		}
	}
	return u, problems
}

func isJSONNull(raw json.RawMessage) bool {
	return strings.TrimSpace(string(raw)) == "null"
}

// Exact messages of Amundsen's UserSchema schema-level validation.
const (
	MsgNoDisplayName = `"display_name", "full_name", or "email" must be provided`
	MsgNoUserID      = `"user_id" or "email" must be provided`
)

// Normalize trims every string field and applies Amundsen's derivation rules
// in order: blank user_id from email; blank full_name from "first last" when
// both are set; blank display_name from full_name, else email. Each derived
// field is marked in Derived, so that stores fill it only where the stored
// node has no value: a derived value never erases a stored one.
func (u *User) Normalize() {
	for _, f := range userStringFields {
		p := f.ptr(u)
		*p = strings.TrimSpace(*p)
	}
	if u.UserID == "" && u.Email != "" {
		u.UserID = u.Email
		u.Derived |= DerivedUserID
	}
	if u.FullName == "" && u.FirstName != "" && u.LastName != "" {
		u.FullName = u.FirstName + " " + u.LastName
		u.Derived |= DerivedFullName
	}
	if u.DisplayName == "" {
		if u.FullName != "" {
			u.DisplayName = u.FullName
		} else {
			u.DisplayName = u.Email
		}
		if u.DisplayName != "" {
			u.Derived |= DerivedDisplayName
		}
	}
}

// requiredProblems returns Amundsen's schema-level errors for a normalised
// user, in Amundsen's order.
func (u *User) requiredProblems() []string {
	var problems []string
	if IsBlank(u.DisplayName) {
		problems = append(problems, MsgNoDisplayName)
	}
	if IsBlank(u.UserID) {
		problems = append(problems, MsgNoUserID)
	}
	return problems
}

// MergeNonEmpty returns stored updated with every non-empty value of incoming:
// an empty incoming value never erases a stored one, and a value incoming
// derived (see Normalize) only fills a field stored has empty. IsActive
// always follows incoming because it has no empty state.
func MergeNonEmpty(stored, incoming User) User {
	merged := stored
	for _, f := range userStringFields {
		if v := *f.ptr(&incoming); v != "" {
			*f.ptr(&merged) = v
		}
	}
	for _, f := range derivedFields {
		if incoming.Derived.Has(f.flag) && *f.ptr(&stored) != "" {
			*f.ptr(&merged) = *f.ptr(&stored)
		}
	}
	merged.IsActive = incoming.IsActive
	if len(incoming.OtherKeyValues) > 0 {
		okv := make(map[string]string, len(stored.OtherKeyValues)+len(incoming.OtherKeyValues))
		for k, v := range stored.OtherKeyValues {
			okv[k] = v
		}
		for k, v := range incoming.OtherKeyValues {
			if v != "" {
				okv[k] = v
			}
		}
		merged.OtherKeyValues = okv
	}
	return merged
}

// IsStub reports whether the user node carries no name at all: the minimal
// node that a follow/own write creates for an id the graph did not know.
func (u User) IsStub() bool {
	return u.FirstName == "" && u.LastName == "" && u.FullName == "" && u.DisplayName == ""
}
