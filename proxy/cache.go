package proxy

import (
	"context"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/usersvc/usersvc/schema"
)

// Graph is everything usersvc's stores implement: what the read cache
// wraps and passes on.
type Graph interface {
	Store
	UserIndex
	SyncStore
	CatalogLoader
}

// CacheConfig bounds the read cache.
type CacheConfig struct {
	// TTL is the staleness bound for changes made outside this process
	// (another replica, databuilder, Amundsen's metadata service): an answer
	// is reused for at most this long after it was read from the graph.
	// Writes through this process invalidate at once, whatever TTL is.
	TTL time.Duration
	// Size bounds the number of answers kept (default 10000).
	Size int
	// Now is the clock (tests); time.Now when nil.
	Now func() time.Time
}

// Cache answers repeated reads of users and their lists from memory, in
// front of a Graph. Every write made through it (PUT /user, relations,
// resolution, sync, hooks, SCIM, the System Log poller) invalidates every
// answer when it returns, so a reader never gets
// the state from before a write of this process that finished before it
// asked. Only successful answers and "not found" are kept. A read during
// a write may still answer from before it, as it could without the cache;
// while the graph is away, answers read within the TTL still serve.
//
// Invalidation is a generation counter rather than a per-key delete: one
// write can change what other keys read (a manager's name, both ends of a
// relation, a node moved to another key), and working out which would be
// a second copy of the store's own logic.
type Cache struct {
	g    Graph
	ttl  time.Duration
	size int
	now  func() time.Time

	// gen moves on when a write returns. A read keeps its answer only if
	// gen did not move while it ran, so an answer read before or during a
	// write is never kept past the write's end.
	gen atomic.Uint64

	mu      sync.RWMutex
	entries map[cacheKey]cacheEntry
	of      uint64 // the generation entries were read in

	hits, misses atomic.Uint64
}

type cacheOp uint8

const (
	opGetUser cacheOp = iota
	opGetUserByUserID
	opLookupUser
	opResources
	opReads
)

type cacheKey struct {
	op  cacheOp
	rel schema.Relation
	key string
}

type cacheEntry struct {
	expires time.Time
	v       any
	err     error // a KindNotFound answer, else nil
}

// Cached wraps g with a read cache; cfg.TTL must be positive.
func Cached(g Graph, cfg CacheConfig) *Cache {
	c := &Cache{g: g, ttl: cfg.TTL, size: cfg.Size, now: cfg.Now}
	if c.size <= 0 {
		c.size = 10000
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// CacheStats counts reads answered from memory and from the graph.
type CacheStats struct{ Hits, Misses uint64 }

// Stats returns the counts so far.
func (c *Cache) Stats() CacheStats { return CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load()} }

// Invalidate drops every answer: for writes that reach the graph around
// this process, such as a request forwarded to Amundsen's metadata service.
func (c *Cache) Invalidate() { c.gen.Add(1) }

// read answers k from memory, else through load, keeping the answer when
// no write overlapped the load.
func read[T any](ctx context.Context, c *Cache, k cacheKey, load func(context.Context) (T, error)) (T, error) {
	gen := c.gen.Load()
	now := c.now()
	c.mu.RLock()
	e, ok := c.entries[k]
	fresh := ok && c.of == gen && now.Before(e.expires)
	c.mu.RUnlock()
	if fresh {
		c.hits.Add(1)
		if e.err != nil {
			var zero T
			return zero, e.err
		}
		return e.v.(T), nil
	}
	c.misses.Add(1)
	v, err := load(ctx)
	if err != nil && !schema.IsNotFound(err) {
		return v, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return v, err
	}
	if c.of != gen || c.entries == nil {
		c.entries, c.of = make(map[cacheKey]cacheEntry), gen
	}
	if len(c.entries) >= c.size {
		// Bounded without bookkeeping: drop one entry (map order is
		// random), and expired ones on the way.
		for old, oe := range c.entries {
			delete(c.entries, old)
			if !now.After(oe.expires) {
				break
			}
		}
	}
	c.entries[k] = cacheEntry{expires: now.Add(c.ttl), v: v, err: err}
	return v, err
}

// write runs one write and invalidates when it returns, failed or not (a
// failed write may have committed before its answer was lost).
func (c *Cache) write(call func() error) error {
	defer c.gen.Add(1)
	return call()
}

func writeResult[T any](c *Cache, call func() (T, error)) (v T, err error) {
	err = c.write(func() error { v, err = call(); return err })
	return v, err
}

// cloneUser copies the map a caller may change, so a cached user is never
// changed through an answer.
func cloneUser(u schema.User, err error) (schema.User, error) {
	u.OtherKeyValues = maps.Clone(u.OtherKeyValues)
	return u, err
}

func (c *Cache) GetUser(ctx context.Context, key string) (schema.User, error) {
	return cloneUser(read(ctx, c, cacheKey{op: opGetUser, key: key}, func(ctx context.Context) (schema.User, error) {
		return cloneUser(c.g.GetUser(ctx, key))
	}))
}

func (c *Cache) GetUserByUserID(ctx context.Context, userID string) (schema.User, error) {
	return cloneUser(read(ctx, c, cacheKey{op: opGetUserByUserID, key: userID}, func(ctx context.Context) (schema.User, error) {
		return cloneUser(c.g.GetUserByUserID(ctx, userID))
	}))
}

func (c *Cache) LookupUser(ctx context.Context, key string) (schema.User, error) {
	return cloneUser(read(ctx, c, cacheKey{op: opLookupUser, key: key}, func(ctx context.Context) (schema.User, error) {
		return cloneUser(c.g.LookupUser(ctx, key))
	}))
}

// GetUserResources answers from memory when it can. The lists are shared
// between callers: they are only encoded, never changed.
func (c *Cache) GetUserResources(ctx context.Context, userKey string, rel schema.Relation) (schema.UserResources, error) {
	return read(ctx, c, cacheKey{op: opResources, rel: rel, key: userKey}, func(ctx context.Context) (schema.UserResources, error) {
		return c.g.GetUserResources(ctx, userKey, rel)
	})
}

// GetFrequentlyUsedTables answers from memory when it can; the list is
// shared as GetUserResources' are.
func (c *Cache) GetFrequentlyUsedTables(ctx context.Context, userKey string) ([]schema.PopularTable, error) {
	return read(ctx, c, cacheKey{op: opReads, key: userKey}, func(ctx context.Context) ([]schema.PopularTable, error) {
		return c.g.GetFrequentlyUsedTables(ctx, userKey)
	})
}

// Reads that are not cached: lists of everyone and the index lookups of
// sync and SCIM, which must see the graph as it is.

func (c *Cache) GetUsers(ctx context.Context) ([]schema.User, error) { return c.g.GetUsers(ctx) }

func (c *Cache) UserKeysByDirectoryID(ctx context.Context, id string) ([]string, error) {
	return c.g.UserKeysByDirectoryID(ctx, id)
}

func (c *Cache) UserKeysByProperty(ctx context.Context, name, value string) ([]string, error) {
	return c.g.UserKeysByProperty(ctx, name, value)
}

func (c *Cache) UserProperties(ctx context.Context, key string, names ...string) (map[string]string, error) {
	return c.g.UserProperties(ctx, key, names...)
}

func (c *Cache) PageUserKeys(ctx context.Context, offset, limit int) ([]string, int, error) {
	return c.g.PageUserKeys(ctx, offset, limit)
}

func (c *Cache) PageSCIMUserKeys(ctx context.Context, offset, limit int) ([]string, int, error) {
	return c.g.PageSCIMUserKeys(ctx, offset, limit)
}

func (c *Cache) GetSyncState(ctx context.Context, name string) (SyncState, error) {
	return c.g.GetSyncState(ctx, name)
}

func (c *Cache) PutSyncState(ctx context.Context, name string, s SyncState) error {
	return c.g.PutSyncState(ctx, name, s)
}

func (c *Cache) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	return c.g.AcquireLease(ctx, name, owner, ttl)
}

