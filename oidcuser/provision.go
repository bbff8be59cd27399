package oidcuser

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"

	"github.com/usersvc/usersvc/proxy"
	"github.com/usersvc/usersvc/schema"
)

// Provisioning (SCIM 2.0, RFC 7644) writes people a provisioning client
// pushes onto the same one node per person that resolution, sync, the
// event hooks and PUT /user write: keyed by PersonKey, moved rather than
// duplicated when their email changes. What is SCIM's own lives in node
// properties beside the user model: the id assigned here (scim_id), the
// client's externalId, the userName as the client spelled it, and, on a
// deleted resource, the id it had.
const (
	scimUserNameProperty = "scim_user_name"
	// scimDeletedProperty marks a node whose SCIM resource was deleted: a
	// filter never adopts it again (RFC 7644 §3.6: a deleted resource is
	// omitted from query results); a create for its userName revives it.
	scimDeletedProperty = "scim_deleted_id"
	// scimEmailsProperty holds the client's emails as JSON, so that they
	// are answered as sent (types, several addresses); the node's email is
	// the one they pick.
	scimEmailsProperty = "scim_emails"
	// scimRestProperty holds, as JSON, the attributes the client sent that
	// have no property of their own (schema.ProvisionedUser.Rest).
	scimRestProperty = "scim_rest"
	// maxRest bounds it: a node property written like other_key_values.
	maxRest = 4096
)

// provisionedProperties are the node's user-model properties a
// provisioning client owns, with the field holding each: a replace that
// leaves one out clears it. manager_email (another writer's) is cleared
// with the manager, never while one is set (keep), else it would still
// name a manager.
var provisionedProperties = []struct {
	name  string
	field func(u schema.User) string
	keep  func(u schema.User) bool // default: the field is not empty
}{
	{"first_name", func(u schema.User) string { return u.FirstName }, nil},
	{"last_name", func(u schema.User) string { return u.LastName }, nil},
	{"full_name", func(u schema.User) string { return u.FullName }, nil},
	{"display_name", func(u schema.User) string { return u.DisplayName }, nil},
	{"email", func(u schema.User) string { return u.Email }, nil},
	{"role_name", func(u schema.User) string { return u.RoleName }, nil},
	{"team_name", func(u schema.User) string { return u.TeamName }, nil},
	{"manager_id", func(u schema.User) string { return u.ManagerID }, nil},
	{"manager_fullname", func(u schema.User) string { return u.ManagerFullname }, nil},
	{"manager_email", func(u schema.User) string { return u.ManagerEmail },
		func(u schema.User) bool { return u.ManagerID != "" || u.ManagerFullname != "" }},
}

// scimProperties are the SCIM-only node properties read with a node.
var scimProperties = []string{proxy.SCIMIDProperty, proxy.SCIMExternalIDProperty, scimUserNameProperty, scimEmailsProperty, scimRestProperty, scimDeletedProperty}

// ProvisionStore is what provisioning needs of the graph.
type ProvisionStore interface {
	personStore
	GetUserByUserID(ctx context.Context, userID string) (schema.User, error)
	proxy.UserIndex
}

// ProvisionObserver counts lifecycle changes by audit event (metrics).
type ProvisionObserver interface {
	ProvisionChange(event string)
}

type noProvisionObserver struct{}

func (noProvisionObserver) ProvisionChange(string) {}

// Provisioner is the SCIM Users resource over the graph.
type Provisioner struct {
	store   ProvisionStore
	log     *slog.Logger
	obs     ProvisionObserver
	newID   func() string
	decoder *schema.UserDecoder
}

// NewProvisioner builds a Provisioner; obs and log may be nil.
func NewProvisioner(store ProvisionStore, log *slog.Logger, obs ProvisionObserver) *Provisioner {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if obs == nil {
		obs = noProvisionObserver{}
	}
	return &Provisioner{store: store, log: log, obs: obs, newID: newSCIMID, decoder: schema.NewUserDecoder()}
}

// newSCIMID is a random (version 4) UUID: RFC 7643 §3.1 wants an id that
// is unique, stable and never reassigned.
func newSCIMID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func notFoundSCIM(id string) error {
	return schema.Errorf(schema.KindNotFound, "SCIM user %s not found", id)
}

// node is a (:User) node as provisioning reads it: the user model and the
// SCIM properties.
type node struct {
	key   string
	user  schema.User
	props map[string]string
}

