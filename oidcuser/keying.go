package oidcuser

import (
	"strings"

	"github.com/usersvc/usersvc/schema"
)

// PersonKey is the one keying rule for a directory person's (:User) node,
// shared by sync and resolution: their lowercased email, as databuilder
// keys people, unless another directory person shares that email; then
// their login, which is unique, so two people are never merged into one
// node. A person without an email is keyed by login too.
func PersonKey(email, login string, emailShared bool) string {
	if e := schema.UserKey(email); e != "" && !emailShared {
		return e
	}
	return schema.UserKey(login)
}

// KeyedUser maps a directory person onto the node they are written to,
// given the people the directory has under their email (themselves
// included, or not): keyed by PersonKey, with the lowercased login as
// user_id, so that a request by login finds the node through the user_id
// index. Every directory hands people over through it.
func KeyedUser(p Person, sameEmail []Person) schema.User {
	u := p.User
	u.NodeKey = PersonKey(p.Email, p.Login, emailShared(p, sameEmail))
	if login := schema.UserKey(p.Login); login != "" {
		u.UserID = login
	}
	return u
}

// emailShared reports whether anyone else among people has p's email
// (directories compare emails case-insensitively).
func emailShared(p Person, people []Person) bool {
	if p.Email == "" {
		return false
	}
	for _, o := range people {
		if o.ID != p.ID && strings.EqualFold(o.Email, p.Email) {
			return true
		}
	}
	return false
}

// rekeyAway moves u off a node that belongs to another directory person
// (its stored okta_id differs): their email is shared after all, so u is
// keyed by login. It reports false when u was keyed by login already.
func rekeyAway(u *schema.User, email string) bool {
	login := u.UserID
	if u.Key() == schema.UserKey(login) {
		return false
	}
	u.NodeKey = PersonKey(email, login, true)
	return true
}

// ownedByOther reports whether stored came from another directory person
// than oktaID.
func ownedByOther(stored schema.User, oktaID string) bool {
	other := stored.OtherKeyValues[OtherKeyOktaID]
	return other != "" && oktaID != "" && other != oktaID
}
