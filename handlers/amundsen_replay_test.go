package handlers_test

import (
	"bytes"
	"context"
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

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/usersvc/usersvc/handlers"
	"github.com/usersvc/usersvc/handlers/auth"
	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/oidcuser/file"
	"github.com/usersvc/usersvc/proxy/embedded"
	usersvcneo4j "github.com/usersvc/usersvc/proxy/neo4j"
	"github.com/usersvc/usersvc/proxy/proxytest"
	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/issuer"
	"github.com/usersvc/usersvc/testsupport/neo4jserver"
)

// frontendSchemaFile is the JSON Schema written from amundsen_common's attrs
// classes and the frontend's loaders; every rule cites its class and field.
const frontendSchemaFile = "testdata/amundsen_frontend.schema.json"

// frontendSchemas compiles the named definitions of the schema file.
func frontendSchemas(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	f, err := os.Open(frontendSchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("%s: %v", frontendSchemaFile, err)
	}
	const id = "https://usersvc.invalid/testdata/amundsen_frontend.schema.json"
	c := jsonschema.NewCompiler()
	if err := c.AddResource(id, doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]*jsonschema.Schema{}
	for _, name := range []string{"User", "UserList", "UserResources", "UserReads", "Message", "PopularTable", "DashboardSummary"} {
		s, err := c.Compile(id + "#/$defs/" + name)
		if err != nil {
			t.Fatalf("compile %s: %v", name, err)
		}
		out[name] = s
	}
	return out
}

func validateBody(schemas map[string]*jsonschema.Schema, name string, body []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return schemas[name].Validate(v)
}

// replayStore is a store the replay runs against.
type replayStore interface {
	handlers.UserStore
	oidcuser.UserStore
	proxytest.Store
}

