// Package embedded is the store for running usersvc without Neo4j: a single
// bbolt file, pure Go, durable (fsync on every commit) and transactional. It
// keeps Amundsen's graph semantics: both edge directions are written, a
// missing resource aborts the write, and minimal user nodes are created for
// relations to unknown ids.
package embedded

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/usersvc/usersvc/proxy"
	"github.com/usersvc/usersvc/schema"
)

var (
	bucketUsers      = []byte("users")
	bucketTables     = []byte("tables")
	bucketDashboards = []byte("dashboards")
	bucketFeatures   = []byte("features")
	// bucketEdges holds user→resource edges keyed rel|user|type|resource,
	// bucketReverse the resource→user direction keyed type|resource|rel|user.
	// The separator is NUL, which ids and keys may not contain.
	bucketEdges   = []byte("edges")
	bucketReverse = []byte("reverse_edges")
	bucketSync    = []byte("sync") // "state:<name>" and "lease:<name>"
)

const sep = "\x00"

// Store is the embedded graph store.
type Store struct {
	db        *bolt.DB
	now       func() time.Time
	otherKeys schema.OtherKeys

	// users caches decoded user records: the file belongs to this process
	// alone (bbolt's lock), so every write passes here and the cache stays
	// exact. gen counts writes, so a read that raced a write does not put
	// what it read back into the cache.
	users   *lru.Cache[string, userRecord]
	cacheMu sync.Mutex
	gen     atomic.Uint64
}

// userCacheSize bounds the read cache (a record is well under 1 KiB).
const userCacheSize = 10000

// Option configures a Store.
type Option func(*Store)

// WithOtherKeys names the record properties read back as other_key_values
// (USER_OTHER_KEYS); without it, schema.DefaultOtherKeys.
func WithOtherKeys(keys schema.OtherKeys) Option {
	return func(s *Store) { s.otherKeys = keys }
}

// Open opens (creating if needed) the store file at path. A second process
// opening the same file waits up to lockWait, then fails.
func Open(path string, lockWait time.Duration, opts ...Option) (*Store, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create directory for embedded store: %w", err)
		}
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockWait})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("embedded store %s is locked by another process", path)
	}
	if err != nil {
		return nil, fmt.Errorf("open embedded store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketUsers, bucketTables, bucketDashboards, bucketFeatures, bucketEdges, bucketReverse, bucketSync} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if err := ensureUserIDIndex(tx); err != nil {
			return err
		}
		return ensureDirectoryIDIndex(tx)
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("initialise embedded store %s: %w", path, err)
	}
	users, _ := lru.New[string, userRecord](userCacheSize) // size is positive
	s := &Store{db: db, now: time.Now, users: users, otherKeys: schema.DefaultOtherKeys()}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// record returns the stored record of key from the cache or the file.
func (s *Store) record(ctx context.Context, key string) (userRecord, bool, error) {
	if rec, ok := s.users.Get(key); ok {
		return rec, true, nil
	}
	gen := s.gen.Load()
	var rec userRecord
	var found bool
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		found, err = getJSON(tx.Bucket(bucketUsers), key, &rec)
		return err
	})
	if err != nil || !found {
		return userRecord{}, false, err
	}
	s.cacheMu.Lock()
	if s.gen.Load() == gen {
		s.users.Add(key, rec)
	}
	s.cacheMu.Unlock()
	return rec, true, nil
}

// updateUsers runs a write transaction; afterwards the cached records of
// the keys fn wrote are replaced by what the transaction stored (or dropped
// when it failed). fn writes written[key] = nil for a key it removed.
func (s *Store) updateUsers(ctx context.Context, fn func(tx *bolt.Tx, written map[string]*userRecord) error) error {
	written := map[string]*userRecord{}
	err := s.update(ctx, func(tx *bolt.Tx) error { return fn(tx, written) })
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	s.gen.Add(1)
	for key, rec := range written {
		if err != nil || rec == nil {
			s.users.Remove(key)
		} else {
			s.users.Add(key, *rec)
		}
	}
	return err
}

