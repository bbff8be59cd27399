package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/goleak"

	"github.com/usersvc/usersvc/handlers"
	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/proxy/embedded"
	"github.com/usersvc/usersvc/proxy/proxytest"
	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/neo4jserver"
)

// TestMain sets gin's test mode, stops the real Neo4j the replay starts,
// and fails the package when a goroutine outlives its test.
func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	code := neo4jserver.Run(m)
	if err := goleak.Find(); code == 0 && err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

type env struct {
	h     http.Handler
	store *embedded.Store
	logs  *bytes.Buffer
}

// newEnv serves the real handlers over a real embedded store seeded with the
// contract catalog and a few reads.
func newEnv(t *testing.T) *env {
	t.Helper()
	store, err := embedded.Open(filepath.Join(t.TempDir(), "usersvc.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	cat := proxytest.Catalog()
	cat.Reads = []schema.ReadRecord{
		{User: "reader@example.com", Table: proxytest.TableOrders, ReadCount: 3},
		{User: "reader@example.com", Table: proxytest.TableEvents, ReadCount: 30},
	}
	if err := store.LoadCatalog(context.Background(), cat); err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	h := handlers.New(handlers.Deps{
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
		Users:  oidcuser.NewResolver(store, oidcuser.ResolverConfig{}),
		Store:  store,
		Health: []handlers.Check{{Name: "store", Probe: store.Health}},
	})
	return &env{h: h, store: store, logs: logs}
}

func (e *env) do(t *testing.T, method, target, body string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	return w
}

func decodeBody[T any](t *testing.T, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("body %q is not the expected JSON: %v", w.Body.String(), err)
	}
	return v
}

func wantStatus(t *testing.T, w *httptest.ResponseRecorder, status int) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status = %d, want %d; body %s", w.Code, status, w.Body.String())
	}
	if ct := w.Header().Get("Content-Type"); w.Body.Len() > 0 && !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type = %q, want JSON", ct)
	}
}

func wantMessage(t *testing.T, w *httptest.ResponseRecorder, status int, msg string) {
	t.Helper()
	wantStatus(t, w, status)
	got := decodeBody[map[string]any](t, w)
	if len(got) != 1 || got["message"] != msg {
		t.Fatalf("body = %s, want {\"message\": %q}", w.Body.String(), msg)
	}
}

func TestHealthRoutes(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/healthcheck", "/readyz"} {
		w := e.do(t, http.MethodGet, path, "")
		wantStatus(t, w, http.StatusOK)
		body := decodeBody[map[string]any](t, w)
		if body["status"] != "ok" || body["checks"].(map[string]any)["store"].(map[string]any)["status"] != "ok" {
			t.Fatalf("%s body = %s", path, w.Body.String())
		}
	}
	for _, path := range []string{"/livez", "/healthcheck", "/readyz"} {
		if w := e.do(t, http.MethodHead, path, ""); w.Code != http.StatusOK {
			t.Fatalf("HEAD %s = %d", path, w.Code)
		}
	}

	_ = e.store.Close()
	for _, path := range []string{"/healthcheck", "/readyz"} {
		w := e.do(t, http.MethodGet, path, "")
		wantStatus(t, w, http.StatusServiceUnavailable)
		body := decodeBody[map[string]any](t, w)
		if body["status"] != "fail" {
			t.Fatalf("%s with closed store = %s", path, w.Body.String())
		}
	}
	// Liveness is about the process only.
	wantStatus(t, e.do(t, http.MethodGet, "/livez", ""), http.StatusOK)
	// Store routes report the dependency, not a server bug.
	w := e.do(t, http.MethodGet, "/user/a@x.com", "")
	wantMessage(t, w, http.StatusServiceUnavailable, "embedded store is closed")
	if w.Header().Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
}

