package schema

// ProvisionedUser is a person as a provisioning client (SCIM 2.0, RFC 7643
// §4.1 with the enterprise extension of §4.3) manages them: the attributes
// usersvc maps onto the (:User) node. Empty strings mean "no value".
type ProvisionedUser struct {
	// ID is the SCIM id usersvc assigned (node property scim_id); ExternalID
	// the client's own id for the person (scim_external_id).
	ID         string
	ExternalID string
	// UserName is the directory login: the node's user_id, lowercased, as
	// every other writer stores it; the spelling the client sent is kept
	// beside it and answered back.
	UserName   string
	GivenName  string // first_name
	FamilyName string // last_name
	Email      string // the primary (else work, else first) email
	// Emails are the client's emails as it sent them (answered back as
	// sent); Email is the one the node holds.
	Emails     []ProvisionedEmail
	Active     bool   // is_active
	Title      string // role_name
	Department string // team_name (enterprise extension)
	// ManagerID and ManagerName are the enterprise extension's manager.value
	// and manager.displayName (manager_id, manager_fullname).
	ManagerID   string
	ManagerName string
	// Rest holds the attributes the client sent that have no place of
	// their own on the node (displayName, phoneNumbers, addresses, the
	// unmapped parts of name and of the enterprise extension...), kept as
	// sent and answered back. A string displayName also names the node
	// (display_name).
	Rest map[string]any
}

// ProvisionedEmail is one value of SCIM's multi-valued emails.
type ProvisionedEmail struct {
	Value string `json:"value"`
	Type  string `json:"type,omitempty"`
	// Primary is nil when the client did not say (answered back as sent).
	Primary *bool `json:"primary,omitempty"`
}

// ProvisionQuery selects provisioned people by equality: every non-empty
// field must match (a SCIM filter of eq joined by and).
type ProvisionQuery struct {
	UserName   string // case-insensitive, as RFC 7643 declares userName
	ExternalID string // case-exact
	Email      string // a work email, case-insensitive
}