// Kind names the implementation.
func (s *Store) Kind() string { return "embedded" }

// Close releases the file.
func (s *Store) Close() error { return s.db.Close() }

// Health runs a read transaction; it fails once the store is closed.
func (s *Store) Health(ctx context.Context) error {
	return s.view(ctx, func(tx *bolt.Tx) error { return nil })
}

// storedUser is schema.User without its methods, so records encode and
// decode as a plain struct: the lenient request-style decoding of User is
// much slower and records are always well-formed.
type storedUser schema.User

// userRecord is the stored form of a user node.
type userRecord struct {
	User storedUser `json:"user"`
	// Props are the node's other properties: each other_key_values entry
	// is one, as in the graph, and any value type another writer stored
	// reads back as its string form.
	Props map[string]any `json:"properties,omitempty"`
	// Stub marks the minimal node a relation write creates for an unknown
	// id; like a Neo4j node without is_active, it is not listed as active.
	Stub           bool   `json:"stub,omitempty"`
	PublishedTag   string `json:"published_tag"`
	CreatedEpochMs int64  `json:"publisher_created_epoch_ms"`
	UpdatedEpochMs int64  `json:"publisher_last_updated_epoch_ms"`
}

// GetUser returns the user stored under key.
func (s *Store) GetUser(ctx context.Context, key string) (schema.User, error) {
	rec, found, err := s.record(ctx, key)
	if err != nil {
		return schema.User{}, err
	}
	if !found {
		return schema.User{}, schema.Errorf(schema.KindNotFound, "user_id %s not found", key)
	}
	u := s.user(rec)
	u.NodeKey = key
	return s.withManager(ctx, u), nil
}

// user is the record as the API shows it: other_key_values are the
// configured properties. Records of earlier versions kept the entries
// inside the user; those fill configured keys not yet properties.
func (s *Store) user(rec userRecord) schema.User {
	u := schema.User(rec.User)
	u.OtherKeyValues = s.otherKeys.Legacy(s.otherKeys.Read(rec.Props), u.OtherKeyValues)
	return u
}

// withManager fills manager_fullname from the manager's node when the user
// names a manager the store knows, as Amundsen reads it over MANAGE_BY.
func (s *Store) withManager(ctx context.Context, u schema.User) schema.User {
	if u.ManagerFullname != "" || u.ManagerEmail == "" {
		return u
	}
	mgr, _, _ := s.record(ctx, schema.UserKey(u.ManagerEmail))
	u.ManagerFullname = mgr.User.FullName
	return u
}

// GetUsers returns every active, non-stub user ordered by key.
func (s *Store) GetUsers(ctx context.Context) ([]schema.User, error) {
	users := []schema.User{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketUsers).ForEach(func(_, v []byte) error {
			var rec userRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("decode stored user: %w", err)
			}
			if rec.User.IsActive && !rec.Stub {
				users = append(users, s.user(rec))
			}
			return nil
		})
	})
	return users, err
}

// CreateUpdateUser upserts u, keeping non-empty stored values that u leaves
// empty.
func (s *Store) CreateUpdateUser(ctx context.Context, u schema.User) (schema.User, bool, error) {
	key, err := u.WriteKey()
	if err != nil {
		return schema.User{}, false, err
	}
	var (
		stored  schema.User
		created bool
	)
	err = s.updateUsers(ctx, func(tx *bolt.Tx, written map[string]*userRecord) error {
		b := tx.Bucket(bucketUsers)
		var rec userRecord
		found, err := getJSON(b, key, &rec)
		if err != nil {
			return err
		}
		// The directory id before this write (read now: the loop below
		// writes into the record's Props map itself).
		oldID := ""
		if found {
			oldID = directoryID(rec)
		}
		nowMs := s.now().UnixMilli()
		incoming := u
		incoming.OtherKeyValues = nil
		if found {
			rec.User = storedUser(schema.MergeNonEmpty(schema.User(rec.User), incoming))
		} else {
			rec.User = storedUser(incoming)
			rec.CreatedEpochMs = nowMs
			created = true
		}
		for name, v := range u.OtherKeyValues {
			if v == "" {
				continue
			}
			if rec.Props == nil {
				rec.Props = map[string]any{}
			}
			rec.Props[name] = v
		}
		rec.Stub = false
		rec.PublishedTag = "api_create_update_user"
		rec.UpdatedEpochMs = nowMs
		rec.User.NodeKey = ""
		stored = s.user(rec)
		stored.NodeKey = key
		written[key] = &rec
		if err := indexUserID(tx.Bucket(bucketUserIDs), key, rec); err != nil {
			return err
		}
		if err := indexDirectoryID(tx.Bucket(bucketDirectoryIDs), oldID, key, rec); err != nil {
			return err
		}
		return putJSON(b, key, rec)
	})
	if err != nil {
		return schema.User{}, false, err
	}
	return s.withManager(ctx, stored), created, nil
}