func TestPutAndGetUser(t *testing.T) {
	e := newEnv(t)
	body := `{"email":"Ada.Lovelace+data@Example.com","first_name":"Ada","last_name":"Lovelace","team_name":"Data"}`
	w := e.do(t, http.MethodPut, "/user", body, "Content-Type", "application/json")
	wantStatus(t, w, http.StatusCreated)
	created := decodeBody[map[string]any](t, w)
	if created["user_id"] != "Ada.Lovelace+data@Example.com" || created["display_name"] != "Ada Lovelace" || created["slack_id"] != nil {
		t.Fatalf("created body = %s", w.Body.String())
	}
	if len(created) != 17 {
		t.Fatalf("created body has %d keys, want 17", len(created))
	}

	// Lookups normalise the id; + and . survive the path.
	for _, path := range []string{"/user/ada.lovelace+data@example.com", "/user/Ada.Lovelace+data@Example.com", "/user/ada.lovelace%2Bdata@example.com"} {
		w = e.do(t, http.MethodGet, path, "")
		wantStatus(t, w, http.StatusOK)
		if got := decodeBody[map[string]any](t, w); got["team_name"] != "Data" || len(got) != 17 {
			t.Fatalf("GET %s = %s", path, w.Body.String())
		}
	}

	// Update: 200, empty values keep stored ones.
	w = e.do(t, http.MethodPut, "/user", `{"user_id":"ada.lovelace+data@example.com","display_name":"Ada L.","team_name":""}`)
	wantStatus(t, w, http.StatusOK)
	if got := decodeBody[map[string]any](t, w); got["display_name"] != "Ada L." || got["team_name"] != "Data" {
		t.Fatalf("updated body = %s", w.Body.String())
	}

	// Digit-only ids stay strings.
	wantStatus(t, e.do(t, http.MethodPut, "/user", `{"user_id":"0012345","display_name":"Numeric"}`), http.StatusCreated)
	w = e.do(t, http.MethodGet, "/user/0012345", "")
	wantStatus(t, w, http.StatusOK)
	if !strings.Contains(w.Body.String(), `"user_id":"0012345"`) {
		t.Fatalf("digit-only id body = %s", w.Body.String())
	}

	// GET /user lists active users only, as a bare array: Amundsen's
	// UserDetailAPI answers UserSchema().dump(users, many=True)
	// (metadata_service/api/__init__.py, BaseAPI.get_with_kwargs lines 40-43).
	wantStatus(t, e.do(t, http.MethodPut, "/user", `{"email":"gone@example.com","display_name":"Gone","is_active":false}`), http.StatusCreated)
	w = e.do(t, http.MethodGet, "/user", "")
	wantStatus(t, w, http.StatusOK)
	list := decodeBody[[]map[string]any](t, w)
	if len(list) != 2 || list[0]["user_id"] != "0012345" || list[1]["email"] != "Ada.Lovelace+data@Example.com" || len(list[1]) != 17 {
		t.Fatalf("GET /user = %s, want the 2 active users", w.Body.String())
	}
}

func TestListUsersEmptyIsBareEmptyArray(t *testing.T) {
	e := newEnv(t)
	w := e.do(t, http.MethodGet, "/user", "")
	wantStatus(t, w, http.StatusOK)
	if w.Body.String() != "[]" {
		t.Fatalf("GET /user with no users = %s, want []", w.Body.String())
	}
}

// TestPartialPutKeepsStoredNames: Amundsen's derivation rules
// (amundsen_common models/user.py preprocess_data) fill display_name from
// the email when a body has no names; on an update that derived value must
// not replace the stored display_name.
func TestPartialPutKeepsStoredNames(t *testing.T) {
	e := newEnv(t)
	wantStatus(t, e.do(t, http.MethodPut, "/user", `{"email":"jane@example.com","first_name":"Jane","last_name":"Doe"}`), http.StatusCreated)
	w := e.do(t, http.MethodPut, "/user", `{"email":"jane@example.com","team_name":"Data"}`)
	wantStatus(t, w, http.StatusOK)
	got := decodeBody[map[string]any](t, w)
	if got["display_name"] != "Jane Doe" || got["full_name"] != "Jane Doe" || got["team_name"] != "Data" {
		t.Fatalf("partial PUT answered %s, want the stored names kept", w.Body.String())
	}
	w = e.do(t, http.MethodGet, "/user/jane@example.com", "")
	if got := decodeBody[map[string]any](t, w); got["display_name"] != "Jane Doe" {
		t.Fatalf("partial PUT erased display_name: %s", w.Body.String())
	}
	// An explicit value still replaces.
	w = e.do(t, http.MethodPut, "/user", `{"email":"jane@example.com","display_name":"JD"}`)
	if got := decodeBody[map[string]any](t, w); got["display_name"] != "JD" || got["full_name"] != "Jane Doe" {
		t.Fatalf("explicit display_name answered %s", w.Body.String())
	}
}

