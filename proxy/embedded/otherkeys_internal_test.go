package embedded

import (
	"context"
	"encoding/json"
	"maps"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/usersvc/usersvc/proxy"
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

// TestUserFieldCoversClearableFields: each name of
// proxy.ClearableUserFields is the JSON name of the record field userField
// answers for it.
func TestUserFieldCoversClearableFields(t *testing.T) {
	var u storedUser
	seen := map[*string]string{}
	for _, name := range proxy.ClearableUserFields {
		field := userField(&u, name)
		if field == nil {
			t.Errorf("no record field for %s", name)
			continue
		}
		if other, dup := seen[field]; dup {
			t.Errorf("%s and %s share a field", name, other)
		}
		seen[field] = name
		*field = "x"
		b, _ := json.Marshal(u)
		var back map[string]any
		_ = json.Unmarshal(b, &back)
		if back[name] != "x" {
			t.Errorf("userField(%s) is not the field named %s: %s", name, name, b)
		}
		*field = ""
	}
	if userField(&u, "user_id") != nil || userField(&u, "okta_id") != nil {
		t.Error("userField answers for a name outside proxy.ClearableUserFields")
	}
}

// TestClearRemovesLegacyEntries: a record of an earlier version holds its
// entries in the user's other_key_values map, which GetUser still reads;
// clearing a name removes its entry there too.
func TestClearRemovesLegacyEntries(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "u.db"), time.Second, WithOtherKeys(schema.OtherKeys{"okta_id", "location"}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	raw := `{"user":{"user_id":"old@example.com","email":"old@example.com","display_name":"Old","is_active":true,` +
		`"other_key_values":{"okta_id":"00uold","location":"Paris"}}}`
	err = s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketUsers).Put([]byte("old@example.com"), []byte(raw)) })
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetUser(ctx, "old@example.com"); err != nil || !maps.Equal(got.OtherKeyValues, map[string]string{"okta_id": "00uold", "location": "Paris"}) {
		t.Fatalf("legacy record = %+v, %v", got, err)
	}
	if err := s.ClearUserProperties(ctx, "old@example.com", "okta_id"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetUser(ctx, "old@example.com"); err != nil || !maps.Equal(got.OtherKeyValues, map[string]string{"location": "Paris"}) {
		t.Fatalf("after clearing okta_id = %+v, %v", got, err)
	}
}
