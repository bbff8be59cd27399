package embedded

import (
	"context"
	"encoding/json"
	"maps"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/usersvc/usersvc/schema"
)

func rawRecord(t *testing.T, s *Store, key string) map[string]any {
	t.Helper()
	var rec map[string]any
	err := s.db.View(func(tx *bolt.Tx) error {
		return json.Unmarshal(tx.Bucket(bucketUsers).Get([]byte(key)), &rec)
	})
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestOtherKeysAreRecordProperties: each other_key_values entry is its own
// property of the stored record, as it is of the Neo4j node; any value type
// found there reads back as its string form.
func TestOtherKeysAreRecordProperties(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "u.db"), time.Second,
		WithOtherKeys(schema.OtherKeys{"okta_id", "employee_number", "is_contractor", "tags"}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	u := schema.User{UserID: "kim@example.com", Email: "kim@example.com", DisplayName: "Kim", IsActive: true,
		OtherKeyValues: map[string]string{"okta_id": "00u42"}}
	if _, _, err := s.CreateUpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	rec := rawRecord(t, s, "kim@example.com")
	props, _ := rec["properties"].(map[string]any)
	if props["okta_id"] != "00u42" {
		t.Fatalf("record = %v, want okta_id among its properties", rec)
	}
	if okv := rec["user"].(map[string]any)["other_key_values"]; okv != nil {
		t.Fatalf("entries also kept as one map: %v", okv)
	}

	// Another writer's record with non-string properties.
	raw := `{"user":{"user_id":"lee@example.com","email":"lee@example.com","display_name":"Lee","is_active":true},` +
		`"properties":{"employee_number":1234,"is_contractor":true,"tags":["a","b"],"okta_id":"00u9"}}`
	err = s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketUsers).Put([]byte("lee@example.com"), []byte(raw)) })
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GetUser(ctx, "lee@example.com")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"employee_number": "1234", "is_contractor": "true", "tags": `["a","b"]`, "okta_id": "00u9"}
	if !maps.Equal(got.OtherKeyValues, want) || got.DisplayName != "Lee" {
		t.Fatalf("user = %+v, want other_key_values %v", got, want)
	}
}
