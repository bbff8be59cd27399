package google

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	admin "google.golang.org/api/admin/directory/v1"

	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/schema"
)

// LookupUser finds the person id names: users.get with id as the userKey,
// which takes a primary email or an alias email (case-insensitively). The
// answer counts only when id is the person's primary email or one of
// their aliases: an id that is not an email names no one here (unique ids
// go through LookupByID), and costs no call.
func (d *Directory) LookupUser(ctx context.Context, id string) (schema.User, error) {
	notFound := schema.Errorf(schema.KindNotFound, "user_id %s not found in the directory", id)
	if !strings.Contains(id, "@") || !utf8.ValidString(id) || schema.HasControl(id) {
		return schema.User{}, notFound
	}
	u, err := d.get(ctx, id)
	if err != nil {
		return schema.User{}, err
	}
	p, err := d.person(ctx, u, interactive, nil)
	if err != nil {
		return schema.User{}, err
	}
	// Workspace holds an email once (UniqueEmails): the person is the only
	// candidate, and is keyed by their email.
	candidates := []oidcuser.Person{p}
	if containsFold(u.Aliases, id) || containsFold(u.NonEditableAliases, id) {
		return oidcuser.KeyedUser(p, candidates), nil
	}
	match, err := oidcuser.PickMatch(id, candidates)
	if err != nil {
		return schema.User{}, err
	}
	return oidcuser.KeyedUser(match, candidates), nil
}

// LookupByID re-reads one person by their unique id (users.get). The
// answer counts only when its id is the one asked about, so emails never
// pass for ids.
func (d *Directory) LookupByID(ctx context.Context, id string) (schema.User, error) {
	notFound := schema.Errorf(schema.KindNotFound, "directory id %s not found", id)
	if id == "" || strings.Contains(id, "@") || !utf8.ValidString(id) || schema.HasControl(id) {
		return schema.User{}, notFound
	}
	u, err := d.get(ctx, id)
	if err != nil {
		return schema.User{}, err
	}
	if u.Id != id {
		return schema.User{}, notFound
	}
	p, err := d.person(ctx, u, interactive, nil)
	if err != nil {
		return schema.User{}, err
	}
	return oidcuser.KeyedUser(p, []oidcuser.Person{p}), nil
}

// get is users.get for an interactive lookup. The API answers 403 both
// when usersvc's credentials lack the right and when the key is an email
// outside the customer's domains; a probe (one users.list call) tells
// which: when it passes, the person is out of reach, so not found.
func (d *Directory) get(ctx context.Context, key string) (*admin.User, error) {
	u, err := d.getUser(ctx, interactive, key)
	if errors.Is(err, errForbidden) {
		if perr := d.Probe(ctx); perr != nil {
			return nil, perr
		}
		return nil, &schema.Error{Kind: schema.KindNotFound,
			Message: "user_id " + key + " not found in the directory", Err: errors.New("outside the customer's domains")}
	}
	return u, err
}

// getUser is one users.get under p.
func (d *Directory) getUser(ctx context.Context, p policy, key string) (*admin.User, error) {
	var u *admin.User
	err := d.call(ctx, p, key, func(ctx context.Context) error {
		var err error
		u, err = d.svc.Users.Get(key).Projection("basic").Context(ctx).Do()
		if err == nil && (u == nil || u.Id == "" || u.PrimaryEmail == "") {
			err = errors.New("users.get answered a user without id or primaryEmail")
		}
		return err
	})
	return u, err
}

// manager is what a person's record says of their manager.
type manager struct {
	id, name, email string
	known           bool // their record was read (else only email is known)
}