func TestGetUnknownUser(t *testing.T) {
	e := newEnv(t)
	wantMessage(t, e.do(t, http.MethodGet, "/user/nobody@example.com", ""), http.StatusNotFound, "user_id nobody@example.com not found")
	wantMessage(t, e.do(t, http.MethodGet, "/user/404", ""), http.StatusNotFound, "user_id 404 not found")
}

type resources struct {
	Table     []map[string]any `json:"table"`
	Dashboard []map[string]any `json:"dashboard"`
}

func TestRelations(t *testing.T) {
	for _, rel := range []string{"follow", "own"} {
		t.Run(rel, func(t *testing.T) {
			e := newEnv(t)
			user := "a.b+c@x.com"
			base := "/user/" + user + "/" + rel
			for _, target := range []string{
				base + "/table/" + proxytest.TableOrders,          // hive://gold.sales/orders, unencoded
				base + "/TABLE/hive%3A%2F%2Fgold.core%2Faccounts", // encoded, type upper case
				base + "/dashboard/" + proxytest.DashboardSales,   // mode_dashboard://...
				base + "/Feature/" + proxytest.FeatureChurn,       // ml/churn_score/1
			} {
				w := e.do(t, http.MethodPut, target, "")
				wantStatus(t, w, http.StatusOK)
			}
			for _, path := range []string{base + "/", base} {
				w := e.do(t, http.MethodGet, path, "")
				wantStatus(t, w, http.StatusOK)
				got := decodeBody[resources](t, w)
				if len(got.Table) != 2 || got.Table[0]["name"] != "accounts" || got.Table[1]["name"] != "orders" {
					t.Fatalf("GET %s tables = %s", path, w.Body.String())
				}
				if len(got.Dashboard) != 1 || got.Dashboard[0]["uri"] != proxytest.DashboardSales || got.Dashboard[0]["product"] != "mode" {
					t.Fatalf("GET %s dashboards = %s", path, w.Body.String())
				}
			}

			// Missing resource: 404, nothing written (no user node either).
			wantMessage(t, e.do(t, http.MethodPut, "/user/new@x.com/"+rel+"/table/hive://gold.sales/missing", ""),
				http.StatusNotFound, "table hive://gold.sales/missing not found")
			if _, err := e.store.GetUser(context.Background(), "new@x.com"); !schema.IsNotFound(err) {
				t.Fatalf("failed relation write created a user: %v", err)
			}

			// Delete, then delete again: both 200.
			for range 2 {
				wantStatus(t, e.do(t, http.MethodDelete, base+"/table/"+proxytest.TableOrders, ""), http.StatusOK)
			}
			got := decodeBody[resources](t, e.do(t, http.MethodGet, base+"/", ""))
			if len(got.Table) != 1 || got.Table[0]["name"] != "accounts" {
				t.Fatalf("after delete: %+v", got)
			}
			users, _ := e.store.UsersOfResource(context.Background(), schema.Table, proxytest.TableOrders, schema.Relation(rel))
			if len(users) != 0 {
				t.Fatalf("reverse edge survived DELETE: %v", users)
			}
		})
	}
}

