package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/usersvc/usersvc/proxy"
	"github.com/usersvc/usersvc/schema"
)

var _ proxy.UserIndex = (*Store)(nil)

// UserKeysByProperty returns, sorted, the keys of the users whose property
// name holds exactly value (a string; another writer's number or boolean
// never matches, as in Neo4j). okta_id is looked up in the directory-id
// index; the SCIM properties are found by scanning the users bucket, which
// is linear in the number of users (Neo4j has an index for each): fine for
// the embedded store's size. An empty value matches nothing: empty and
// absent are the same to UserIndex.
func (s *Store) UserKeysByProperty(ctx context.Context, name, value string) ([]string, error) {
	if !slices.Contains(proxy.IndexedUserProperties, name) {
		return nil, schema.Errorf(schema.KindInvalid, "user property %q cannot be searched", name)
	}
	if value == "" {
		return []string{}, nil
	}
	if name == schema.DirectoryIDProperty {
		keys, err := s.UserKeysByDirectoryID(ctx, value)
		if keys == nil {
			keys = []string{}
		}
		return keys, err
	}
	keys := []string{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		// Only the properties are decoded; keys come in bucket order, which
		// is sorted.
		return tx.Bucket(bucketUsers).ForEach(func(k, v []byte) error {
			var rec struct {
				Props map[string]any `json:"properties"`
			}
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("decode stored user %q: %w", k, err)
			}
			if got, ok := rec.Props[name].(string); ok && got == value {
				keys = append(keys, string(k))
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return keys, nil
}

// UserProperties returns the named properties of key's record that hold a
// non-empty string. Names must be properties outside the user model
// (schema.CheckOtherKeyName), as other_key_values entries are: the model's
// own fields are not record properties here.
func (s *Store) UserProperties(ctx context.Context, key string, names ...string) (map[string]string, error) {
	for _, name := range names {
		if err := schema.CheckOtherKeyName(name); err != nil {
			return nil, err
		}
	}
	rec, found, err := s.record(ctx, key)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, schema.Errorf(schema.KindNotFound, "user_id %s not found", key)
	}
	props := make(map[string]string, len(names))
	for _, name := range names {
		if v, ok := rec.Props[name].(string); ok && v != "" {
			props[name] = v
		}
	}
	return props, nil
}

// SetUserPropertyIfAbsent sets name on key's record unless it holds a value
// already, in one write transaction (bbolt runs one at a time, so
// concurrent callers see each other's result), through updateUsers so the
// record cache follows. Any value other than "" counts as held, also one of
// another type (returned in its string form): it is never overwritten.
func (s *Store) SetUserPropertyIfAbsent(ctx context.Context, key, name, value string) (string, error) {
	if err := schema.CheckOtherKeyName(name); err != nil {
		return "", err
	}
	if value == "" {
		return "", schema.Errorf(schema.KindInvalid, "user property %s: the value is empty", name)
	}
	var held string
	err := s.updateRecord(ctx, key, func(rec *userRecord) bool {
		if cur, ok := schema.PropertyString(rec.Props[name]); ok && cur != "" {
			held = cur
			return false
		}
		if rec.Props == nil {
			rec.Props = map[string]any{}
		}
		rec.Props[name] = value
		held = value
		return true
	})
	if err != nil {
		return "", err
	}
	return held, nil
}

// updateRecord runs change on key's record in one write transaction,
// through updateUsers so the record cache follows; when change reports a
// change, the record is stamped and stored and the directory-id index
// follows its okta_id. KindNotFound when there is no record.
func (s *Store) updateRecord(ctx context.Context, key string, change func(rec *userRecord) bool) error {
	return s.updateUsers(ctx, func(tx *bolt.Tx, written map[string]*userRecord) error {
		users := tx.Bucket(bucketUsers)
		var rec userRecord
		found, err := getJSON(users, key, &rec)
		if err != nil {
			return err
		}
		if !found {
			return schema.Errorf(schema.KindNotFound, "user_id %s not found", key)
		}
		oldID := directoryID(rec)
		if !change(&rec) {
			return nil
		}
		rec.UpdatedEpochMs = s.now().UnixMilli()
		written[key] = &rec
		if err := indexDirectoryID(tx.Bucket(bucketDirectoryIDs), oldID, key, rec); err != nil {
			return err
		}
		return putJSON(users, key, rec)
	})
}

// PageUserKeys walks the users bucket's cursor: bbolt orders keys by their
// bytes, and for UTF-8 strings byte order is Unicode code point order,
// which is how Neo4j orders stored string properties (ORDER BY u.key gives
// the same sequence on 4.4 and 5.x, ASCII and beyond; the contract checks
// both stores against Go's string order). Every record counts, minimal
// nodes from relation writes too, as every (:User) node does in Neo4j.
func (s *Store) PageUserKeys(ctx context.Context, offset, limit int) ([]string, int, error) {
	return s.pageKeys(ctx, nil, offset, limit)
}

// PageSCIMUserKeys is PageUserKeys over the records holding a SCIM id: a
// scan, as UserKeysByProperty's for the SCIM properties.
func (s *Store) PageSCIMUserKeys(ctx context.Context, offset, limit int) ([]string, int, error) {
	return s.pageKeys(ctx, func(k, v []byte) (bool, error) {
		var rec struct {
			Props map[string]any `json:"properties"`
		}
		if err := json.Unmarshal(v, &rec); err != nil {
			return false, fmt.Errorf("decode stored user %q: %w", k, err)
		}
		id, _ := rec.Props[proxy.SCIMIDProperty].(string)
		return id != "", nil
	}, offset, limit)
}

// pageKeys walks the users bucket in key order, counting the records keep
// accepts (all when nil) and collecting one page of their keys.
func (s *Store) pageKeys(ctx context.Context, keep func(k, v []byte) (bool, error), offset, limit int) ([]string, int, error) {
	if offset < 0 || limit < 0 {
		return nil, 0, schema.Errorf(schema.KindInvalid, "page offset %d and limit %d must not be negative", offset, limit)
	}
	keys := []string{}
	total := 0
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketUsers).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if keep != nil {
				if ok, err := keep(k, v); err != nil {
					return err
				} else if !ok {
					continue
				}
			}
			if total >= offset && total-offset < limit {
				keys = append(keys, string(k))
			}
			total++
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return keys, total, nil
}

// ClearUserProperties removes the named fields and properties from key's
// record in one write transaction, through updateUsers so the record cache
// follows; a cleared okta_id leaves the directory-id index too. An entry of
// the same name in the other_key_values map of an earlier version's record
// goes with the property. The store keeps no MANAGE_BY edges: the manager
// is read from manager_email alone (withManager), so clearing it is enough.
func (s *Store) ClearUserProperties(ctx context.Context, key string, names ...string) error {
	for _, name := range names {
		if err := proxy.CheckClearableUserProperty(name); err != nil {
			return err
		}
	}
	if len(names) == 0 {
		if _, found, err := s.record(ctx, key); err != nil || found {
			return err
		}
		return schema.Errorf(schema.KindNotFound, "user_id %s not found", key)
	}
	return s.updateRecord(ctx, key, func(rec *userRecord) bool {
		for _, name := range names {
			if field := userField(&rec.User, name); field != nil {
				*field = ""
				continue
			}
			delete(rec.Props, name)
			delete(rec.User.OtherKeyValues, name)
		}
		if len(rec.Props) == 0 {
			rec.Props = nil
		}
		if len(rec.User.OtherKeyValues) == 0 {
			rec.User.OtherKeyValues = nil
		}
		return true
	})
}

// userField is the record's field of a name of proxy.ClearableUserFields,
// or nil for any other name.
func userField(u *storedUser, name string) *string {
	switch name {
	case "first_name":
		return &u.FirstName
	case "last_name":
		return &u.LastName
	case "full_name":
		return &u.FullName
	case "display_name":
		return &u.DisplayName
	case "email":
		return &u.Email
	case "team_name":
		return &u.TeamName
	case "role_name":
		return &u.RoleName
	case "manager_id":
		return &u.ManagerID
	case "manager_email":
		return &u.ManagerEmail
	case "manager_fullname":
		return &u.ManagerFullname
	case "employee_type":
		return &u.EmployeeType
	case "github_username":
		return &u.GithubUsername
	case "slack_id":
		return &u.SlackID
	case "profile_url":
		return &u.ProfileURL
	}
	return nil
}
