package googleapi

import (
	"time"
)

// User is a person in the test customer, rendered in the Directory API's
// users resource shape.
type User struct {
	ID           string // the unique id (Google's are numeric strings)
	PrimaryEmail string
	GivenName    string
	FamilyName   string
	// FullName defaults to "GivenName FamilyName", as the API derives it.
	FullName      string
	DisplayName   string
	Suspended     bool
	Archived      bool
	IsAdmin       bool
	Aliases       []string
	Organizations []Organization
	Relations     []Relation
	OrgUnitPath   string
	Created       time.Time
}

// Organization is one entry of a user's organizations list.
type Organization struct {
	Name       string
	Title      string
	Department string
	Primary    bool
	Type       string // "work" unless set
}

// Relation is one entry of a user's relations list: Type "manager" with
// the manager's email as Value is how the Admin console records a manager.
type Relation struct {
	Type  string
	Value string
}

// NewUser returns an active user with the usual fields; the creation time
// is a fixed instant so tests are repeatable.
func NewUser(id, primaryEmail, given, family string) User {
	return User{
		ID: id, PrimaryEmail: primaryEmail, GivenName: given, FamilyName: family,
		OrgUnitPath: "/", Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

// addresses are the emails users.get finds the user by.
func (u User) addresses() []string {
	return append([]string{u.PrimaryEmail}, u.Aliases...)
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "1970-01-01T00:00:00.000Z"
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// json renders the user as users.get and users.list do (admin view).
func (u User) json(customerID string) map[string]any {
	full := u.FullName
	if full == "" {
		full = u.GivenName + " " + u.FamilyName
	}
	name := map[string]any{"givenName": u.GivenName, "familyName": u.FamilyName, "fullName": full}
	if u.DisplayName != "" {
		name["displayName"] = u.DisplayName
	}
	out := map[string]any{
		"kind":                       "admin#directory#user",
		"id":                         u.ID,
		"etag":                       `"` + randomID("") + `"`,
		"primaryEmail":               u.PrimaryEmail,
		"name":                       name,
		"isAdmin":                    u.IsAdmin,
		"isDelegatedAdmin":           false,
		"lastLoginTime":              "1970-01-01T00:00:00.000Z",
		"creationTime":               stamp(u.Created),
		"agreedToTerms":              true,
		"suspended":                  u.Suspended,
		"archived":                   u.Archived,
		"changePasswordAtNextLogin":  false,
		"ipWhitelisted":              false,
		"emails":                     []map[string]any{{"address": u.PrimaryEmail, "primary": true}},
		"customerId":                 customerID,
		"orgUnitPath":                u.OrgUnitPath,
		"isMailboxSetup":             true,
		"isEnrolledIn2Sv":            false,
		"isEnforcedIn2Sv":            false,
		"includeInGlobalAddressList": true,
	}
	if u.Suspended {
		out["suspensionReason"] = "ADMIN"
	}
	if len(u.Aliases) > 0 {
		out["aliases"] = u.Aliases
	}
	if len(u.Organizations) > 0 {
		orgs := make([]map[string]any, 0, len(u.Organizations))
		for _, o := range u.Organizations {
			typ := o.Type
			if typ == "" {
				typ = "work"
			}
			m := map[string]any{"type": typ, "customType": ""}
			if o.Primary {
				m["primary"] = true
			}
			for k, v := range map[string]string{"name": o.Name, "title": o.Title, "department": o.Department} {
				if v != "" {
					m[k] = v
				}
			}
			orgs = append(orgs, m)
		}
		out["organizations"] = orgs
	}
	if len(u.Relations) > 0 {
		rels := make([]map[string]any, 0, len(u.Relations))
		for _, r := range u.Relations {
			rels = append(rels, map[string]any{"type": r.Type, "value": r.Value})
		}
		out["relations"] = rels
	}
	return out
}
