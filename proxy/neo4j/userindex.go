package neo4j

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"

	"github.com/usersvc/usersvc/proxy"
	"github.com/usersvc/usersvc/schema"
)

var _ proxy.UserIndex = (*Store)(nil)

// userKeysByProperty is the statement that finds nodes by each name of
// proxy.IndexedUserProperties (Cypher takes no property name as a
// parameter); a name missing here is a usersvc bug, which a unit test
// catches.
var userKeysByProperty = map[string]string{
	schema.DirectoryIDProperty:   stmtUserKeysByDirectoryID,
	proxy.SCIMIDProperty:         stmtUserKeysBySCIMID,
	proxy.SCIMExternalIDProperty: stmtUserKeysBySCIMExternalID,
}

// UserKeysByProperty returns, sorted, the keys of the nodes whose property
// name is value, through that property's index. An empty value matches
// nothing (databuilder writes empty strings for missing values, so it
// would match every node it published without one): empty and absent are
// the same to UserIndex.
func (s *Store) UserKeysByProperty(ctx context.Context, name, value string) ([]string, error) {
	if !slices.Contains(proxy.IndexedUserProperties, name) {
		return nil, schema.Errorf(schema.KindInvalid, "user property %q cannot be searched", name)
	}
	stmt, ok := userKeysByProperty[name]
	if !ok {
		return nil, fmt.Errorf("no statement finds users by %s", name)
	}
	if value == "" {
		return []string{}, nil
	}
	return s.readKeys(ctx, stmt, map[string]any{"id": value})
}

// UserProperties returns the named properties of the node keyed key that
// hold a non-empty string. Names must be properties outside the user model
// (schema.CheckOtherKeyName), as in the embedded store, whose model fields
// are no properties.
func (s *Store) UserProperties(ctx context.Context, key string, names ...string) (map[string]string, error) {
	for _, name := range names {
		if err := schema.CheckOtherKeyName(name); err != nil {
			return nil, err
		}
	}
	return query(s, ctx, stmtUserProperties, map[string]any{"key": key}, func(recs []*neo4j.Record) (map[string]string, error) {
		if len(recs) == 0 {
			return nil, schema.Errorf(schema.KindNotFound, "user_id %s not found", key)
		}
		all, _ := valueOrNil(recs[0], "properties").(map[string]any)
		props := make(map[string]string, len(names))
		for _, name := range names {
			if v, ok := all[name].(string); ok && v != "" {
				props[name] = v
			}
		}
		return props, nil
	})
}

// SetUserPropertyIfAbsent sets name on the node keyed key unless it holds a
// value other than the empty string already, in one write transaction that first takes
// the node's write lock (stmtLockUser): concurrent callers run one after
// the other and all answer the first one's value. A value another writer
// stored with another type is kept and answered in its string form.
func (s *Store) SetUserPropertyIfAbsent(ctx context.Context, key, name, value string) (string, error) {
	if err := schema.CheckOtherKeyName(name); err != nil {
		return "", err
	}
	if value == "" {
		return "", schema.Errorf(schema.KindInvalid, "user property %s: the value is empty", name)
	}
	return write(s, ctx, func(tx neo4j.ManagedTransaction) (string, error) {
		recs, err := collect(ctx, tx, stmtLockUser, map[string]any{"key": key})
		if err != nil {
			return "", err
		}
		if len(recs) == 0 {
			return "", schema.Errorf(schema.KindNotFound, "user_id %s not found", key)
		}
		recs, err = collect(ctx, tx, stmtSetUserPropertyIfAbsent, map[string]any{
			"key": key, "name": name, "props": map[string]any{name: value},
		})
		if err != nil {
			return "", err
		}
		if len(recs) != 1 {
			return "", fmt.Errorf("set user property returned %d rows", len(recs))
		}
		held, _ := schema.PropertyString(valueOrNil(recs[0], "value"))
		return held, nil
	})
}

// PageUserKeys counts the keyed User nodes and reads one page of their
// keys, in key order, in one read transaction.
func (s *Store) PageUserKeys(ctx context.Context, offset, limit int) ([]string, int, error) {
	return s.pageKeys(ctx, stmtCountUserKeys, stmtPageUserKeys, offset, limit)
}

// PageSCIMUserKeys is PageUserKeys over the nodes holding a SCIM id.
func (s *Store) PageSCIMUserKeys(ctx context.Context, offset, limit int) ([]string, int, error) {
	return s.pageKeys(ctx, stmtCountSCIMUserKeys, stmtPageSCIMUserKeys, offset, limit)
}

