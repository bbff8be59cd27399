package handlers

import (
	"slices"
	"testing"
)

// TestDispatchTemplatesAreListed keeps Routes honest: every template the
// /user/*path dispatcher reports is one Routes lists.
func TestDispatchTemplatesAreListed(t *testing.T) {
	var listed []string
	for _, r := range Routes(New(Deps{})) {
		listed = append(listed, r.Path)
	}
	router := newUserRouter(userRouteTable)
	for _, p := range []string{"a@x.com", "a@x.com/", "a@x.com/follow", "a@x.com/follow/", "a@x.com/own/",
		"a@x.com/read", "a@x.com/follow/table/hive://g.s/t", "a@x.com/own/dashboard/mode_dashboard://g.x/y"} {
		req, ok := parseUserPath(p)
		if !ok {
			t.Fatalf("%s did not parse", p)
		}
		route := router.match(req)
		if route == nil {
			t.Errorf("%s matches no pattern of userRouteTable", p)
			continue
		}
		if tmpl := route.pattern; !slices.Contains(listed, tmpl) {
			t.Errorf("%s dispatches as %s, which Routes does not list", p, tmpl)
		}
	}
}