// load reads the node keyed key; found false when there is none.
func (p *Provisioner) load(ctx context.Context, key string) (n node, found bool, err error) {
	u, err := p.store.GetUser(ctx, key)
	if schema.IsNotFound(err) {
		return node{}, false, nil
	}
	if err != nil {
		return node{}, false, err
	}
	props, err := p.store.UserProperties(ctx, key, scimProperties...)
	if schema.IsNotFound(err) { // moved or gone meanwhile
		return node{}, false, nil
	}
	if err != nil {
		return node{}, false, err
	}
	return node{key: key, user: u, props: props}, true, nil
}

// byID loads the node holding SCIM id.
func (p *Provisioner) byID(ctx context.Context, id string) (node, error) {
	if id == "" {
		return node{}, notFoundSCIM(id)
	}
	keys, err := p.store.UserKeysByProperty(ctx, proxy.SCIMIDProperty, id)
	if err != nil {
		return node{}, err
	}
	if len(keys) == 0 {
		return node{}, notFoundSCIM(id)
	}
	return p.loadHolding(ctx, keys[0], id)
}

// loadHolding loads the node keyed key, which must hold SCIM id (else
// KindNotFound: moved or deleted meanwhile).
func (p *Provisioner) loadHolding(ctx context.Context, key, id string) (node, error) {
	n, found, err := p.load(ctx, key)
	if err == nil && (!found || n.props[proxy.SCIMIDProperty] != id) {
		err = notFoundSCIM(id)
	}
	return n, err
}

// provisioned maps the node back onto the SCIM view.
func (n node) provisioned() schema.ProvisionedUser {
	u := n.user
	userName := u.UserID
	if spelled := n.props[scimUserNameProperty]; strings.EqualFold(spelled, userName) {
		userName = spelled
	}
	return schema.ProvisionedUser{
		ID:          n.props[proxy.SCIMIDProperty],
		ExternalID:  n.props[proxy.SCIMExternalIDProperty],
		UserName:    userName,
		GivenName:   u.FirstName,
		FamilyName:  u.LastName,
		Email:       u.Email,
		Emails:      emailsOf(n.props[scimEmailsProperty], u.Email),
		Active:      u.IsActive,
		Title:       u.RoleName,
		Department:  u.TeamName,
		ManagerID:   u.ManagerID,
		ManagerName: u.ManagerFullname,
		Rest:        restOf(n.props[scimRestProperty]),
	}
}

// restOf decodes the stored unmapped attributes; what does not decode (a
// value another writer put there) is none.
func restOf(stored string) map[string]any {
	var rest map[string]any
	if stored == "" || json.Unmarshal([]byte(stored), &rest) != nil {
		return nil
	}
	return rest
}

// emailsOf is the client's emails as stored, when they still hold the
// node's email; else (another writer changed it) the node's email alone.
func emailsOf(stored, email string) []schema.ProvisionedEmail {
	var emails []schema.ProvisionedEmail
	if json.Unmarshal([]byte(stored), &emails) == nil {
		for _, e := range emails {
			if strings.EqualFold(e.Value, email) {
				return emails
			}
		}
	}
	if email == "" {
		return nil
	}
	primary := true
	return []schema.ProvisionedEmail{{Value: email, Type: "work", Primary: &primary}}
}

// Get returns the person with SCIM id.
func (p *Provisioner) Get(ctx context.Context, id string) (schema.ProvisionedUser, error) {
	n, err := p.byID(ctx, id)
	if err != nil {
		return schema.ProvisionedUser{}, err
	}
	return n.provisioned(), nil
}

// loginNode is the key of the node whose user_id (or key) is the login
// uid, "" when there is none.
func (p *Provisioner) loginNode(ctx context.Context, uid string) (string, error) {
	u, err := p.store.GetUserByUserID(ctx, uid)
	if schema.IsNotFound(err) {
		u, err = p.store.GetUser(ctx, uid)
	}
	switch {
	case schema.IsNotFound(err):
		return "", nil
	case err != nil:
		return "", err
	}
	return u.Key(), nil
}