// TestRelationMessagesAreAmundsens: the success texts of
// metadata_service/api/user.py (UserFollowAPI.put lines 154-157, .delete
// 179-182; UserOwnAPI.put 258-260, .delete 271-273), with the id, type and
// key as sent (flask hands the views the decoded path segments).
func TestRelationMessagesAreAmundsens(t *testing.T) {
	e := newEnv(t)
	tests := []struct{ method, target, want string }{
		{"PUT", "/user/Ada@x.com/follow/table/" + proxytest.TableOrders,
			"The user Ada@x.com for id hive://gold.sales/orders resource type table is added successfully"},
		{"PUT", "/user/ada@x.com/follow/Dashboard/" + proxytest.DashboardSales,
			"The user ada@x.com for id mode_dashboard://gold.sales/weekly resource type Dashboard is added successfully"},
		{"PUT", "/user/ada@x.com/follow/TABLE/hive%3A%2F%2Fgold.core%2Faccounts",
			"The user ada@x.com for id hive://gold.core/accounts resource type TABLE is added successfully"},
		{"DELETE", "/user/ada@x.com/follow/table/" + proxytest.TableOrders,
			"The user following ada@x.com for id hive://gold.sales/orders resource type table is deleted successfully"},
		{"DELETE", "/user/ada@x.com/follow/feature/" + proxytest.FeatureChurn,
			"The user following ada@x.com for id ml/churn_score/1 resource type feature is deleted successfully"},
		// Deleting a relation to a resource that does not exist is 200, as in
		// Amundsen (its MATCH ... DELETE simply matches nothing).
		{"DELETE", "/user/ada@x.com/follow/table/hive://no.such/table",
			"The user following ada@x.com for id hive://no.such/table resource type table is deleted successfully"},
		{"DELETE", "/user/ada@x.com/own/dashboard/mode_dashboard://no.such/dash",
			"The owner ada@x.com for table_uri mode_dashboard://no.such/dash is deleted successfully"},
		{"PUT", "/user/ada@x.com/own/table/" + proxytest.TableOrders,
			"The owner ada@x.com for table_uri hive://gold.sales/orders is added successfully"},
		{"PUT", "/user/ada@x.com/own/dashboard/" + proxytest.DashboardOps,
			"The owner ada@x.com for table_uri tableau_dashboard://gold.ops/incidents is added successfully"},
		{"DELETE", "/user/ada@x.com/own/table/" + proxytest.TableOrders,
			"The owner ada@x.com for table_uri hive://gold.sales/orders is deleted successfully"},
	}
	for _, tt := range tests {
		wantMessage(t, e.do(t, tt.method, tt.target, ""), http.StatusOK, tt.want)
	}
}

// TestPutUserIsActiveAsAmundsenReadsIt: marshmallow's fields.Boolean
// (src/marshmallow/fields.py, class Boolean) accepts "yes", "on", "1", 1 and
// friends, and Amundsen creates the user; null stays refused.
func TestPutUserIsActiveAsAmundsenReadsIt(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		value  string
		status int
		active bool
	}{
		{`"yes"`, http.StatusCreated, true},
		{`"off"`, http.StatusOK, false},
		{`1`, http.StatusOK, true},
		{`"FALSE"`, http.StatusOK, false},
		{`"true"`, http.StatusOK, true},
	} {
		w := e.do(t, http.MethodPut, "/user", `{"email":"flag@x.com","display_name":"Flag","is_active":`+tt.value+`}`)
		wantStatus(t, w, tt.status)
		if got := decodeBody[map[string]any](t, w); got["is_active"] != tt.active {
			t.Fatalf("is_active %s answered %s, want is_active %v", tt.value, w.Body.String(), tt.active)
		}
	}
	wantMessage(t, e.do(t, http.MethodPut, "/user", `{"email":"flag@x.com","display_name":"Flag","is_active":null}`),
		http.StatusBadRequest, "is_active: must be a boolean, not null")
}

func TestUnknownUserHasEmptyLists(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/user/nobody@x.com/follow/", "/user/nobody@x.com/own", "/user/nobody@x.com/read/"} {
		w := e.do(t, http.MethodGet, path, "")
		wantStatus(t, w, http.StatusOK)
		body := w.Body.String()
		if strings.Contains(body, "null") || !strings.Contains(body, `"table":[]`) {
			t.Fatalf("GET %s = %s, want empty lists", path, body)
		}
	}
}

