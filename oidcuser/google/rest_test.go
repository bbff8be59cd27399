package google_test

import (
	"testing"

	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/googleapi"
)

// TestUserKeyIsOneSegment: a userKey holding "/", "?", "#" or "%" stays one
// escaped path segment of users.get, so it can neither reach another
// resource nor add query parameters; the API finds no such user.
func TestUserKeyIsOneSegment(t *testing.T) {
	srv := seeded(t)
	d := newDirectory(t, testConfig(srv, serviceAccount(t, srv), nil))
	for _, tt := range []struct{ id, path string }{
		{"a/b@example.com", "/admin/directory/v1/users/a%2Fb@example.com"},
		{"x?projection=full@example.com", "/admin/directory/v1/users/x%3Fprojection=full@example.com"},
		{"h#f%41@example.com", "/admin/directory/v1/users/h%23f%2541@example.com"},
	} {
		srv.Reset()
		if _, err := d.LookupUser(ctxTimeout(t), tt.id); !schema.IsNotFound(err) {
			t.Fatalf("%s: %v, want not found", tt.id, err)
		}
		var gets []googleapi.Request
		for _, r := range srv.Requests() {
			if googleapi.IsGet(r) {
				gets = append(gets, r)
			}
		}
		if len(gets) != 1 || gets[0].Path != tt.path || gets[0].Query.Get("projection") != "basic" || len(gets[0].Query) != 1 {
			t.Fatalf("%s: users.get requests %+v, want one of %s?projection=basic", tt.id, gets, tt.path)
		}
	}
}