// Create provisions a person. A node the graph holds for them already (by
// their login, from sync, resolution or PUT /user; or one whose SCIM
// resource was deleted) becomes theirs; a login another live SCIM resource
// holds is KindConflict with nothing written.
func (p *Provisioner) Create(ctx context.Context, in schema.ProvisionedUser) (schema.ProvisionedUser, error) {
	u, err := p.userOf(in)
	if err != nil {
		return schema.ProvisionedUser{}, err
	}
	priorKey, err := p.loginNode(ctx, u.UserID)
	if err != nil {
		return schema.ProvisionedUser{}, err
	}
	var prior *node
	if priorKey != "" {
		n, found, err := p.load(ctx, priorKey)
		if err != nil {
			return schema.ProvisionedUser{}, err
		}
		if found {
			if n.props[proxy.SCIMIDProperty] != "" {
				return schema.ProvisionedUser{}, schema.Errorf(schema.KindConflict, "userName %s is already provisioned", in.UserName)
			}
			prior = &n
		}
	}
	return p.write(ctx, p.newID(), prior, u, true)
}

// Replace writes the person with SCIM id as in says, clearing what in
// leaves out (RFC 7644 §3.5.1).
func (p *Provisioner) Replace(ctx context.Context, id string, in schema.ProvisionedUser) (schema.ProvisionedUser, error) {
	return p.Modify(ctx, id, func(schema.ProvisionedUser) (schema.ProvisionedUser, error) { return in, nil })
}

// Modify replaces the person with SCIM id by what change makes of their
// current state (a PATCH, RFC 7644 §3.5.2); an error from change is
// returned as it is, with nothing written.
func (p *Provisioner) Modify(ctx context.Context, id string, change func(schema.ProvisionedUser) (schema.ProvisionedUser, error)) (schema.ProvisionedUser, error) {
	cur, err := p.byID(ctx, id)
	if err != nil {
		return schema.ProvisionedUser{}, err
	}
	in, err := change(cur.provisioned())
	if err != nil {
		return schema.ProvisionedUser{}, err
	}
	u, err := p.userOf(in)
	if err != nil {
		return schema.ProvisionedUser{}, err
	}
	if u.UserID != cur.user.UserID {
		if other, err := p.loginNode(ctx, u.UserID); err != nil {
			return schema.ProvisionedUser{}, err
		} else if other != "" && other != cur.key {
			if held, err := p.liveSCIMID(ctx, other); err != nil {
				return schema.ProvisionedUser{}, err
			} else if held != "" && held != id {
				return schema.ProvisionedUser{}, schema.Errorf(schema.KindConflict, "userName %s is already provisioned", in.UserName)
			}
		}
	}
	return p.write(ctx, id, &cur, u, false)
}

func (p *Provisioner) liveSCIMID(ctx context.Context, key string) (string, error) {
	props, err := p.store.UserProperties(ctx, key, proxy.SCIMIDProperty)
	if schema.IsNotFound(err) {
		return "", nil
	}
	return props[proxy.SCIMIDProperty], err
}

// userOf maps the SCIM view onto the node's user model, validated as
// PUT /user validates, before anything is written. Names and the display
// name are set whole, not derived, so a changed name never leaves a stale
// full_name behind.
func (p *Provisioner) userOf(in schema.ProvisionedUser) (schema.User, error) {
	if schema.IsBlank(in.UserName) {
		return schema.User{}, schema.Errorf(schema.KindInvalid, "userName is required")
	}
	if err := schema.CheckID("userName", in.UserName); err != nil {
		return schema.User{}, err
	}
	if in.Email != "" {
		if err := schema.CheckID("emails", in.Email); err != nil {
			return schema.User{}, err
		}
	}
	full := strings.TrimSpace(in.GivenName + " " + in.FamilyName)
	display, _ := in.Rest["displayName"].(string)
	if display == "" {
		display = full
	}
	if display == "" {
		display = in.Email
	}
	u := schema.User{
		UserID:          schema.UserKey(in.UserName),
		Email:           in.Email,
		FirstName:       in.GivenName,
		LastName:        in.FamilyName,
		FullName:        full,
		DisplayName:     display,
		TeamName:        in.Department,
		RoleName:        in.Title,
		ManagerID:       in.ManagerID,
		ManagerFullname: in.ManagerName,
		IsActive:        in.Active,
		OtherKeyValues:  map[string]string{scimUserNameProperty: in.UserName},
	}
	if in.ExternalID != "" {
		u.OtherKeyValues[proxy.SCIMExternalIDProperty] = in.ExternalID
	}
	if len(in.Emails) > 0 {
		b, err := json.Marshal(in.Emails)
		if err != nil {
			return schema.User{}, err
		}
		u.OtherKeyValues[scimEmailsProperty] = string(b)
	}
	if len(in.Rest) > 0 {
		b, err := json.Marshal(in.Rest)
		if err != nil {
			return schema.User{}, schema.Errorf(schema.KindInvalid, "the attributes usersvc does not map cannot be stored: %v", err)
		}
		if len(b) > maxRest {
			return schema.User{}, schema.Errorf(schema.KindInvalid, "the attributes usersvc does not map take %d bytes of JSON; at most %d are kept", len(b), maxRest)
		}
		u.OtherKeyValues[scimRestProperty] = string(b)
	}
	u.NodeKey = PersonKey(in.Email, in.UserName, false)
	if err := p.decoder.Validate(u); err != nil {
		return schema.User{}, err
	}
	return u, nil
}