// GetUserResources returns what the user follows or owns.
func (s *Store) GetUserResources(ctx context.Context, userKey string, rel schema.Relation) (schema.UserResources, error) {
	res := schema.UserResources{Table: []schema.PopularTable{}, Dashboard: []schema.DashboardSummary{}}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return forEachEdge(tx, rel, userKey, func(t schema.ResourceType, key string, _ edgeValue) error {
			switch t {
			case schema.Table:
				var tbl schema.TableRecord
				if found, err := getJSON(tx.Bucket(bucketTables), key, &tbl); err != nil || !found {
					return err
				}
				res.Table = append(res.Table, tbl.Summary())
			case schema.Dashboard:
				var d schema.DashboardRecord
				if found, err := getJSON(tx.Bucket(bucketDashboards), key, &d); err != nil || !found {
					return err
				}
				res.Dashboard = append(res.Dashboard, d.Summary())
			}
			return nil
		})
	})
	if err != nil {
		return schema.UserResources{}, err
	}
	schema.SortTables(res.Table)
	schema.SortDashboards(res.Dashboard)
	return res, nil
}

// GetFrequentlyUsedTables returns the user's most read tables in the order
// of Amundsen's get_frequently_used_tables: newest publish tag first, then
// read count.
func (s *Store) GetFrequentlyUsedTables(ctx context.Context, userKey string) ([]schema.PopularTable, error) {
	type read struct {
		table schema.TableRecord
		tag   string
		count int64
	}
	var reads []read
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return forEachEdge(tx, schema.Read, userKey, func(t schema.ResourceType, key string, v edgeValue) error {
			// Amundsen lists only reads that carry a publish tag.
			if v.PublishedTag == "" {
				return nil
			}
			var tbl schema.TableRecord
			if found, err := getJSON(tx.Bucket(bucketTables), key, &tbl); err != nil || !found {
				return err
			}
			reads = append(reads, read{tbl, v.PublishedTag, v.ReadCount})
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(reads, func(a, b read) int {
		return cmp.Or(cmp.Compare(b.tag, a.tag), cmp.Compare(b.count, a.count), cmp.Compare(a.table.Key, b.table.Key))
	})
	tables := make([]schema.PopularTable, 0, min(len(reads), schema.MaxReadTables))
	for _, r := range reads[:min(len(reads), schema.MaxReadTables)] {
		tables = append(tables, r.table.Summary())
	}
	return tables, nil
}

// AddResourceRelation links user and resource in both directions.
func (s *Store) AddResourceRelation(ctx context.Context, userKey string, rel schema.Relation, t schema.ResourceType, resourceKey string) error {
	if err := checkWritable(rel); err != nil {
		return err
	}
	return s.updateUsers(ctx, func(tx *bolt.Tx, written map[string]*userRecord) error {
		if err := requireResource(tx, t, resourceKey); err != nil {
			return err
		}
		if err := s.ensureUser(tx, userKey, written); err != nil {
			return err
		}
		return putEdge(tx, rel, userKey, t, resourceKey, edgeValue{})
	})
}

// DeleteResourceRelation removes both directions of the edge, if present.
func (s *Store) DeleteResourceRelation(ctx context.Context, userKey string, rel schema.Relation, t schema.ResourceType, resourceKey string) error {
	if err := checkWritable(rel); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		fwd, rev := edgeKeys(rel, userKey, t, resourceKey)
		if err := tx.Bucket(bucketEdges).Delete(fwd); err != nil {
			return err
		}
		return tx.Bucket(bucketReverse).Delete(rev)
	})
}

