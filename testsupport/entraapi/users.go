package entraapi

import (
	"fmt"
	"strings"
)

// User is a person in the test tenant, rendered in the shape of Microsoft
// Graph v1.0's user resource (the properties usersvc reads).
type User struct {
	ID                string // the object id, a GUID
	UserPrincipalName string // unique, compared case-insensitively
	Mail              string // not unique; "" for none
	OtherMails        []string
	GivenName         string
	Surname           string
	DisplayName       string
	JobTitle          string
	Department        string
	AccountEnabled    bool
	// ManagerID is the object id of the person's manager ("" for none): the
	// manager navigation property.
	ManagerID string
}

// NewUser returns an enabled user whose displayName is "given surname".
func NewUser(id, upn, mail, given, surname string) User {
	return User{
		ID: id, UserPrincipalName: upn, Mail: mail, GivenName: given, Surname: surname,
		DisplayName: strings.TrimSpace(given + " " + surname), AccountEnabled: true,
	}
}

// ObjectID returns a GUID-shaped object id for the i-th test user, so
// fixtures are repeatable.
func ObjectID(i int) string {
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
}

// properties lists the user properties the server knows, in the order the
// real service renders them. Graph's v1.0 user resource has many more; a
// $select naming one of those is accepted and rendered as null.
var properties = []string{
	"id", "accountEnabled", "businessPhones", "department", "displayName", "givenName", "jobTitle",
	"mail", "mobilePhone", "officeLocation", "otherMails", "preferredLanguage", "surname", "userPrincipalName",
}

// otherProperties are real v1.0 user properties the test tenant holds no
// value for (a $select of them is valid and answers null).
var otherProperties = []string{
	"aboutMe", "ageGroup", "city", "companyName", "country", "createdDateTime", "employeeId", "employeeType",
	"faxNumber", "lastPasswordChangeDateTime", "mailNickname", "onPremisesSamAccountName", "onPremisesSyncEnabled",
	"postalCode", "proxyAddresses", "state", "streetAddress", "usageLocation", "userType",
}

// defaultProperties is what GET /users and GET /users/{id} return without
// $select: "By default, only a limited set of properties are returned
// (businessPhones, displayName, givenName, id, jobTitle, mail, mobilePhone,
// officeLocation, preferredLanguage, surname, and userPrincipalName)"
// (Microsoft Graph v1.0 reference, "List users" and "Get user").
// accountEnabled and department are not among them: a client that forgets
// $select cannot tell a disabled account.
var defaultProperties = []string{
	"businessPhones", "displayName", "givenName", "id", "jobTitle", "mail", "mobilePhone",
	"officeLocation", "preferredLanguage", "surname", "userPrincipalName",
}

// knownProperty reports whether name is a user property (case-insensitive,
// as Graph matches property names in $select), and its canonical spelling.
func knownProperty(name string) (string, bool) {
	for _, list := range [][]string{properties, otherProperties} {
		for _, p := range list {
			if strings.EqualFold(p, name) {
				return p, true
			}
		}
	}
	return "", false
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// value is the JSON value of property p of u.
func (u User) value(p string) any {
	switch p {
	case "id":
		return u.ID
	case "accountEnabled":
		return u.AccountEnabled
	case "businessPhones":
		return []string{}
	case "department":
		return nullable(u.Department)
	case "displayName":
		return nullable(u.DisplayName)
	case "givenName":
		return nullable(u.GivenName)
	case "jobTitle":
		return nullable(u.JobTitle)
	case "mail":
		return nullable(u.Mail)
	case "otherMails":
		if u.OtherMails == nil {
			return []string{}
		}
		return u.OtherMails
	case "surname":
		return nullable(u.Surname)
	case "userPrincipalName":
		return u.UserPrincipalName
	}
	return nil
}

// render is the user as JSON with the selected properties.
func (u User) render(selected []string) map[string]any {
	out := make(map[string]any, len(selected)+1)
	for _, p := range selected {
		out[p] = u.value(p)
	}
	return out
}

// stringProperty is the value of a filterable string property, and whether
// p is one.
func (u User) stringProperty(p string) (string, bool) {
	switch p {
	case "id":
		return u.ID, true
	case "mail":
		return u.Mail, true
	case "userPrincipalName":
		return u.UserPrincipalName, true
	case "givenName":
		return u.GivenName, true
	case "surname":
		return u.Surname, true
	case "displayName":
		return u.DisplayName, true
	case "jobTitle":
		return u.JobTitle, true
	case "department":
		return u.Department, true
	}
	return "", false
}