// write puts u on the node of SCIM id: prior is the node they hold now
// (nil for none). The keying rule is resolution's: by email, unless a node
// under that email is another SCIM resource's (the email is shared), then
// by login; their node moves when their key changes.
func (p *Provisioner) write(ctx context.Context, id string, prior *node, u schema.User, create bool) (schema.ProvisionedUser, error) {
	var target node
	hadNode := false
	for attempt := 0; ; attempt++ {
		if prior != nil && prior.key == u.Key() {
			target, hadNode = *prior, true
			break
		}
		n, found, err := p.load(ctx, u.Key())
		if err != nil {
			return schema.ProvisionedUser{}, err
		}
		if held := n.props[proxy.SCIMIDProperty]; !found || held == "" || held == id {
			target, hadNode = n, found
			break
		}
		if attempt > 0 || !rekeyAway(&u, u.Email) {
			return schema.ProvisionedUser{}, schema.Errorf(schema.KindConflict, "userName %s: the graph node %s belongs to another SCIM user; nothing was written", u.UserID, u.Key())
		}
	}
	key := u.Key()
	stale := "" // the old node, when the move was refused
	if prior != nil && prior.key != key {
		if err := moveNode(ctx, p.store, p.log, "scim", prior.user.OtherKeyValues[OtherKeyOktaID], prior.key, key); err != nil {
			return schema.ProvisionedUser{}, err
		}
		if hadNode {
			// Their new key held a node already: moveNode refused and
			// deactivated the old one, so they are never shown twice;
			// its SCIM id goes once the new node holds it.
			stale = prior.key
		} else {
			target, hadNode = *prior, true
			target.key = key
		}
	}
	before := target.user
	if _, _, err := p.store.CreateUpdateUser(ctx, u); err != nil {
		return schema.ProvisionedUser{}, err
	}
	var clear []string
	if hadNode {
		for _, prop := range provisionedProperties {
			keep := prop.field(u) != ""
			if prop.keep != nil {
				keep = prop.keep(u)
			}
			if !keep && prop.field(before) != "" {
				clear = append(clear, prop.name)
			}
		}
		for _, name := range []string{proxy.SCIMExternalIDProperty, scimEmailsProperty, scimRestProperty, scimDeletedProperty} {
			if u.OtherKeyValues[name] == "" && target.props[name] != "" {
				clear = append(clear, name)
			}
		}
	}
	if len(clear) > 0 {
		if err := p.store.ClearUserProperties(ctx, key, clear...); err != nil {
			return schema.ProvisionedUser{}, err
		}
	}
	if target.props[proxy.SCIMIDProperty] != id {
		held, err := p.store.SetUserPropertyIfAbsent(ctx, key, proxy.SCIMIDProperty, id)
		if err != nil {
			return schema.ProvisionedUser{}, err
		}
		if held != id {
			return schema.ProvisionedUser{}, schema.Errorf(schema.KindConflict, "userName %s: another SCIM user was provisioned onto the same node meanwhile", u.UserID)
		}
	}
	if stale != "" && prior.props[proxy.SCIMIDProperty] == id {
		if err := p.store.ClearUserProperties(ctx, stale, proxy.SCIMIDProperty); err != nil {
			return schema.ProvisionedUser{}, err
		}
	}
	event := "user_updated"
	switch {
	case !hadNode:
		event = "user_created"
	case before.IsActive && !u.IsActive:
		event = "user_deactivated"
	case !before.IsActive && u.IsActive:
		event = "user_reactivated"
	case create:
		event = "user_provisioned"
	}
	p.audit(ctx, event, key, id)
	// The node is known: read it back by its key, not through the id's
	// index again.
	n, err := p.loadHolding(ctx, key, id)
	if err != nil {
		return schema.ProvisionedUser{}, err
	}
	return n.provisioned(), nil
}