func (s *Store) pageKeys(ctx context.Context, count, pageStmt string, offset, limit int) ([]string, int, error) {
	if offset < 0 || limit < 0 {
		return nil, 0, schema.Errorf(schema.KindInvalid, "page offset %d and limit %d must not be negative", offset, limit)
	}
	type page struct {
		keys  []string
		total int
	}
	p, err := read(s, ctx, func(tx neo4j.ManagedTransaction) (page, error) {
		recs, err := collect(ctx, tx, count, nil)
		if err != nil {
			return page{}, err
		}
		total, _ := valueOrNil(recs[0], "total").(int64)
		keys := []string{}
		if limit > 0 && int64(offset) < total {
			recs, err = collect(ctx, tx, pageStmt, map[string]any{"offset": int64(offset), "limit": int64(limit)})
			if err != nil {
				return page{}, err
			}
			keys = keysOf(recs)
		}
		return page{keys, int(total)}, nil
	})
	if err != nil {
		return nil, 0, err
	}
	return p.keys, p.total, nil
}

// ClearUserProperties removes the named properties from the node keyed key
// in one write transaction: stmtLockUser takes the node's write lock
// first, so the legacy other_key_values property read next (nodes of
// earlier usersvc versions hold the entries as one JSON string, which
// GetUser still reads) is rewritten without the cleared names and no
// concurrent writer's change is lost; stmtClearUserProperties then sets
// each name to null, which removes it. With manager_email and manager_id
// both cleared, stmtUnlinkManager deletes the MANAGE_BY edges too.
func (s *Store) ClearUserProperties(ctx context.Context, key string, names ...string) error {
	for _, name := range names {
		if err := proxy.CheckClearableUserProperty(name); err != nil {
			return err
		}
	}
	if len(names) == 0 {
		_, err := read(s, ctx, func(tx neo4j.ManagedTransaction) (struct{}, error) {
			recs, err := collect(ctx, tx, stmtCountUserKey, map[string]any{"key": key})
			if err != nil {
				return struct{}{}, err
			}
			if n, _ := valueOrNil(recs[0], "n").(int64); n == 0 {
				return struct{}{}, schema.Errorf(schema.KindNotFound, "user_id %s not found", key)
			}
			return struct{}{}, nil
		})
		return err
	}
	_, err := write(s, ctx, func(tx neo4j.ManagedTransaction) (struct{}, error) {
		recs, err := collect(ctx, tx, stmtLockUser, map[string]any{"key": key})
		if err != nil {
			return struct{}{}, err
		}
		if len(recs) == 0 {
			return struct{}{}, schema.Errorf(schema.KindNotFound, "user_id %s not found", key)
		}
		recs, err = collect(ctx, tx, stmtUserProperties, map[string]any{"key": key})
		if err != nil {
			return struct{}{}, err
		}
		if len(recs) == 0 {
			return struct{}{}, schema.Errorf(schema.KindNotFound, "user_id %s not found", key)
		}
		props := make(map[string]any, len(names)+1)
		for _, name := range names {
			props[name] = nil
		}
		all, _ := valueOrNil(recs[0], "properties").(map[string]any)
		if legacy, changed := legacyWithout(all["other_key_values"], names); changed {
			props["other_key_values"] = legacy
		}
		if _, err := collect(ctx, tx, stmtClearUserProperties, map[string]any{"key": key, "props": props}); err != nil {
			return struct{}{}, err
		}
		if slices.Contains(names, "manager_email") && slices.Contains(names, "manager_id") {
			if _, err := collect(ctx, tx, stmtUnlinkManager, map[string]any{"key": key}); err != nil {
				return struct{}{}, err
			}
		}
		return struct{}{}, nil
	})
	return err
}

// legacyWithout is the legacy other_key_values property v without the
// entries of names, each other entry kept as written; nil when none is
// left. changed is false when v holds none of them or is no JSON object,
// and then the property is left alone.
func legacyWithout(v any, names []string) (legacy any, changed bool) {
	text, ok := v.(string)
	if !ok || text == "" {
		return nil, false
	}
	var entries map[string]json.RawMessage
	if json.Unmarshal([]byte(text), &entries) != nil {
		return nil, false
	}
	for _, name := range names {
		if _, ok := entries[name]; ok {
			delete(entries, name)
			changed = true
		}
	}
	if !changed || len(entries) == 0 {
		return nil, changed
	}
	out, err := json.Marshal(entries)
	if err != nil {
		return nil, false
	}
	return string(out), true
}
