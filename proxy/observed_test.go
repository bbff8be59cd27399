package proxy_test

import (
	"context"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usersvc/usersvc/proxy"
	"github.com/usersvc/usersvc/proxy/embedded"
	"github.com/usersvc/usersvc/schema"
)

// recorder is an Observer that keeps each operation's name and error.
type recorder struct {
	mu   sync.Mutex
	ops  []string
	errs []error
}

func (r *recorder) StoreOperation(op string, _ time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, op)
	r.errs = append(r.errs, err)
}

// TestObservedUserIndex: an Observed store that is a proxy.UserIndex is one
// through the wrapper, each call reaching the store and the observer under
// its operation name.
func TestObservedUserIndex(t *testing.T) {
	raw, err := embedded.Open(filepath.Join(t.TempDir(), "usersvc.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	rec := &recorder{}
	s := proxy.Observed(raw, rec)
	ix, ok := s.(proxy.UserIndex)
	if !ok || !proxy.SupportsUserIndex(s) {
		t.Fatalf("Observed(embedded) is no proxy.UserIndex (%v) or not supported", ok)
	}
	ctx := context.Background()
	u := schema.User{UserID: "kim@example.com", Email: "kim@example.com", DisplayName: "Kim", TeamName: "Ops", IsActive: true,
		OtherKeyValues: map[string]string{"okta_id": "00ukim"}}
	if _, _, err := raw.CreateUpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}

	if held, err := ix.SetUserPropertyIfAbsent(ctx, u.Key(), proxy.SCIMIDProperty, "scim-1"); err != nil || held != "scim-1" {
		t.Fatalf("SetUserPropertyIfAbsent = %q, %v", held, err)
	}
	if keys, err := ix.UserKeysByProperty(ctx, proxy.SCIMIDProperty, "scim-1"); err != nil || !slices.Equal(keys, []string{u.Key()}) {
		t.Fatalf("UserKeysByProperty = %v, %v", keys, err)
	}
	if got, err := ix.UserProperties(ctx, u.Key(), "okta_id", proxy.SCIMIDProperty); err != nil ||
		!maps.Equal(got, map[string]string{"okta_id": "00ukim", "scim_id": "scim-1"}) {
		t.Fatalf("UserProperties = %v, %v", got, err)
	}
	if keys, total, err := ix.PageUserKeys(ctx, 0, 10); err != nil || total != 1 || !slices.Equal(keys, []string{u.Key()}) {
		t.Fatalf("PageUserKeys = %v, %d, %v", keys, total, err)
	}
	if err := ix.ClearUserProperties(ctx, u.Key(), "team_name", proxy.SCIMIDProperty); err != nil {
		t.Fatalf("ClearUserProperties: %v", err)
	}
	// The store itself shows the calls' effect.
	if got, err := raw.GetUser(ctx, u.Key()); err != nil || got.TeamName != "" || got.DisplayName != "Kim" {
		t.Fatalf("after the clear GetUser = %+v, %v", got, err)
	}
	if got, err := raw.UserProperties(ctx, u.Key(), proxy.SCIMIDProperty); err != nil || len(got) != 0 {
		t.Fatalf("after the clear UserProperties = %v, %v", got, err)
	}
	// An error of the store passes through, reported as it is.
	if err := ix.ClearUserProperties(ctx, "nobody@example.com", "team_name"); !schema.IsNotFound(err) {
		t.Fatalf("ClearUserProperties(unknown) = %v, want not found", err)
	}

	want := []string{"set_user_property_if_absent", "user_keys_by_property", "user_properties", "page_user_keys",
		"clear_user_properties", "clear_user_properties"}
	if !slices.Equal(rec.ops, want) {
		t.Fatalf("observed operations = %q, want %q", rec.ops, want)
	}
	for i, err := range rec.errs[:len(want)-1] {
		if err != nil {
			t.Errorf("%s reported %v", want[i], err)
		}
	}
	if last := rec.errs[len(want)-1]; !schema.IsNotFound(last) {
		t.Errorf("the failed clear reported %v, want not found", last)
	}
}

// plainStore is a proxy.Store that is no proxy.UserIndex.
type plainStore struct{ proxy.Store }

func (plainStore) Kind() string { return "plain" }

// TestObservedWithoutUserIndex: over a store without one, every UserIndex
// call fails as unavailable, reported to the observer too.
func TestObservedWithoutUserIndex(t *testing.T) {
	rec := &recorder{}
	s := proxy.Observed(plainStore{}, rec)
	if proxy.SupportsUserIndex(s) {
		t.Fatal("SupportsUserIndex is true over a store without a user index")
	}
	ix := s.(proxy.UserIndex)
	ctx := context.Background()
	var errs []error
	_, err := ix.UserKeysByProperty(ctx, proxy.SCIMIDProperty, "x")
	errs = append(errs, err)
	_, err = ix.UserProperties(ctx, "k", "okta_id")
	errs = append(errs, err)
	_, err = ix.SetUserPropertyIfAbsent(ctx, "k", "okta_id", "x")
	errs = append(errs, err)
	_, _, err = ix.PageUserKeys(ctx, 0, 1)
	errs = append(errs, err)
	errs = append(errs, ix.ClearUserProperties(ctx, "k", "okta_id"))
	for i, err := range errs {
		if schema.KindOf(err) != schema.KindUnavailable {
			t.Errorf("call %d: %v, want unavailable", i, err)
		}
	}
	if len(rec.ops) != len(errs) {
		t.Fatalf("observed %q, want %d operations", rec.ops, len(errs))
	}
	for i, err := range rec.errs {
		if schema.KindOf(err) != schema.KindUnavailable {
			t.Errorf("%s reported %v", rec.ops[i], err)
		}
	}
}

// TestClearableUserProperties: the user model's string fields but user_id,
// and other-key names, are clearable; the node's identity and bookkeeping
// are not.
func TestClearableUserProperties(t *testing.T) {
	var fields []string
	typ := reflect.TypeFor[schema.User]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Type.Kind() == reflect.String && name != "" && name != "-" && name != "user_id" {
			fields = append(fields, name)
		}
	}
	if got := slices.Sorted(slices.Values(proxy.ClearableUserFields)); !slices.Equal(got, slices.Sorted(slices.Values(fields))) {
		t.Errorf("ClearableUserFields = %q, want the user's string fields but user_id: %q", got, fields)
	}
	for _, name := range append(slices.Clone(proxy.ClearableUserFields), "okta_id", "scim_id", "scim_external_id", "location", "_x9") {
		if err := proxy.CheckClearableUserProperty(name); err != nil {
			t.Errorf("%q refused: %v", name, err)
		}
	}
	for _, name := range []string{"", "key", "user_id", "is_active", "published_tag", "publisher_created_epoch_ms",
		"publisher_last_updated_epoch_ms", "usersvc_created_marker", "other_key_values", "updated_at", "has space", "1st", "a-b",
		"okta_id}) RETURN 1 //"} {
		if err := proxy.CheckClearableUserProperty(name); schema.KindOf(err) != schema.KindInvalid {
			t.Errorf("%q: %v, want invalid", name, err)
		}
	}
}