// UsersOfResource lists the keys of users with rel to the resource, read
// through the resource→user direction (OWNER, FOLLOWED_BY, READ_BY).
func (s *Store) UsersOfResource(ctx context.Context, t schema.ResourceType, resourceKey string, rel schema.Relation) ([]string, error) {
	var users []string
	prefix := []byte(string(t) + sep + resourceKey + sep + string(rel) + sep)
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketReverse).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			users = append(users, string(k[len(prefix):]))
		}
		return nil
	})
	return users, err
}

// LoadCatalog upserts resource nodes and read edges, in one transaction.
func (s *Store) LoadCatalog(ctx context.Context, c schema.Catalog) error {
	return s.updateUsers(ctx, func(tx *bolt.Tx, written map[string]*userRecord) error {
		for _, t := range c.Tables {
			if err := putResource(tx, bucketTables, t.Key, t); err != nil {
				return err
			}
		}
		for _, d := range c.Dashboards {
			if err := putResource(tx, bucketDashboards, d.Key, d); err != nil {
				return err
			}
		}
		for _, f := range c.Features {
			if err := putResource(tx, bucketFeatures, f.Key, f); err != nil {
				return err
			}
		}
		for _, r := range c.Reads {
			key := schema.UserKey(r.User)
			if err := schema.CheckID("read user", key); err != nil {
				return err
			}
			if err := requireResource(tx, schema.Table, r.Table); err != nil {
				return err
			}
			if err := s.ensureUser(tx, key, written); err != nil {
				return err
			}
			if err := putEdge(tx, schema.Read, key, schema.Table, r.Table, edgeValue{ReadCount: r.ReadCount, PublishedTag: r.Tag()}); err != nil {
				return err
			}
		}
		return nil
	})
}

func putResource(tx *bolt.Tx, bucket []byte, key string, v any) error {
	if err := schema.CheckID("resource key", key); err != nil {
		return err
	}
	return putJSON(tx.Bucket(bucket), key, v)
}

// ensureUser creates the minimal node Amundsen writes for a relation to an
// unknown id: key and email only.
func (s *Store) ensureUser(tx *bolt.Tx, key string, written map[string]*userRecord) error {
	b := tx.Bucket(bucketUsers)
	if b.Get([]byte(key)) != nil {
		return nil
	}
	nowMs := s.now().UnixMilli()
	rec := userRecord{
		User:           storedUser{UserID: key, Email: key, IsActive: true},
		Stub:           true,
		PublishedTag:   "api_add_resource_relation",
		CreatedEpochMs: nowMs,
		UpdatedEpochMs: nowMs,
	}
	written[key] = &rec
	return putJSON(b, key, rec)
}

func checkWritable(rel schema.Relation) error {
	if rel != schema.Follow && rel != schema.Own {
		return schema.Errorf(schema.KindInvalid, "relation %q cannot be written", rel)
	}
	return nil
}

func resourceBucket(t schema.ResourceType) ([]byte, error) {
	switch t {
	case schema.Table:
		return bucketTables, nil
	case schema.Dashboard:
		return bucketDashboards, nil
	case schema.Feature:
		return bucketFeatures, nil
	}
	return nil, schema.Errorf(schema.KindInvalid, "resource type %q is not supported", t)
}

func requireResource(tx *bolt.Tx, t schema.ResourceType, key string) error {
	name, err := resourceBucket(t)
	if err != nil {
		return err
	}
	if tx.Bucket(name).Get([]byte(key)) == nil {
		return schema.Errorf(schema.KindNotFound, "%s %s not found", t, key)
	}
	return nil
}

