package oktaapi

import (
	"encoding/json"
	"maps"
	"strings"
	"time"
)

// User is a person in the test org, rendered in the Users API's JSON shape.
type User struct {
	ID              string
	Status          string
	Created         time.Time
	Activated       time.Time
	StatusChanged   time.Time
	LastLogin       time.Time
	LastUpdated     time.Time
	PasswordChanged time.Time
	Profile         map[string]any
	Groups          []Group
}

// Group is an Okta group a user belongs to.
type Group struct {
	ID          string
	Name        string
	Description string
}

// NewUser returns an ACTIVE-like user with the usual profile fields;
// timestamps default to a fixed instant so tests are repeatable.
func NewUser(id, login, email, first, last, status string) User {
	t := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return User{
		ID: id, Status: status,
		Created: t, Activated: t, StatusChanged: t, LastLogin: t, LastUpdated: t, PasswordChanged: t,
		Profile: map[string]any{"login": login, "email": email, "firstName": first, "lastName": last},
	}
}

// With returns a copy of u with more profile attributes.
func (u User) With(profile map[string]any) User {
	u.Profile = maps.Clone(u.Profile)
	maps.Copy(u.Profile, profile)
	return u
}

func (u User) login() string {
	s, _ := u.Profile["login"].(string)
	return s
}

// attribute resolves a filter attribute path on the user.
func (u User) attribute(path string) (any, bool) {
	switch path {
	case "id":
		return u.ID, true
	case "status":
		return u.Status, true
	case "type.id":
		return "oty-default", true
	case "created", "activated", "statusChanged", "lastLogin", "lastUpdated", "passwordChanged":
		t := map[string]time.Time{"created": u.Created, "activated": u.Activated, "statusChanged": u.StatusChanged,
			"lastLogin": u.LastLogin, "lastUpdated": u.LastUpdated, "passwordChanged": u.PasswordChanged}[path]
		if t.IsZero() {
			return nil, false
		}
		return t.UTC().Format("2006-01-02T15:04:05.000Z"), true
	}
	name, _ := strings.CutPrefix(path, "profile.")
	v, ok := u.Profile[name]
	return v, ok
}

func stamp(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// json renders the user as the Users API does.
func (u User) json(org string) map[string]any {
	self := org + "/api/v1/users/" + u.ID
	return map[string]any{
		"id":              u.ID,
		"status":          u.Status,
		"created":         stamp(u.Created),
		"activated":       stamp(u.Activated),
		"statusChanged":   stamp(u.StatusChanged),
		"lastLogin":       stamp(u.LastLogin),
		"lastUpdated":     stamp(u.LastUpdated),
		"passwordChanged": stamp(u.PasswordChanged),
		"type":            map[string]any{"id": "oty-default"},
		"profile":         maps.Clone(u.Profile),
		"credentials": map[string]any{
			"provider": map[string]any{"type": "OKTA", "name": "OKTA"},
		},
		"_links": map[string]any{
			"self": map[string]any{"href": self},
		},
	}
}

func (g Group) json() map[string]any {
	return map[string]any{
		"id":      g.ID,
		"type":    "OKTA_GROUP",
		"profile": map[string]any{"name": g.Name, "description": g.Description},
	}
}

// Export renders users as the Users API's list answer does (a JSON array of
// user objects): the shape of an export of an org at orgURL.
func Export(orgURL string, users ...User) ([]byte, error) {
	out := make([]map[string]any, 0, len(users))
	for _, u := range users {
		out = append(out, u.json(orgURL))
	}
	return json.MarshalIndent(out, "", "  ")
}
