// Package proxy defines the graph store usersvc reads and writes users and
// their relationships through, after Amundsen metadata's proxy layer.
// Implementations live in subpackages (embedded, neo4j); proxytest holds the
// contract suite every implementation must pass.
package proxy

import (
	"context"

	"github.com/usersvc/usersvc/schema"
)

// FailFast is implemented by stores that know without a round trip that
// their server is away (the Neo4j store's connection monitor). Callers that
// would otherwise wait on another call in flight answer at once instead.
type FailFast interface {
	// KnownDown is the error a call would fail with now, or nil.
	KnownDown() error
}

// Store is the graph of users and the resources they follow, own and read.
// User arguments are graph keys (schema.UserKey); implementations do not
// normalise them again. Errors are classified with schema.ErrorKind:
// KindNotFound for a missing user or resource, KindUnavailable when the
// backend cannot be reached.
type Store interface {
	// GetUser returns the user with the given key.
	GetUser(ctx context.Context, key string) (schema.User, error)
	// GetUserByUserID returns the node whose user_id property is userID
	// (an indexed lookup): how a login or other alias finds the node of a
	// person keyed by email.
	GetUserByUserID(ctx context.Context, userID string) (schema.User, error)
	// LookupUser returns the node a reader asking for key means, by
	// PickNode's rule over the two reads above. It is one read, one round
	// trip on Neo4j, where the two reads take two: a first request's path
	// makes it before its directory lookup (issue 31).
	LookupUser(ctx context.Context, key string) (schema.User, error)
	// UserKeysByDirectoryID returns, sorted, the keys of the nodes whose
	// directory id property (schema.DirectoryIDProperty) is id: where a
	// directory person's node stands, whatever their email is now.
	UserKeysByDirectoryID(ctx context.Context, id string) ([]string, error)
	// MoveUser re-keys the node keyed from to the key to, in one
	// transaction: it keeps its properties and every edge, so one person
	// stays one node when their key changes. KindNotFound when no node is
	// keyed from; KindConflict, with nothing written, when one is keyed to.
	MoveUser(ctx context.Context, from, to string) error
	// GetUsers returns every active user.
	GetUsers(ctx context.Context) ([]schema.User, error)
	// CreateUpdateUser upserts u under u.Key(). Non-empty stored values are
	// never replaced by empty ones. created reports whether the node is new.
	CreateUpdateUser(ctx context.Context, u schema.User) (stored schema.User, created bool, err error)

	// GetUserResources returns the tables and dashboards the user follows or
	// owns, sorted; an unknown user has none.
	GetUserResources(ctx context.Context, userKey string, rel schema.Relation) (schema.UserResources, error)
	// GetFrequentlyUsedTables returns at most schema.MaxReadTables tables the
	// user read, most read first.
	GetFrequentlyUsedTables(ctx context.Context, userKey string) ([]schema.PopularTable, error)
	// AddResourceRelation links the user and the resource in both directions,
	// creating a minimal user node when the key is unknown. A missing
	// resource is KindNotFound and writes nothing.
	AddResourceRelation(ctx context.Context, userKey string, rel schema.Relation, t schema.ResourceType, resourceKey string) error
	// DeleteResourceRelation removes both directions; deleting a relation
	// that does not exist succeeds.
	DeleteResourceRelation(ctx context.Context, userKey string, rel schema.Relation, t schema.ResourceType, resourceKey string) error

	// Health reports whether the backend answers.
	Health(ctx context.Context) error
	// Kind names the implementation in health output ("embedded", "neo4j").
	Kind() string
	Close() error
}

// CatalogLoader is implemented by stores that can be seeded with resource
// nodes and read edges (the embedded store, and test fixtures for Neo4j).
type CatalogLoader interface {
	LoadCatalog(ctx context.Context, c schema.Catalog) error
}