// person maps a Directory API user onto a directory person, reading the
// manager's record (under p) unless managers already holds it. managers
// may be nil.
func (d *Directory) person(ctx context.Context, u *admin.User, p policy, managers map[string]manager) (oidcuser.Person, error) {
	out := oidcuser.Person{ID: u.Id, Login: u.PrimaryEmail, Email: u.PrimaryEmail, User: mapUser(u)}
	ref := managerRef(u)
	switch {
	case ref == "":
	case !strings.Contains(ref, "@"):
		// The relation's value is documented as the related person's
		// name; the Admin console writes the manager's email. A name is
		// taken as it is.
		out.User.ManagerFullname = ref
	default:
		m, err := d.manager(ctx, ref, p, managers)
		if err != nil {
			return oidcuser.Person{}, err
		}
		out.User.ManagerEmail, out.User.ManagerFullname, out.User.ManagerID = m.email, m.name, m.id
	}
	out.User.Normalize()
	return out, nil
}

// manager reads the manager's record by email. A manager the directory
// does not have (deleted, or outside the customer) keeps only the email.
func (d *Directory) manager(ctx context.Context, email string, p policy, managers map[string]manager) (manager, error) {
	k := strings.ToLower(email)
	if m, ok := managers[k]; ok {
		return m, nil
	}
	m := manager{email: email}
	u, err := d.getUser(ctx, p, email)
	switch {
	case err == nil:
		m = managerOf(u)
	case schema.IsNotFound(err), errors.Is(err, errForbidden):
	default:
		return manager{}, fmt.Errorf("read the manager of a user: %w", err)
	}
	if managers != nil {
		managers[k] = m
	}
	return m, nil
}

func managerOf(u *admin.User) manager {
	m := manager{id: u.Id, email: u.PrimaryEmail, known: true}
	if u.Name != nil {
		m.name = strings.TrimSpace(u.Name.FullName)
		if m.name == "" {
			m.name = strings.TrimSpace(strings.TrimSpace(u.Name.GivenName) + " " + strings.TrimSpace(u.Name.FamilyName))
		}
	}
	return m
}

// mapUser maps the user's own fields onto Amundsen's user: name.givenName,
// familyName, fullName (displayName when set); the primary organization's
// title and department (else the first organization's) as role and team;
// suspended or archived people are inactive; the unique id is the
// directory id.
func mapUser(u *admin.User) schema.User {
	out := schema.User{
		UserID:         u.PrimaryEmail,
		Email:          u.PrimaryEmail,
		IsActive:       !u.Suspended && !u.Archived,
		OtherKeyValues: map[string]string{schema.DirectoryIDProperty: u.Id},
	}
	if u.Name != nil {
		out.FirstName, out.LastName, out.FullName = u.Name.GivenName, u.Name.FamilyName, u.Name.FullName
		out.DisplayName = u.Name.DisplayName
	}
	if org, ok := primaryOrganization(u); ok {
		out.RoleName, out.TeamName = org.Title, org.Department
	}
	out.Normalize()
	return out
}

// primaryOrganization is the organization marked primary, else the first.
// The SDK leaves organizations as raw JSON values.
func primaryOrganization(u *admin.User) (admin.UserOrganization, bool) {
	var orgs []admin.UserOrganization
	if !decodeList(u.Organizations, &orgs) || len(orgs) == 0 {
		return admin.UserOrganization{}, false
	}
	for _, o := range orgs {
		if o.Primary {
			return o, true
		}
	}
	return orgs[0], true
}

// managerRef is the value of the user's first manager relation.
func managerRef(u *admin.User) string {
	var rels []admin.UserRelation
	if !decodeList(u.Relations, &rels) {
		return ""
	}
	for _, r := range rels {
		if strings.EqualFold(r.Type, "manager") && strings.TrimSpace(r.Value) != "" {
			return strings.TrimSpace(r.Value)
		}
	}
	return ""
}

// decodeList converts a raw JSON value the SDK decoded into any into out.
func decodeList(v any, out any) bool {
	if v == nil {
		return false
	}
	data, err := json.Marshal(v)
	return err == nil && json.Unmarshal(data, out) == nil
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
