package handlers_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/usersvc/usersvc/handlers"
	"github.com/usersvc/usersvc/proxy/proxytest"
)

// lastRoute is the route label of the last access record in logs.
func lastRoute(t *testing.T, logs string) string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		var rec map[string]any
		if json.Unmarshal([]byte(lines[i]), &rec) == nil && rec["msg"] == "request" {
			route, _ := rec["route"].(string)
			return route
		}
	}
	t.Fatalf("no access record in %s", logs)
	return ""
}

// TestUserRouteTableDrivesTheEngine: every row of the /user/*path route
// table (as Routes reports it) is served through the gin engine with its
// method and labelled by its pattern, and every other method on a pattern
// gets 405 with an Allow header naming the pattern's methods, in table
// order. Methods the table never uses are refused by gin itself, whose Allow
// header (RFC 9110 §15.5.6; gin.go handleHTTPRequest) lists the methods
// registered on the catch-all: the table's methods.
func TestUserRouteTableDrivesTheEngine(t *testing.T) {
	e := newEnv(t)
	wantStatus(t, e.do(t, http.MethodPut, "/user", `{"email":"a.b+c@example.com"}`), http.StatusCreated)

	var patterns, tableMethods []string
	methods := map[string][]string{}
	for _, r := range handlers.Routes(e.h) {
		if !strings.HasPrefix(r.Path, "/user/:") {
			continue
		}
		if methods[r.Path] == nil {
			patterns = append(patterns, r.Path)
		}
		methods[r.Path] = append(methods[r.Path], r.Method)
		if !slices.Contains(tableMethods, r.Method) {
			tableMethods = append(tableMethods, r.Method)
		}
	}
	if len(patterns) != 6 {
		t.Fatalf("user patterns = %v, want the six of DESIGN §2", patterns)
	}
	// A pattern made concrete: an id with "+" and "." and an unencoded
	// resource key holding "//" and "/".
	concrete := strings.NewReplacer(":id", "a.b+c@example.com", ":type", "table", "*key", proxytest.TableOrders)

	for _, pattern := range patterns {
		path := concrete.Replace(pattern)
		for _, m := range methods[pattern] {
			t.Run(m+" "+pattern, func(t *testing.T) {
				w := e.do(t, m, path, "")
				wantStatus(t, w, http.StatusOK)
				if got := lastRoute(t, e.logs.String()); got != pattern {
					t.Fatalf("route label = %q, want %q", got, pattern)
				}
				body := decodeBody[map[string]any](t, w)
				switch m {
				case http.MethodPut, http.MethodDelete:
					verb := map[string]string{http.MethodPut: "added", http.MethodDelete: "deleted"}[m]
					if msg, _ := body["message"].(string); !strings.HasSuffix(msg, " is "+verb+" successfully") {
						t.Fatalf("%s answered %s", m, w.Body.String())
					}
				default:
					if _, ok := body["message"]; ok {
						t.Fatalf("GET answered %s", w.Body.String())
					}
				}
			})
		}
		for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			if slices.Contains(methods[pattern], m) {
				continue
			}
			t.Run(m+" "+pattern+" refused", func(t *testing.T) {
				w := e.do(t, m, path, "")
				allow := strings.Join(methods[pattern], ", ")
				if !slices.Contains(tableMethods, m) {
					allow = strings.Join(tableMethods, ", ")
				}
				wantMessage(t, w, http.StatusMethodNotAllowed, "method not allowed")
				if got := w.Header().Values("Allow"); len(got) != 1 || got[0] != allow {
					t.Fatalf("Allow = %q, want %q", got, allow)
				}
			})
		}
	}
}