// replayStores: the embedded store, and the Neo4j store on the real Neo4j
// the test binary starts.
func replayStores() map[string]func(t *testing.T) replayStore {
	return map[string]func(t *testing.T) replayStore{
		"embedded": func(t *testing.T) replayStore {
			s, err := embedded.Open(filepath.Join(t.TempDir(), "u.db"), time.Second)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			return s
		},
		"neo4j": func(t *testing.T) replayStore {
			srv := neo4jserver.Get(t)
			neo4jserver.Clean(t, srv)
			s, err := usersvcneo4j.Open(usersvcneo4j.Config{URI: srv.URI, Username: srv.User, Password: srv.Password,
				ConnectTimeout: 5 * time.Second, RetryTime: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			s.EnsureSchema(context.Background())
			return s
		},
	}
}

// frontendHeader is the Authorization header the Amundsen frontend sends:
// oidc_config.py get_access_headers (lines 19-22) puts json.dumps of the
// flaskoidc token dict after "Bearer ", with Python's ", " and ": "
// separators.
func frontendHeader(accessToken string, expiresAt int64) string {
	return fmt.Sprintf(`Bearer {"access_token": %q, "expires_in": 300, "id_token": "eyJpZC10b2tlbiJ9", `+
		`"refresh_token": "r-123", "scope": "openid email profile", "token_type": "Bearer", "expires_at": %d}`, accessToken, expiresAt)
}

// TestFrontendReplay sends the requests the Amundsen frontend sends
// (frontend/amundsen_application/api/metadata/v0.py) over a real loopback
// listener, with its Authorization header, and checks every answer
// against the JSON Schema of what amundsen_common and the frontend accept:
//   - get_user (line 615): GET /user/<id>, no trailing slash;
//   - get_bookmark (line 655): GET /user/<id>/follow/;
//   - update_bookmark (lines 707-711): PUT and DELETE
//     /user/<id>/follow/<type>/<key>, the key unencoded;
//   - get_user_read (line 734): GET /user/<id>/read/;
//   - get_user_own (line 758): GET /user/<id>/own/.
//
// GET /user (the bare array scripts iterate) is checked too.
func TestFrontendReplay(t *testing.T) {
	schemas := frontendSchemas(t)
	for name, open := range replayStores() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			store := open(t)
			cat := proxytest.Catalog()
			cat.Reads = []schema.ReadRecord{
				{User: "ada@example.com", Table: proxytest.TableAccounts, ReadCount: 9},
				{User: "ada@example.com", Table: proxytest.TableEvents, ReadCount: 3},
			}
			if err := store.LoadCatalog(ctx, cat); err != nil {
				t.Fatal(err)
			}
			ada := schema.User{Email: "ada@example.com", FirstName: "Ada", LastName: "Lovelace", TeamName: "Data", IsActive: true}
			ada.Normalize()
			if _, _, err := store.CreateUpdateUser(ctx, ada); err != nil {
				t.Fatal(err)
			}
			// Owned resources come from databuilder or the table owner API,
			// not from the user routes the frontend calls.
			for _, r := range []struct {
				t   schema.ResourceType
				key string
			}{{schema.Table, proxytest.TableAccounts}, {schema.Dashboard, proxytest.DashboardOps}} {
				if err := store.AddResourceRelation(ctx, "ada@example.com", schema.Own, r.t, r.key); err != nil {
					t.Fatal(err)
				}
			}
			dir, err := file.Open(filepath.Join("..", "examples", "directory.json"), nil)
			if err != nil {
				t.Fatal(err)
			}

			iss := issuer.Start(t)
			a, err := auth.New(auth.Config{DiscoveryURL: iss.DiscoveryURL(), Audience: issuer.Audience})
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Discover(ctx); err != nil {
				t.Fatal(err)
			}
			h := handlers.New(handlers.Deps{
				Logger: slog.New(slog.DiscardHandler),
				Users:  oidcuser.NewResolver(store, oidcuser.ResolverConfig{Directory: dir, Source: "file"}),
				Store:  store,
				Auth:   handlers.AuthConfig{Authenticator: a},
			})
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)

			claims := iss.Claims(time.Now(), "ada@example.com")
			header := frontendHeader(iss.Token(t, claims), claims["exp"].(int64))
			call := func(t *testing.T, method, path string) (int, []byte) {
				t.Helper()
				req, err := http.NewRequest(method, srv.URL+path, nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Authorization", header)
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, body
			}

			steps := []struct {
				method, path string
				status       int
				schema       string
				contains     []string // literal fragments the body must hold
			}{
				{"GET", "/user/ada@example.com", 200, "User", []string{`"display_name":"Ada Lovelace"`}},
				// Unknown to the graph: resolved from the directory, stored.
				{"GET", "/user/katherine.johnson@example.com", 200, "User", []string{`"okta_id":"00u1katherine000004"`}},
				{"GET", "/user/nobody@example.com", 404, "Message", nil},
				{"PUT", "/user/ada@example.com/follow/table/" + proxytest.TableOrders, 200, "Message",
					[]string{"The user ada@example.com for id hive://gold.sales/orders resource type table is added successfully"}},
				{"PUT", "/user/ada@example.com/follow/dashboard/" + proxytest.DashboardOps, 200, "Message", nil},
				{"PUT", "/user/ada@example.com/follow/dashboard/" + proxytest.DashboardSales, 200, "Message", nil},
				{"PUT", "/user/ada@example.com/follow/table/" + proxytest.TableAccounts, 200, "Message", nil},
				// The bookmarks page: a dashboard without URLs, description or
				// run timestamp among the answers.
				{"GET", "/user/ada@example.com/follow/", 200, "UserResources",
					[]string{`"uri":"tableau_dashboard://gold.ops/incidents","cluster":"gold","group_name":"Ops","group_url":"","product":"tableau","name":"Incidents","url":""`, `"name":"orders"`}},
				{"DELETE", "/user/ada@example.com/follow/table/" + proxytest.TableOrders, 200, "Message",
					[]string{"The user following ada@example.com for id hive://gold.sales/orders resource type table is deleted successfully"}},
				{"GET", "/user/ada@example.com/follow/", 200, "UserResources", []string{`"name":"accounts"`}},
				{"GET", "/user/ada@example.com/own/", 200, "UserResources", []string{`"name":"Incidents"`, `"name":"accounts"`}},
				{"GET", "/user/ada@example.com/read/", 200, "UserReads", []string{`"name":"accounts"`}},
				{"GET", "/user/nobody@example.com/follow/", 200, "UserResources", []string{`"table":[]`}},
				{"GET", "/user", 200, "UserList", []string{`"katherine.johnson@example.com"`}},
			}
			for _, st := range steps {
				status, body := call(t, st.method, st.path)
				if status != st.status {
					t.Fatalf("%s %s = %d %s, want %d", st.method, st.path, status, body, st.status)
				}
				if err := validateBody(schemas, st.schema, body); err != nil {
					t.Fatalf("%s %s: the frontend would refuse the answer:\n%s\n%v", st.method, st.path, body, err)
				}
				for _, frag := range st.contains {
					if !strings.Contains(string(body), frag) {
						t.Fatalf("%s %s = %s, want it to hold %s", st.method, st.path, body, frag)
					}
				}
			}
			if _, body := call(t, "GET", "/user/ada@example.com/follow/"); strings.Contains(string(body), `"orders"`) {
				t.Fatalf("the unfollowed table is still listed: %s", body)
			}

			// The header is what let the requests in.
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/user/ada@example.com", nil)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("without the frontend's header: %d, want 401", resp.StatusCode)
			}
		})
	}
}

