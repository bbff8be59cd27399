package embedded

import (
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/usersvc/usersvc/proxy"
	"github.com/usersvc/usersvc/schema"
)

// bucketUserIDs indexes user nodes by their user_id property (user_id →
// key), the embedded counterpart of Neo4j's index on User.user_id: a
// directory person's node is keyed by email, and a request by their login
// finds it here instead of writing a second node.
var bucketUserIDs = []byte("user_ids")

// ensureUserIDIndex creates the index, filling it from the stored users
// when the file predates it.
func ensureUserIDIndex(tx *bolt.Tx) error { return ensureIndex(tx, bucketUserIDs, indexUserID) }

// ensureIndex creates the index bucket name, filling it with add for every
// stored user when the file predates it.
func ensureIndex(tx *bolt.Tx, name []byte, add func(idx *bolt.Bucket, key string, rec userRecord) error) error {
	if tx.Bucket(name) != nil {
		return nil
	}
	idx, err := tx.CreateBucket(name)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketUsers).ForEach(func(k, _ []byte) error {
		var rec userRecord
		if _, err := getJSON(tx.Bucket(bucketUsers), string(k), &rec); err != nil {
			return err
		}
		return add(idx, string(k), rec)
	})
}

// indexUserID records rec's user_id when it differs from its key (the
// key itself is found without the index).
func indexUserID(idx *bolt.Bucket, key string, rec userRecord) error {
	if id := rec.User.UserID; id != "" && id != key {
		return idx.Put([]byte(id), []byte(key))
	}
	return nil
}

// GetUserByUserID returns the node whose user_id property is userID.
func (s *Store) GetUserByUserID(ctx context.Context, userID string) (schema.User, error) {
	var key string
	err := s.view(ctx, func(tx *bolt.Tx) error {
		key = string(tx.Bucket(bucketUserIDs).Get([]byte(userID)))
		return nil
	})
	if err != nil {
		return schema.User{}, err
	}
	if key != "" {
		// The entry may be stale (the node's user_id changed since).
		if u, err := s.GetUser(ctx, key); err == nil && u.UserID == userID {
			return u, nil
		} else if err != nil && !schema.IsNotFound(err) {
			return schema.User{}, err
		}
	}
	return schema.User{}, schema.Errorf(schema.KindNotFound, "user_id %s not found", userID)
}

// LookupUser is proxy.LookupUserByReads: the embedded store's reads are
// memory-mapped, with no round trip to save.
func (s *Store) LookupUser(ctx context.Context, key string) (schema.User, error) {
	return proxy.LookupUserByReads(ctx, s, key)
}