func TestReads(t *testing.T) {
	e := newEnv(t)
	w := e.do(t, http.MethodGet, "/user/Reader@Example.com/read/", "")
	wantStatus(t, w, http.StatusOK)
	got := decodeBody[resources](t, w)
	if len(got.Table) != 2 || got.Table[0]["name"] != "events" || got.Table[1]["name"] != "orders" {
		t.Fatalf("reads = %s, want events (30) before orders (3)", w.Body.String())
	}
	if _, ok := decodeBody[map[string]any](t, w)["dashboard"]; ok {
		t.Fatalf("read answer has a dashboard key: %s", w.Body.String())
	}
}

// TestBadInput: every caller mistake is a 4xx with a JSON message and
// leaves the store as it was.
func TestBadInput(t *testing.T) {
	long := strings.Repeat("x", schema.MaxIDBytes+1)
	twoMiB := `{"email":"big@x.com","display_name":"` + strings.Repeat("a", 2<<20) + `"}`
	tests := []struct {
		name, method, target, body string
		status                     int
		message                    string // exact, or "" to check only that one is present
	}{
		{"empty body", "PUT", "/user", "", 400, handlers.MsgNoUserInformation},
		{"whitespace body", "PUT", "/user", " \n\t ", 400, handlers.MsgNoUserInformation},
		{"not JSON", "PUT", "/user", "email=a@x.com", 400, "request body is not valid JSON: syntax error at byte 1"},
		{"truncated JSON", "PUT", "/user", `{"email":"a@x.com"`, 400, "request body is not valid JSON: unexpected end of input"},
		{"array", "PUT", "/user", `[{"email":"a@x.com"}]`, 400, "request body must be a JSON object"},
		{"null", "PUT", "/user", `null`, 400, "request body must be a JSON object"},
		{"string", "PUT", "/user", `"a@x.com"`, 400, "request body must be a JSON object"},
		{"two objects", "PUT", "/user", `{"email":"a@x.com"}{"email":"b@x.com"}`, 400, "request body must contain exactly one JSON value"},
		{"trailing data", "PUT", "/user", `{"email":"a@x.com"} trailing`, 400, "request body must contain exactly one JSON value"},
		{"wrong types", "PUT", "/user", `{"email":"a@x.com","is_active":"maybe","first_name":1}`, 400, "first_name: must be a string or null; is_active: must be a boolean"},
		{"is_active null", "PUT", "/user", `{"email":"a@x.com","is_active":null}`, 400, "is_active: must be a boolean, not null"},
		{"no display name", "PUT", "/user", `{"user_id":"u1"}`, 400, schema.MsgNoDisplayName},
		{"no user id", "PUT", "/user", `{"display_name":"D"}`, 400, schema.MsgNoUserID},
		{"other key not a property name", "PUT", "/user", `{"email":"a@x.com","other_key_values":{"okta_id":"1","cost-center":"1"}}`, 400,
			`other_key_values: key "cost-center" is not a valid property name (letters, digits and _, not starting with a digit, at most 64)`},
		{"other key is a user property", "PUT", "/user", `{"email":"a@x.com","other_key_values":{"email":"b@x.com"}}`, 400,
			`other_key_values: key "email" is a property of the user node itself`},
		{"other key is a publisher property", "PUT", "/user", `{"email":"a@x.com","other_key_values":{"published_tag":"x"}}`, 400,
			`other_key_values: key "published_tag" is a property of the user node itself`},
		{"2 MiB body", "PUT", "/user", twoMiB, 413, "request body must not exceed 1 MiB"},
		{"id too long", "GET", "/user/" + long, "", 400, "user_id must be at most 4096 bytes"},
		{"id too long in write", "PUT", "/user/" + long + "/follow/table/" + proxytest.TableOrders, "", 400, "user_id must be at most 4096 bytes"},
		{"key too long", "PUT", "/user/a@x.com/follow/table/" + long, "", 400, "resource key must be at most 4096 bytes"},
		{"NUL in id", "GET", "/user/a%00b", "", 400, "user_id must not contain control characters"},
		{"newline in key", "PUT", "/user/a@x.com/own/table/hive://x%0Ay", "", 400, "resource key must not contain control characters"},
		{"blank id", "GET", "/user/%20", "", 400, "user_id must not be blank"},
		{"invalid resource type", "PUT", "/user/a@x.com/follow/column/" + proxytest.TableOrders, "", 400, `resource type "column" is not supported: use table, dashboard or feature`},
		{"missing key", "PUT", "/user/a@x.com/follow/table/", "", 400, "resource key must not be blank"},
		{"unknown sub-route", "GET", "/user/a@x.com/likes/", "", 404, "not found"},
		{"write to read", "PUT", "/user/a@x.com/read/table/" + proxytest.TableOrders, "", 404, "not found"},
		{"unknown route", "GET", "/users", "", 404, "not found"},
		{"POST user", "POST", "/user", `{"email":"a@x.com"}`, 405, "method not allowed"},
		{"PUT user id", "PUT", "/user/a@x.com", `{"email":"a@x.com"}`, 405, "method not allowed"},
		{"GET relation key", "GET", "/user/a@x.com/follow/table/" + proxytest.TableOrders, "", 405, "method not allowed"},
		{"POST healthcheck", "POST", "/healthcheck", "", 405, "method not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			w := e.do(t, tt.method, tt.target, tt.body)
			wantMessage(t, w, tt.status, tt.message)
			users, err := e.store.GetUsers(context.Background())
			if err != nil || len(users) != 0 {
				t.Fatalf("bad input wrote users: %v %v", users, err)
			}
			res, _ := e.store.GetUserResources(context.Background(), "a@x.com", schema.Follow)
			if len(res.Table)+len(res.Dashboard) != 0 {
				t.Fatalf("bad input wrote a relation: %+v", res)
			}
		})
	}
}