func (c *Cache) ReleaseLease(ctx context.Context, name, owner string) error {
	return c.g.ReleaseLease(ctx, name, owner)
}

// UsersOfResource passes through when the graph has it (both stores do;
// the store contract reads it).
func (c *Cache) UsersOfResource(ctx context.Context, t schema.ResourceType, resourceKey string, rel schema.Relation) ([]string, error) {
	u, ok := c.g.(interface {
		UsersOfResource(context.Context, schema.ResourceType, string, schema.Relation) ([]string, error)
	})
	if !ok {
		return nil, schema.Errorf(schema.KindUnavailable, "the %s store cannot list a resource's users", c.g.Kind())
	}
	return u.UsersOfResource(ctx, t, resourceKey, rel)
}

// Writes: every one invalidates.

func (c *Cache) MoveUser(ctx context.Context, from, to string) error {
	return c.write(func() error { return c.g.MoveUser(ctx, from, to) })
}

func (c *Cache) CreateUpdateUser(ctx context.Context, u schema.User) (schema.User, bool, error) {
	var created bool
	stored, err := writeResult(c, func() (schema.User, error) {
		s, cr, err := c.g.CreateUpdateUser(ctx, u)
		created = cr
		return s, err
	})
	return stored, created, err
}

func (c *Cache) AddResourceRelation(ctx context.Context, userKey string, rel schema.Relation, t schema.ResourceType, resourceKey string) error {
	return c.write(func() error { return c.g.AddResourceRelation(ctx, userKey, rel, t, resourceKey) })
}

func (c *Cache) DeleteResourceRelation(ctx context.Context, userKey string, rel schema.Relation, t schema.ResourceType, resourceKey string) error {
	return c.write(func() error { return c.g.DeleteResourceRelation(ctx, userKey, rel, t, resourceKey) })
}

func (c *Cache) SetUserPropertyIfAbsent(ctx context.Context, key, name, value string) (string, error) {
	return writeResult(c, func() (string, error) { return c.g.SetUserPropertyIfAbsent(ctx, key, name, value) })
}

func (c *Cache) ClearUserProperties(ctx context.Context, key string, names ...string) error {
	return c.write(func() error { return c.g.ClearUserProperties(ctx, key, names...) })
}

func (c *Cache) LoadCatalog(ctx context.Context, cat schema.Catalog) error {
	return c.write(func() error { return c.g.LoadCatalog(ctx, cat) })
}

func (c *Cache) Health(ctx context.Context) error { return c.g.Health(ctx) }
func (c *Cache) Kind() string                     { return c.g.Kind() }
func (c *Cache) Close() error                     { return c.g.Close() }

// KnownDown passes the graph's fail-fast answer on (FailFast).
func (c *Cache) KnownDown() error {
	if f, ok := c.g.(FailFast); ok {
		return f.KnownDown()
	}
	return nil
}

var (
	_ Graph    = (*Cache)(nil)
	_ FailFast = (*Cache)(nil)
)
