package entra

import (
	"context"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/schema"
)

// userFields is the $select of every user read: Graph returns only a
// default set without it, and accountEnabled and department are not in
// that set ("Get user": "By default, only a limited set of properties are
// returned").
const userFields = "id,userPrincipalName,mail,givenName,surname,displayName,jobTitle,department,accountEnabled"

// managerFields is the $select of a manager (a user or an organizational
// contact: both have these).
const managerFields = "id,displayName,mail"

// graphUser is the part of Graph's user resource usersvc maps.
type graphUser struct {
	ID                string  `json:"id"`
	UserPrincipalName string  `json:"userPrincipalName"`
	Mail              string  `json:"mail"`
	GivenName         string  `json:"givenName"`
	Surname           string  `json:"surname"`
	DisplayName       string  `json:"displayName"`
	JobTitle          string  `json:"jobTitle"`
	Department        string  `json:"department"`
	AccountEnabled    *bool   `json:"accountEnabled"`
	Manager           *person `json:"manager"` // with $expand=manager
}

// person is a manager: its id, name and mail.
type person struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	Mail        string `json:"mail"`
}

// Person maps the Graph user onto a directory person and their user.
// Graph v1.0 users carry no last-modified time: LastUpdated is zero.
func (g graphUser) Person() oidcuser.Person {
	u := schema.User{
		UserID:      strings.TrimSpace(g.UserPrincipalName),
		Email:       strings.TrimSpace(g.Mail),
		FirstName:   strings.TrimSpace(g.GivenName),
		LastName:    strings.TrimSpace(g.Surname),
		DisplayName: strings.TrimSpace(g.DisplayName),
		RoleName:    strings.TrimSpace(g.JobTitle),
		TeamName:    strings.TrimSpace(g.Department),
		IsActive:    g.AccountEnabled == nil || *g.AccountEnabled,
	}
	if u.FirstName != "" && u.LastName != "" {
		u.FullName = u.FirstName + " " + u.LastName
	}
	if u.DisplayName == "" {
		u.DisplayName = u.FullName
	}
	if m := g.Manager; m != nil {
		u.ManagerFullname = strings.TrimSpace(m.DisplayName)
		u.ManagerEmail = strings.TrimSpace(m.Mail)
		u.ManagerID = strings.TrimSpace(m.ID)
	}
	if g.ID != "" {
		u.OtherKeyValues = map[string]string{schema.DirectoryIDProperty: g.ID}
	}
	u.Normalize()
	return oidcuser.Person{ID: g.ID, Login: u.UserID, Email: u.Email, User: u}
}

func people(users []graphUser) []oidcuser.Person {
	out := make([]oidcuser.Person, len(users))
	for i, u := range users {
		out[i] = u.Person()
	}
	return out
}

func notFound(id string) error {
	return schema.Errorf(schema.KindNotFound, "user_id %s not found in the directory", id)
}

// checkID refuses ids no request may carry.
func checkID(id string) error {
	if id == "" {
		return notFound(id)
	}
	if !utf8.ValidString(id) || schema.HasControl(id) {
		return schema.Errorf(schema.KindInvalid, "user ids must be UTF-8 without control characters")
	}
	return nil
}

// userPath is /users/{key}, path-escaped. A key beginning with $ takes
// the key-in-parentheses form ("Get user": /users/$x@y.com fails with a
// 400, use /users('$x@y.com')), its quotes doubled as in any OData string
// literal.
func userPath(key string) string {
	if strings.HasPrefix(key, "$") {
		return "/users(" + url.PathEscape(literal(key)) + ")"
	}
	return "/users/" + url.PathEscape(key)
}