// Delete is a soft delete: the node and its edges stay, is_active turns
// false, and the SCIM resource is gone (its id answers 404 from now on,
// RFC 7644 §3.6).
func (p *Provisioner) Delete(ctx context.Context, id string) error {
	n, err := p.byID(ctx, id)
	if err != nil {
		return err
	}
	if _, _, err := p.store.CreateUpdateUser(ctx, schema.User{NodeKey: n.key, IsActive: false}); err != nil {
		return err
	}
	if n.props[scimDeletedProperty] != "" {
		if err := p.store.ClearUserProperties(ctx, n.key, scimDeletedProperty); err != nil {
			return err
		}
	}
	if _, err := p.store.SetUserPropertyIfAbsent(ctx, n.key, scimDeletedProperty, id); err != nil {
		return err
	}
	if err := p.store.ClearUserProperties(ctx, n.key, proxy.SCIMIDProperty); err != nil {
		return err
	}
	p.audit(ctx, "user_deleted", n.key, id)
	return nil
}

// Find returns the people matching every field of q, adopting a node the
// graph holds for a person who was never provisioned (assigning its SCIM
// id), so that a client linking existing people finds them rather than
// creating a second node.
func (p *Provisioner) Find(ctx context.Context, q schema.ProvisionQuery) ([]schema.ProvisionedUser, error) {
	var keys []string
	switch {
	case q.ExternalID != "":
		var err error
		if keys, err = p.store.UserKeysByProperty(ctx, proxy.SCIMExternalIDProperty, q.ExternalID); err != nil {
			return nil, err
		}
	case q.UserName != "":
		key, err := p.loginNode(ctx, schema.UserKey(q.UserName))
		if err != nil {
			return nil, err
		}
		if key != "" {
			keys = []string{key}
		}
	case q.Email != "":
		keys = []string{schema.UserKey(q.Email)}
	default:
		return nil, schema.Errorf(schema.KindInvalid, "a query needs userName, externalId or a work email")
	}
	var out []schema.ProvisionedUser
	for _, key := range keys {
		n, found, err := p.load(ctx, key)
		if err != nil {
			return nil, err
		}
		if !found {
			continue
		}
		if n.props[proxy.SCIMIDProperty] == "" {
			if n.props[scimDeletedProperty] != "" {
				continue
			}
			held, err := p.store.SetUserPropertyIfAbsent(ctx, key, proxy.SCIMIDProperty, p.newID())
			if err != nil {
				return nil, err
			}
			n.props[proxy.SCIMIDProperty] = held
		}
		if pu := n.provisioned(); matches(pu, q) {
			out = append(out, pu)
		}
	}
	return out, nil
}

func matches(pu schema.ProvisionedUser, q schema.ProvisionQuery) bool {
	return (q.UserName == "" || strings.EqualFold(pu.UserName, q.UserName)) &&
		(q.ExternalID == "" || pu.ExternalID == q.ExternalID) &&
		(q.Email == "" || strings.EqualFold(pu.Email, q.Email))
}

// List pages the provisioned people in key order (stable across pages):
// offset and limit as the store's, with the count of all of them.
func (p *Provisioner) List(ctx context.Context, offset, limit int) ([]schema.ProvisionedUser, int, error) {
	keys, total, err := p.store.PageSCIMUserKeys(ctx, offset, limit)
	if err != nil {
		return nil, 0, err
	}
	out := make([]schema.ProvisionedUser, 0, len(keys))
	for _, key := range keys {
		n, found, err := p.load(ctx, key)
		if err != nil {
			return nil, 0, err
		}
		if found && n.props[proxy.SCIMIDProperty] != "" { // not moved or deleted meanwhile
			out = append(out, n.provisioned())
		}
	}
	return out, total, nil
}

func (p *Provisioner) audit(ctx context.Context, event, key, id string) {
	p.obs.ProvisionChange(event)
	p.log.InfoContext(ctx, "audit", "audit", true, "event", event, "actor", "scim", "key", key, "source", "scim",
		"outcome", "ok", proxy.SCIMIDProperty, id)
}