// edgeValue is stored on both directions of an edge.
type edgeValue struct {
	ReadCount    int64  `json:"read_count,omitempty"`
	PublishedTag string `json:"published_tag,omitempty"`
}

func edgeKeys(rel schema.Relation, userKey string, t schema.ResourceType, resourceKey string) (fwd, rev []byte) {
	fwd = []byte(string(rel) + sep + userKey + sep + string(t) + sep + resourceKey)
	rev = []byte(string(t) + sep + resourceKey + sep + string(rel) + sep + userKey)
	return fwd, rev
}

func putEdge(tx *bolt.Tx, rel schema.Relation, userKey string, t schema.ResourceType, resourceKey string, v edgeValue) error {
	fwd, rev := edgeKeys(rel, userKey, t, resourceKey)
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := tx.Bucket(bucketEdges).Put(fwd, data); err != nil {
		return err
	}
	return tx.Bucket(bucketReverse).Put(rev, data)
}

func forEachEdge(tx *bolt.Tx, rel schema.Relation, userKey string, fn func(schema.ResourceType, string, edgeValue) error) error {
	prefix := []byte(string(rel) + sep + userKey + sep)
	c := tx.Bucket(bucketEdges).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		typ, resourceKey, ok := strings.Cut(string(k[len(prefix):]), sep)
		if !ok {
			return fmt.Errorf("corrupt edge key %q", k)
		}
		var ev edgeValue
		if err := json.Unmarshal(v, &ev); err != nil {
			return fmt.Errorf("decode edge: %w", err)
		}
		if err := fn(schema.ResourceType(typ), resourceKey, ev); err != nil {
			return err
		}
	}
	return nil
}

func getJSON(b *bolt.Bucket, key string, v any) (bool, error) {
	data := b.Get([]byte(key))
	if data == nil {
		return false, nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("decode stored %q: %w", key, err)
	}
	return true, nil
}

func putJSON(b *bolt.Bucket, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), data)
}

func (s *Store) view(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return wrapDB(s.db.View(fn))
}

func (s *Store) update(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return wrapDB(s.db.Update(fn))
}

// wrapDB classifies storage failures as unavailable while letting the
// domain errors raised inside transactions through unchanged.
func wrapDB(err error) error {
	if err == nil || schema.KindOf(err) != schema.KindInternal {
		return err
	}
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return schema.Unavailable("embedded store is closed", 0, err)
	}
	return err
}

// GetSyncState returns the saved sync state of name.
func (s *Store) GetSyncState(ctx context.Context, name string) (proxy.SyncState, error) {
	var st proxy.SyncState
	err := s.view(ctx, func(tx *bolt.Tx) error {
		_, err := getJSON(tx.Bucket(bucketSync), "state:"+name, &st)
		return err
	})
	return st, err
}

// PutSyncState saves the sync state of name.
func (s *Store) PutSyncState(ctx context.Context, name string, st proxy.SyncState) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		return putJSON(tx.Bucket(bucketSync), "state:"+name, st)
	})
}

type lease struct {
	Owner   string    `json:"owner"`
	Expires time.Time `json:"expires"`
}

// AcquireLease takes or renews the lease in one transaction.
func (s *Store) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	acquired := false
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSync)
		var l lease
		if _, err := getJSON(b, "lease:"+name, &l); err != nil {
			return err
		}
		now := s.now()
		if l.Owner != "" && l.Owner != owner && now.Before(l.Expires) {
			return nil
		}
		acquired = true
		return putJSON(b, "lease:"+name, lease{Owner: owner, Expires: now.Add(ttl)})
	})
	return acquired, err
}

// ReleaseLease drops the lease if owner holds it.
func (s *Store) ReleaseLease(ctx context.Context, name, owner string) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSync)
		var l lease
		if _, err := getJSON(b, "lease:"+name, &l); err != nil || l.Owner != owner {
			return err
		}
		return b.Delete([]byte("lease:" + name))
	})
}
