package okta

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/schema"
)

// Okta user statuses that mean the person no longer works here.
var inactiveStatuses = map[string]bool{"SUSPENDED": true, "DEPROVISIONED": true}

// User is the part of an Okta user object (the Users API's JSON shape)
// that usersvc maps.
type User struct {
	ID          string         `json:"id"`
	Status      string         `json:"status"`
	LastUpdated time.Time      `json:"lastUpdated"`
	Profile     map[string]any `json:"profile"`
	Links       struct {
		Self struct {
			Href string `json:"href"`
		} `json:"self"`
	} `json:"_links"`
}

func (o User) profileString(name string) string {
	s, _ := o.Profile[name].(string)
	return strings.TrimSpace(s)
}

// Login is the profile's login (unique in the org, case-insensitively).
func (o User) Login() string { return o.profileString("login") }

// Email is the profile's primary email (not unique).
func (o User) Email() string { return o.profileString("email") }

// ToUser maps an Okta profile onto Amundsen's user (DESIGN §5): title is the
// role, department the team, userType the employee type; SUSPENDED and
// DEPROVISIONED people are inactive. The login is the user id.
func (o User) ToUser() schema.User {
	u := schema.User{
		UserID:          o.Login(),
		Email:           o.Email(),
		FirstName:       o.profileString("firstName"),
		LastName:        o.profileString("lastName"),
		DisplayName:     o.profileString("displayName"),
		RoleName:        o.profileString("title"),
		TeamName:        o.profileString("department"),
		EmployeeType:    o.profileString("userType"),
		ManagerFullname: o.profileString("manager"),
		ManagerID:       o.profileString("managerId"),
		ProfileURL:      o.profileString("profileUrl"),
		IsActive:        !inactiveStatuses[strings.ToUpper(o.Status)],
	}
	if u.FirstName != "" && u.LastName != "" {
		u.FullName = u.FirstName + " " + u.LastName
	}
	if u.DisplayName == "" {
		u.DisplayName = u.FullName
	}
	if u.ProfileURL == "" {
		u.ProfileURL = o.Links.Self.Href
	}
	if o.ID != "" {
		u.OtherKeyValues = map[string]string{oidcuser.OtherKeyOktaID: o.ID}
	}
	u.Normalize()
	return u
}

// Person is the Okta user as a directory person.
func (o User) Person() oidcuser.Person {
	return oidcuser.Person{ID: o.ID, Login: o.Login(), Email: o.Email(), LastUpdated: o.LastUpdated, User: o.ToUser()}
}

func persons(users []User) []oidcuser.Person {
	out := make([]oidcuser.Person, len(users))
	for i, u := range users {
		out[i] = u.Person()
	}
	return out
}

// SearchEqual builds an Okta search expression `attr eq "value"`, escaping the
// two characters SCIM string literals give meaning to. Control characters
// are refused: ids reaching here were already checked, but the filter
// grammar must never see them.
func SearchEqual(attr, value string) (string, error) {
	if !utf8.ValidString(value) || schema.HasControl(value) {
		return "", schema.Errorf(schema.KindInvalid, "search value must be UTF-8 without control characters")
	}
	var b strings.Builder
	b.Grow(len(attr) + len(value) + 8)
	b.WriteString(attr)
	b.WriteString(` eq "`)
	for _, r := range value {
		if r == '"' || r == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String(), nil
}