// TestFrontendSchemaRefusesWhatTheFrontendRefuses: the schema of the replay
// test fails the bodies amundsen_common's schemas and the frontend's
// loaders refuse, so a passing replay means something. Each case names the
// rule it breaks.
func TestFrontendSchemaRefusesWhatTheFrontendRefuses(t *testing.T) {
	schemas := frontendSchemas(t)
	dash := func(override string) string {
		return `{"table":[],"dashboard":[{"uri":"u","cluster":"c","group_name":"g","group_url":"gu","product":"p","name":"n","url":"x"` + override + `}]}`
	}
	tests := []struct {
		name, schema, body string
		valid              bool
	}{
		{"user with only an email (preprocess_data fills the rest)", "User", `{"email":"a@x.com"}`, true},
		{"user named by first and last", "User", `{"user_id":"u","first_name":"A","last_name":"B"}`, true},
		{"usersvc's full user shape", "User", `{"user_id":"u","email":null,"first_name":null,"last_name":null,"full_name":null,"display_name":"D","github_username":null,"team_name":null,"slack_id":null,"employee_type":null,"manager_fullname":null,"manager_email":null,"manager_id":null,"role_name":null,"profile_url":null,"is_active":true,"other_key_values":{}}`, true},
		{"no display_name, full_name or email (validate_user)", "User", `{"user_id":"u"}`, false},
		{"blank names only (_str_no_value)", "User", `{"user_id":"u","display_name":"  ","first_name":" ","last_name":" "}`, false},
		{"no user_id or email", "User", `{"display_name":"D"}`, false},
		{"is_active null (bool, not Optional)", "User", `{"email":"a@x.com","is_active":null}`, false},
		{"is_active a string", "User", `{"email":"a@x.com","is_active":"true"}`, false},
		{"first_name a number (Optional[str])", "User", `{"email":"a@x.com","first_name":7}`, false},
		{"other_key_values with a number (Dict[str, str])", "User", `{"email":"a@x.com","other_key_values":{"k":1}}`, false},
		{"error body is no user", "User", `{"message":"user_id x not found"}`, false},
		{"Amundsen's GET /user array", "UserList", `[{"email":"a@x.com"}]`, true},
		{"the old {\"users\": [...]} shape", "UserList", `{"users":[{"email":"a@x.com"}]}`, false},
		{"complete dashboard", "UserResources", dash(`,"description":null,"last_successful_run_timestamp":null,"chart_names":[]`), true},
		{"dashboard url null (DashboardSummary.url: str)", "UserResources", strings.Replace(dash(""), `"url":"x"`, `"url":null`, 1), false},
		{"dashboard group_url null", "UserResources", strings.Replace(dash(""), `"group_url":"gu"`, `"group_url":null`, 1), false},
		{"dashboard without product", "UserResources", strings.Replace(dash(""), `"product":"p",`, ``, 1), false},
		{"chart_names null", "UserResources", dash(`,"chart_names":null`), false},
		{"timestamp a string (Optional[float])", "UserResources", dash(`,"last_successful_run_timestamp":"1700000000"`), false},
		{"table with database null (PopularTable.database: str)", "UserResources", `{"table":[{"database":null,"cluster":"c","schema":"s","name":"n"}],"dashboard":[]}`, false},
		{"table without name", "UserResources", `{"table":[{"database":"d","cluster":"c","schema":"s"}],"dashboard":[]}`, false},
		{"table list null (the frontend iterates it)", "UserResources", `{"table":null,"dashboard":[]}`, false},
		{"reads without table", "UserReads", `{"dashboard":[]}`, false},
		{"reads", "UserReads", `{"table":[{"database":"d","cluster":"c","schema":"s","name":"n","description":null}]}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validateBody(schemas, tt.schema, []byte(tt.body))
			if tt.valid && err != nil {
				t.Fatalf("refused a body the frontend accepts: %v", err)
			}
			if !tt.valid && err == nil {
				t.Fatal("accepted a body the frontend refuses")
			}
		})
	}
}
