package proxy

import (
	"context"

	"github.com/usersvc/usersvc/schema"
)

// PickNode is the rule of Store.LookupUser, given what the graph holds
// under the key (byKey, keyErr) and as the user_id of a node (alias,
// aliasErr): the node keyed so unless it is a minimal node (a follow/own
// write's stub), else the named alias, else the stub, else not found.
// A login asked about thus finds its person's email-keyed node even when a
// relation write left a stub under the login.
func PickNode(byKey schema.User, keyErr error, alias schema.User, aliasErr error) (schema.User, error) {
	switch {
	case keyErr != nil && !schema.IsNotFound(keyErr):
		return schema.User{}, keyErr
	case keyErr == nil && !byKey.IsStub():
		return byKey, nil
	case aliasErr == nil && !alias.IsStub():
		return alias, nil
	case aliasErr != nil && !schema.IsNotFound(aliasErr):
		return schema.User{}, aliasErr
	}
	return byKey, keyErr
}

// UserReader is the part of a Store LookupUserByReads needs.
type UserReader interface {
	GetUser(ctx context.Context, key string) (schema.User, error)
	GetUserByUserID(ctx context.Context, userID string) (schema.User, error)
}

// LookupUserByReads is LookupUser for a store whose reads cost no round
// trip: GetUser, then GetUserByUserID only when the node keyed so is
// missing or a stub.
func LookupUserByReads(ctx context.Context, s UserReader, key string) (schema.User, error) {
	byKey, err := s.GetUser(ctx, key)
	if (err == nil && !byKey.IsStub()) || (err != nil && !schema.IsNotFound(err)) {
		return byKey, err
	}
	alias, aerr := s.GetUserByUserID(ctx, key)
	return PickNode(byKey, err, alias, aerr)
}