// literal renders s as an OData string literal: in single quotes, each
// quote inside written twice ("Use query parameters", escaping single
// quotes; its example filters surname eq O'Brien that way).
func literal(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// LookupUser finds the person id names: GET /users/{id} first (id or
// userPrincipalName; strongly consistent), then, for ids shaped like an
// email, $filter=mail eq '<id>'. An email lookup needs the search whatever
// the GET answers (to learn whether the email is shared), so both run at
// once and a lookup costs one round trip, then one for the manager. Each
// call is made once: an interactive lookup answers unavailable (with
// Graph's Retry-After) rather than waiting.
func (d *Directory) LookupUser(ctx context.Context, id string) (schema.User, error) {
	if err := checkID(id); err != nil {
		return schema.User{}, err
	}
	if wait := d.throttled(); wait > 0 {
		return schema.User{}, schema.Unavailable("the directory is throttling usersvc; try again later", wait, nil)
	}
	var search *oidcuser.Pending[[]graphUser]
	if strings.Contains(id, "@") {
		// The search never outlives the lookup: an early return cancels it
		// and waits, so no call lands after the answer.
		sctx, cancel := context.WithCancel(ctx)
		search = oidcuser.Start(func() ([]graphUser, error) { return d.searchMail(sctx, id) })
		defer func() { cancel(); _, _ = search.Wait() }()
	}
	match, err := d.byKey(ctx, id)
	var sameEmail []graphUser
	switch {
	case err == nil:
		if match.Mail != "" {
			if search != nil && strings.EqualFold(match.Mail, id) {
				sameEmail, err = search.Wait()
			} else {
				sameEmail, err = d.searchMail(ctx, match.Mail)
			}
			if schema.IsNotFound(err) {
				sameEmail, err = nil, nil // Graph refused the filter: no one else known
			}
			if err != nil {
				return schema.User{}, err
			}
		}
	case !schema.IsNotFound(err):
		return schema.User{}, err
	case search == nil:
		// mail is an SMTP address: an id without @ matches no one by it.
		return schema.User{}, notFound(id)
	default:
		found, err := search.Wait()
		if err != nil {
			return schema.User{}, err
		}
		picked, err := oidcuser.PickMatch(id, people(found))
		if err != nil {
			return schema.User{}, err
		}
		for _, u := range found {
			if u.ID == picked.ID {
				match = u
			}
		}
		sameEmail = found
	}
	if err := d.addManager(ctx, &match); err != nil {
		return schema.User{}, err
	}
	return oidcuser.KeyedUser(match.Person(), people(sameEmail)), nil
}

// byKey is GET /users/{id}. Graph answers that path for an object id too;
// such an answer counts only when the userPrincipalName or mail is the id
// asked about, so object ids never alias people. A 400 (Graph could not
// read the id as a key) is the id's doing: not found.
func (d *Directory) byKey(ctx context.Context, id string) (graphUser, error) {
	var u graphUser
	err := d.get(ctx, d.endpoint(userPath(id), query("$select", userFields)), &u)
	switch schema.KindOf(err) {
	case schema.KindNotFound, schema.KindInvalid:
		return graphUser{}, notFound(id)
	}
	if err != nil {
		return graphUser{}, err
	}
	if _, err := oidcuser.PickMatch(id, []oidcuser.Person{u.Person()}); err != nil {
		return graphUser{}, notFound(id)
	}
	return u, nil
}

// searchMail is GET /users?$filter=mail eq '<mail>': everyone whose
// primary email it is, enabled or not (Graph compares case-insensitively).
// Graph's list is eventually consistent ("List users": recently created,
// updated or deleted users may show replication delays).
func (d *Directory) searchMail(ctx context.Context, mail string) ([]graphUser, error) {
	var page struct {
		Value []graphUser `json:"value"`
	}
	err := d.get(ctx, d.endpoint("/users", query("$filter", "mail eq "+literal(mail), "$select", userFields, "$top", "999")), &page)
	switch schema.KindOf(err) {
	case schema.KindNotFound, schema.KindInvalid:
		return nil, notFound(mail)
	}
	if err != nil {
		return nil, err
	}
	return page.Value, nil
}

// addManager reads the person's manager: GET /users/{id}/manager ("List
// manager": 404 when none is assigned).
func (d *Directory) addManager(ctx context.Context, u *graphUser) error {
	var m person
	err := d.get(ctx, d.endpoint(userPath(u.ID)+"/manager", query("$select", managerFields)), &m)
	switch {
	case schema.IsNotFound(err):
		u.Manager = nil
		return nil
	case err != nil:
		return err
	}
	u.Manager = &m
	return nil
}

// LookupByID re-reads one person by their object id (GET /users/{id}).
// The answer counts only when its id is the one asked about. Whether the
// person's email is shared is looked up too, so they are keyed by
// PersonKey as everywhere else.
func (d *Directory) LookupByID(ctx context.Context, id string) (schema.User, error) {
	if err := checkID(id); err != nil {
		return schema.User{}, err
	}
	var u graphUser
	err := d.get(ctx, d.endpoint(userPath(id), query("$select", userFields)), &u)
	switch schema.KindOf(err) {
	case schema.KindNotFound, schema.KindInvalid:
		return schema.User{}, schema.Errorf(schema.KindNotFound, "directory id %s not found", id)
	}
	if err != nil {
		return schema.User{}, err
	}
	if !strings.EqualFold(u.ID, id) {
		return schema.User{}, schema.Errorf(schema.KindNotFound, "directory id %s not found", id)
	}
	var sameEmail []graphUser
	if u.Mail != "" {
		if sameEmail, err = d.searchMail(ctx, u.Mail); err != nil && !schema.IsNotFound(err) {
			return schema.User{}, err
		}
	}
	if err := d.addManager(ctx, &u); err != nil {
		return schema.User{}, err
	}
	return oidcuser.KeyedUser(u.Person(), people(sameEmail)), nil
}