func TestContentLengthOverLimitIsRefusedUpfront(t *testing.T) {
	e := newEnv(t)
	req := httptest.NewRequest(http.MethodPut, "/user", strings.NewReader(`{"email":"a@x.com"}`))
	req.ContentLength = handlers.MaxBodyBytes + 1
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	wantMessage(t, w, http.StatusRequestEntityTooLarge, "request body must not exceed 1 MiB")
}

func TestRequestIDAndHeaders(t *testing.T) {
	e := newEnv(t)
	w := e.do(t, http.MethodGet, "/user/nobody@x.com?token=secret-value", "", "X-Request-Id", "trace-123.abc")
	if got := w.Header().Get("X-Request-Id"); got != "trace-123.abc" {
		t.Fatalf("X-Request-Id = %q, want the caller's", got)
	}
	if w.Header().Get("X-Content-Type-Options") != "nosniff" || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("security headers missing: %v", w.Header())
	}
	w = e.do(t, http.MethodGet, "/livez", "", "X-Request-Id", "bad id\twith junk")
	if got := w.Header().Get("X-Request-Id"); len(got) != 32 || got == "bad id\twith junk" {
		t.Fatalf("generated X-Request-Id = %q", got)
	}

	var record map[string]any
	for _, line := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		var r map[string]any
		if json.Unmarshal([]byte(line), &r) == nil && r["msg"] == "request" && r["request_id"] == "trace-123.abc" {
			record = r
		}
	}
	if record == nil {
		t.Fatalf("no request log with the request id in:\n%s", e.logs.String())
	}
	if record["method"] != "GET" || record["route"] != "/user/:id" || record["status"] != float64(404) || record["duration"] == nil {
		t.Fatalf("request log = %v", record)
	}
	if strings.Contains(e.logs.String(), "secret-value") {
		t.Fatal("query string reached the logs")
	}
}

type panickingResolver struct{}

func (panickingResolver) ResolveUser(context.Context, string) (schema.User, error) {
	panic("resolver bug")
}

func (panickingResolver) NodeKey(context.Context, string) (string, error) { panic("resolver bug") }
func (panickingResolver) ReadKey(context.Context, string) (string, error) { panic("resolver bug") }

func TestPanicIsRecoveredAsJSON500(t *testing.T) {
	logs := &bytes.Buffer{}
	h := handlers.New(handlers.Deps{Logger: slog.New(slog.NewJSONHandler(logs, nil)), Users: panickingResolver{}})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/user/a@x.com", nil))
	wantMessage(t, w, http.StatusInternalServerError, "internal server error")
	if !strings.Contains(logs.String(), "resolver bug") {
		t.Fatalf("panic not logged: %s", logs.String())
	}
}
