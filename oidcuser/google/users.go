package google

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

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
	if u.ID != id {
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
func (d *Directory) get(ctx context.Context, key string) (*user, error) {
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
func (d *Directory) getUser(ctx context.Context, p policy, key string) (*user, error) {
	var u *user
	err := d.call(ctx, p, key, func(ctx context.Context) error {
		var got user
		if err := d.fetch(ctx, d.userURL(key), &got); err != nil {
			return err
		}
		if got.ID == "" || got.PrimaryEmail == "" {
			return errors.New("users.get answered a user without id or primaryEmail")
		}
		u = &got
		return nil
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
func (d *Directory) person(ctx context.Context, u *user, p policy, managers map[string]manager) (oidcuser.Person, error) {
	out := oidcuser.Person{ID: u.ID, Login: u.PrimaryEmail, Email: u.PrimaryEmail, User: mapUser(u)}
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

func managerOf(u *user) manager {
	m := manager{id: u.ID, email: u.PrimaryEmail, known: true}
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
func mapUser(u *user) schema.User {
	out := schema.User{
		UserID:         u.PrimaryEmail,
		Email:          u.PrimaryEmail,
		IsActive:       !u.Suspended && !u.Archived,
		OtherKeyValues: map[string]string{schema.DirectoryIDProperty: u.ID},
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
func primaryOrganization(u *user) (organization, bool) {
	var orgs []organization
	if !decodeList(u.Organizations, &orgs) || len(orgs) == 0 {
		return organization{}, false
	}
	for _, o := range orgs {
		if o.Primary {
			return o, true
		}
	}
	return orgs[0], true
}

// managerRef is the value of the user's first manager relation.
func managerRef(u *user) string {
	var rels []relation
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

// decodeList decodes a list field of the users resource into out; false
// when it is absent or not a list of the expected shape.
func decodeList(raw json.RawMessage, out any) bool {
	return len(raw) > 0 && json.Unmarshal(raw, out) == nil
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
