// Package oidcuser finds people: the Directory interface over an identity
// provider's user API (Okta), and the Resolver that answers "who is this
// user?" from the graph first and the directory second.
package oidcuser

import (
	"context"

	"github.com/usersvc/usersvc/schema"
)

// UserStore is the part of the graph store resolution needs.
type UserStore interface {
	GetUser(ctx context.Context, key string) (schema.User, error)
	CreateUpdateUser(ctx context.Context, u schema.User) (schema.User, bool, error)
}

// Resolver answers GET /user/<id>.
type Resolver struct {
	store UserStore
}

// NewResolver builds a resolver over the store.
func NewResolver(store UserStore) *Resolver {
	return &Resolver{store: store}
}

// ResolveUser returns the user stored under key.
func (r *Resolver) ResolveUser(ctx context.Context, key string) (schema.User, error) {
	return r.store.GetUser(ctx, key)
}
