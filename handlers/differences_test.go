package handlers_test

import (
	"net/http"
	"testing"
)

// TestDeliberateDifferencesFromAmundsen pins the answers README's
// "Differences from Amundsen's metadata service" table promises, each next
// to Amundsen's. Amundsen routes users through metadata_service/__init__.py
// lines 151-163 ('/user/<path:id>' catches every GET its other user routes
// do not), so a path it does not know is a user id that is not found.
func TestDeliberateDifferencesFromAmundsen(t *testing.T) {
	e := newEnv(t)
	wantStatus(t, e.do(t, http.MethodPut, "/user",
		`{"email":"ada@x.com","display_name":"Ada L.","manager_email":"charles@x.com","manager_id":"00u-charles"}`), http.StatusCreated)
	tests := []struct {
		name, method, target string
		status               int
		check                func(map[string]any) bool
	}{
		// Amundsen: 404 (the id "ada@x.com/" is not found). usersvc: the user.
		{"trailing slash after the id", "GET", "/user/ada@x.com/", 200, func(b map[string]any) bool { return b["email"] == "ada@x.com" }},
		// Amundsen: 404 (only /read/ is routed). usersvc: the reads.
		{"read without the slash", "GET", "/user/ada@x.com/read", 200, func(b map[string]any) bool { _, ok := b["table"]; return ok }},
		// Amundsen: 404 (UserFollowAPI has no GET). usersvc: 405 with Allow.
		{"GET of a relation", "GET", "/user/ada@x.com/follow/table/hive://gold.sales/orders", 405, nil},
		// Amundsen: 404. usersvc: 400, the id is blank.
		{"blank id", "GET", "/user/", 400, func(b map[string]any) bool { return b["message"] == "user_id must not be blank" }},
		// Amundsen's _build_user_from_record (neo4j_proxy.py lines 1513-1526)
		// never reads display_name, manager_email or manager_id: null.
		// usersvc returns them as stored.
		{"stored display_name and manager fields", "GET", "/user/ada@x.com", 200, func(b map[string]any) bool {
			return b["display_name"] == "Ada L." && b["manager_email"] == "charles@x.com" && b["manager_id"] == "00u-charles"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := e.do(t, tt.method, tt.target, "")
			wantStatus(t, w, tt.status)
			if tt.status == http.StatusMethodNotAllowed && w.Header().Get("Allow") != "PUT, DELETE" {
				t.Fatalf("Allow = %q", w.Header().Get("Allow"))
			}
			if tt.check != nil && !tt.check(decodeBody[map[string]any](t, w)) {
				t.Fatalf("body = %s", w.Body.String())
			}
		})
	}
}
