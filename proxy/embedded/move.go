package embedded

import (
	"context"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/usersvc/usersvc/schema"
)

// bucketDirectoryIDs indexes user nodes by their directory id property
// (okta_id → key, one key per line), so that sync finds a person's node in
// one read when their email, and so their key, changed.
var bucketDirectoryIDs = []byte("directory_ids")

// ensureDirectoryIDIndex creates the index, filling it from the stored
// users when the file predates it.
func ensureDirectoryIDIndex(tx *bolt.Tx) error {
	return ensureIndex(tx, bucketDirectoryIDs, func(idx *bolt.Bucket, key string, rec userRecord) error {
		return indexDirectoryID(idx, "", key, rec)
	})
}

// directoryID is the record's directory id property, if any.
func directoryID(rec userRecord) string {
	id, _ := rec.Props[schema.DirectoryIDProperty].(string)
	return id
}

// indexDirectoryID moves key's index entry from the id it had (old) to the
// record's id now.
func indexDirectoryID(idx *bolt.Bucket, old, key string, rec userRecord) error {
	id := directoryID(rec)
	if old == id {
		return nil
	}
	if old != "" {
		if err := idx.Delete([]byte(old + sep + key)); err != nil {
			return err
		}
	}
	if id == "" {
		return nil
	}
	return idx.Put([]byte(id+sep+key), nil)
}

// UserKeysByDirectoryID returns the keys of the nodes whose directory id
// is id, sorted.
func (s *Store) UserKeysByDirectoryID(ctx context.Context, id string) ([]string, error) {
	var keys []string
	err := s.view(ctx, func(tx *bolt.Tx) error {
		prefix := []byte(id + sep)
		c := tx.Bucket(bucketDirectoryIDs).Cursor()
		for k, _ := c.Seek(prefix); k != nil && len(k) > len(prefix) && string(k[:len(prefix)]) == string(prefix); k, _ = c.Next() {
			keys = append(keys, string(k[len(prefix):]))
		}
		return nil
	})
	slices.Sort(keys)
	return keys, err
}

// MoveUser re-keys the node from → to with its edges, in one transaction.
func (s *Store) MoveUser(ctx context.Context, from, to string) error {
	if from == "" || to == "" {
		return schema.Errorf(schema.KindInvalid, "%s", schema.MsgNoUserID)
	}
	if from == to {
		return nil
	}
	err := s.updateUsers(ctx, func(tx *bolt.Tx, written map[string]*userRecord) error {
		users := tx.Bucket(bucketUsers)
		var rec userRecord
		found, err := getJSON(users, from, &rec)
		if err != nil {
			return err
		}
		if !found {
			return schema.Errorf(schema.KindNotFound, "user_id %s not found", from)
		}
		if users.Get([]byte(to)) != nil {
			return schema.Errorf(schema.KindConflict, "user_id %s: another node is keyed %s already; nothing was moved", from, to)
		}
		rec.UpdatedEpochMs = s.now().UnixMilli()
		if err := users.Delete([]byte(from)); err != nil {
			return err
		}
		if err := putJSON(users, to, rec); err != nil {
			return err
		}
		written[from], written[to] = nil, &rec
		ids := tx.Bucket(bucketUserIDs)
		if id := rec.User.UserID; id != "" {
			if string(ids.Get([]byte(id))) == from {
				if err := ids.Delete([]byte(id)); err != nil {
					return err
				}
			}
			if err := indexUserID(ids, to, rec); err != nil {
				return err
			}
		}
		if id := directoryID(rec); id != "" {
			dids := tx.Bucket(bucketDirectoryIDs)
			if err := dids.Delete([]byte(id + sep + from)); err != nil {
				return err
			}
			if err := dids.Put([]byte(id+sep+to), nil); err != nil {
				return err
			}
		}
		return moveEdges(tx, from, to)
	})
	if err != nil {
		return fmt.Errorf("move user %s to %s: %w", from, to, err)
	}
	return nil
}

// moveEdges re-points every follow, own and read edge of from at to.
func moveEdges(tx *bolt.Tx, from, to string) error {
	for _, rel := range []schema.Relation{schema.Follow, schema.Own, schema.Read} {
		type edge struct {
			t   schema.ResourceType
			key string
			v   edgeValue
		}
		var edges []edge
		if err := forEachEdge(tx, rel, from, func(t schema.ResourceType, key string, v edgeValue) error {
			edges = append(edges, edge{t, key, v})
			return nil
		}); err != nil {
			return err
		}
		for _, e := range edges {
			fwd, rev := edgeKeys(rel, from, e.t, e.key)
			if err := tx.Bucket(bucketEdges).Delete(fwd); err != nil {
				return err
			}
			if err := tx.Bucket(bucketReverse).Delete(rev); err != nil {
				return err
			}
			if err := putEdge(tx, rel, to, e.t, e.key, e.v); err != nil {
				return err
			}
		}
	}
	return nil
}
