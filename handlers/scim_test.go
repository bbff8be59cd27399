package handlers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/usersvc/usersvc/handlers"
	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/proxy/embedded"
	"github.com/usersvc/usersvc/schema"
)

// The requests below follow the two clients' documentation:
//   - Okta, "SCIM 2.0 protocol reference" (developer.okta.com/docs/api/
//     openapi/okta-scim/guides/scim-20): GET /Users?filter=userName eq
//     "..."&startIndex=1&count=100 before a create; POST with userName,
//     name, emails (primary, type work), active; PUT of the whole resource
//     for profile changes from apps built with the wizard; PATCH
//     {"op":"replace","value":{"active":false}} (no path) to deactivate.
//   - Microsoft Entra ID, "Tutorial: Develop and plan provisioning for a
//     SCIM endpoint" and "Known issues and resolutions with SCIM 2.0
//     protocol compliance" (learn.microsoft.com): filters userName eq,
//     externalId eq and emails[type eq "work"].value eq; PATCH with ops
//     Add/Replace/Remove in any case, "value":"False" as a string, paths
//     name.givenName, emails[type eq "work"].value and the enterprise
//     extension's attributes by full URN, manager as a plain string.

const (
	scimToken     = "scim-token-current-0123456789"
	scimNextToken = "scim-token-next-9876543210"
	entURN        = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
)

type scimEnv struct {
	h     http.Handler
	store *embedded.Store
}

func newSCIMEnv(t *testing.T) *scimEnv {
	t.Helper()
	store, err := embedded.Open(filepath.Join(t.TempDir(), "usersvc.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	h := handlers.New(handlers.Deps{
		Store: store,
		Users: oidcuser.NewResolver(store, oidcuser.ResolverConfig{}),
		// The OIDC middleware refuses everything: SCIM must not depend on it.
		Auth: handlers.AuthConfig{Authenticator: refuseAll{}},
		SCIM: &handlers.SCIMConfig{Tokens: []string{scimToken, scimNextToken}, Users: oidcuser.NewProvisioner(store, nil, nil)},
	})
	return &scimEnv{h: h, store: store}
}

func (e *scimEnv) do(t *testing.T, method, target, body string, token ...string) *httptest.ResponseRecorder {
	t.Helper()
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, target, nil)
	} else {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/scim+json")
	}
	tok := scimToken
	if len(token) > 0 {
		tok = token[0]
	}
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

func scimBody(t *testing.T, w *httptest.ResponseRecorder, status int) map[string]any {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d: %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); w.Body.Len() > 0 && ct != "application/scim+json" {
		t.Fatalf("Content-Type %q, want application/scim+json", ct)
	}
	if w.Body.Len() == 0 {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("body %s: %v", w.Body, err)
	}
	return m
}

// wantSCIMError checks RFC 7644 §3.12's error shape.
func wantSCIMError(t *testing.T, w *httptest.ResponseRecorder, status int, scimType string) {
	t.Helper()
	m := scimBody(t, w, status)
	if m["status"] != strconv.Itoa(status) {
		t.Fatalf("error status %v, want %q (RFC 7644 §3.12: a string)", m["status"], strconv.Itoa(status))
	}
	if got, _ := m["scimType"].(string); got != scimType {
		t.Fatalf("scimType %q, want %q (%v)", got, scimType, m)
	}
	if !slices.Contains(anyStrings(m["schemas"]), "urn:ietf:params:scim:api:messages:2.0:Error") {
		t.Fatalf("schemas %v", m["schemas"])
	}
}

func anyStrings(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, s := range list {
		if str, ok := s.(string); ok {
			out = append(out, str)
		}
	}
	return out
}

func (e *scimEnv) node(t *testing.T, key string) schema.User {
	t.Helper()
	u, err := e.store.GetUser(context.Background(), key)
	if err != nil {
		t.Fatalf("node %s: %v", key, err)
	}
	return u
}

func (e *scimEnv) nodeCount(t *testing.T) int {
	t.Helper()
	_, total, err := e.store.PageUserKeys(context.Background(), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	return total
}

// oktaCreate is the body of Okta's "Create the user" request.
const oktaCreate = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"Test.User@Example.com",
"name":{"givenName":"Test","familyName":"User"},"emails":[{"primary":true,"value":"test.user@example.com","type":"work"}],
"displayName":"Test User","locale":"en-US","externalId":"00ujl29u0le5T6Aj10h7","groups":[],"password":"1mz050nq","active":true}`

func TestSCIMDiscovery(t *testing.T) {
	e := newSCIMEnv(t)
	spc := scimBody(t, e.do(t, "GET", "/scim/v2/ServiceProviderConfig", ""), 200)
	if spc["patch"].(map[string]any)["supported"] != true || spc["bulk"].(map[string]any)["supported"] != false {
		t.Fatalf("ServiceProviderConfig %v", spc)
	}
	rts := scimBody(t, e.do(t, "GET", "/scim/v2/ResourceTypes", ""), 200)
	res := rts["Resources"].([]any)
	if len(res) != 1 || res[0].(map[string]any)["name"] != "User" {
		t.Fatalf("ResourceTypes lists %v, want User only (Groups are unsupported)", res)
	}
	schemas := scimBody(t, e.do(t, "GET", "/scim/v2/Schemas", ""), 200)
	var ids []string
	for _, s := range schemas["Resources"].([]any) {
		ids = append(ids, s.(map[string]any)["id"].(string))
	}
	if !slices.Equal(ids, []string{"urn:ietf:params:scim:schemas:core:2.0:User", entURN}) {
		t.Fatalf("Schemas %v", ids)
	}
	one := scimBody(t, e.do(t, "GET", "/scim/v2/Schemas/"+entURN, ""), 200)
	if one["name"] != "EnterpriseUser" {
		t.Fatalf("Schemas/%s: %v", entURN, one)
	}
	wantSCIMError(t, e.do(t, "GET", "/scim/v2/Groups", ""), 501, "")
	wantSCIMError(t, e.do(t, "POST", "/scim/v2/Groups", `{}`), 501, "")
	wantSCIMError(t, e.do(t, "GET", "/scim/v2/Nope", ""), 404, "")
}

func TestSCIMTokens(t *testing.T) {
	e := newSCIMEnv(t)
	for _, tok := range []string{scimToken, scimNextToken} {
		scimBody(t, e.do(t, "GET", "/scim/v2/Users", "", tok), 200)
	}
	for _, tok := range []string{"", "wrong-token-0123456789", scimToken + "x", scimToken[:len(scimToken)-1]} {
		w := e.do(t, "GET", "/scim/v2/Users", "", tok)
		wantSCIMError(t, w, 401, "")
		if strings.Contains(w.Body.String(), scimToken[:12]) {
			t.Fatal("the answer repeats the token")
		}
	}
	// Basic or another scheme is not a bearer token.
	r := httptest.NewRequest("GET", "/scim/v2/Users", nil)
	r.Header.Set("Authorization", "Basic "+scimToken)
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	wantSCIMError(t, w, 401, "")
	// The API's other routes still need OIDC: the SCIM token opens nothing else.
	w = e.do(t, "GET", "/user", "")
	if w.Code != 401 {
		t.Fatalf("GET /user with the SCIM token: %d", w.Code)
	}
}

func TestSCIMOktaLifecycle(t *testing.T) {
	e := newSCIMEnv(t)
	list := scimBody(t, e.do(t, "GET", `/scim/v2/Users?filter=userName%20eq%20%22Test.User%40Example.com%22&startIndex=1&count=100`, ""), 200)
	if list["totalResults"].(float64) != 0 || len(list["Resources"].([]any)) != 0 {
		t.Fatalf("before create: %v", list)
	}
	created := scimBody(t, e.do(t, "POST", "/scim/v2/Users", oktaCreate), 201)
	id := created["id"].(string)
	if created["userName"] != "Test.User@Example.com" || created["externalId"] != "00ujl29u0le5T6Aj10h7" || created["active"] != true {
		t.Fatalf("created %v", created)
	}
	n := e.node(t, "test.user@example.com")
	if n.UserID != "test.user@example.com" || n.FirstName != "Test" || n.LastName != "User" || n.FullName != "Test User" || !n.IsActive {
		t.Fatalf("node %+v", n)
	}
	got := scimBody(t, e.do(t, "GET", "/scim/v2/Users/"+id, ""), 200)
	if got["id"] != id || got["meta"].(map[string]any)["location"] != "http://example.com/scim/v2/Users/"+id {
		t.Fatalf("get %v", got)
	}
	// The filter finds them now, by userName in any case.
	list = scimBody(t, e.do(t, "GET", `/scim/v2/Users?filter=userName%20eq%20%22test.user%40example.com%22`, ""), 200)
	if list["totalResults"].(float64) != 1 || list["Resources"].([]any)[0].(map[string]any)["id"] != id {
		t.Fatalf("filter after create: %v", list)
	}
	// A second create of the same userName is a uniqueness conflict.
	wantSCIMError(t, e.do(t, "POST", "/scim/v2/Users", oktaCreate), 409, "uniqueness")

	// PUT (wizard apps): the whole resource; what it leaves out is cleared.
	put := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"` + id + `","userName":"Test.User@Example.com",
"name":{"givenName":"Another","familyName":"User"},"emails":[{"primary":true,"value":"test.user@example.com","type":"work"}],"active":true,"title":"Analyst"}`
	replaced := scimBody(t, e.do(t, "PUT", "/scim/v2/Users/"+id, put), 200)
	if replaced["title"] != "Analyst" || replaced["externalId"] != nil {
		t.Fatalf("replaced %v", replaced)
	}
	n = e.node(t, "test.user@example.com")
	if n.FirstName != "Another" || n.FullName != "Another User" || n.RoleName != "Analyst" {
		t.Fatalf("after PUT %+v", n)
	}
	// Deactivation: replace with no path.
	deact := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`
	patched := scimBody(t, e.do(t, "PATCH", "/scim/v2/Users/"+id, deact), 200)
	if patched["active"] != false {
		t.Fatalf("patched %v", patched)
	}
	if e.node(t, "test.user@example.com").IsActive {
		t.Fatal("the node is still active after the deactivating PATCH")
	}
}

// entraCreate follows the tutorial's "Create User" request.
const entraCreate = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
"externalId":"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef","userName":"Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1","active":true,
"emails":[{"primary":true,"type":"work","value":"Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com"}],
"meta":{"resourceType":"User"},"name":{"formatted":"givenName familyName","familyName":"familyName","givenName":"givenName"},"roles":[]}`

func TestSCIMEntraDialect(t *testing.T) {
	e := newSCIMEnv(t)
	created := scimBody(t, e.do(t, "POST", "/scim/v2/Users", entraCreate), 201)
	id := created["id"].(string)
	key := "test_user_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com"
	for _, f := range []string{
		`userName eq "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1"`,
		`externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"`,
		`emails[type eq "work"].value eq "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com"`,
		`userName eq "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1" and externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"`,
	} {
		list := scimBody(t, e.do(t, "GET", "/scim/v2/Users?filter="+urlQuery(f), ""), 200)
		res := list["Resources"].([]any)
		if len(res) != 1 || res[0].(map[string]any)["id"] != id {
			t.Fatalf("filter %s: %v", f, list)
		}
	}
	none := scimBody(t, e.do(t, "GET", "/scim/v2/Users?filter="+urlQuery(`userName eq "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1" and externalId eq "other"`), ""), 200)
	if none["totalResults"].(float64) != 0 {
		t.Fatalf("and with a mismatch: %v", none)
	}
	wantSCIMError(t, e.do(t, "GET", "/scim/v2/Users?filter="+urlQuery(`userName co "Test"`), ""), 400, "invalidFilter")
	wantSCIMError(t, e.do(t, "GET", "/scim/v2/Users?filter="+urlQuery(`userName eq`), ""), 400, "invalidFilter")

	patch := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
{"op":"Replace","path":"name.givenName","value":"Grace"},
{"op":"replace","path":"name.familyName","value":"Hopper"},
{"op":"Add","path":"title","value":"Rear Admiral"},
{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"Navy"},
{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"mgr-0001"},
{"op":"Add","path":"displayName","value":"Ignored, not mapped"}]}`
	got := scimBody(t, e.do(t, "PATCH", "/scim/v2/Users/"+id, patch), 200)
	ent := got[entURN].(map[string]any)
	if got["title"] != "Rear Admiral" || ent["department"] != "Navy" || ent["manager"].(map[string]any)["value"] != "mgr-0001" {
		t.Fatalf("after Entra PATCH %v", got)
	}
	n := e.node(t, key)
	if n.FirstName != "Grace" || n.LastName != "Hopper" || n.FullName != "Grace Hopper" || n.TeamName != "Navy" || n.RoleName != "Rear Admiral" || n.ManagerID != "mgr-0001" {
		t.Fatalf("node %+v", n)
	}
	// "False" as a string deactivates; Remove drops an attribute.
	off := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"},
{"op":"Remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}]}`
	got = scimBody(t, e.do(t, "PATCH", "/scim/v2/Users/"+id, off), 200)
	if got["active"] != false {
		t.Fatalf("after \"False\": %v", got)
	}
	n = e.node(t, key)
	if n.IsActive || n.ManagerID != "" {
		t.Fatalf("node after deactivation and manager removal %+v", n)
	}
	// A path-less replace whose keys are paths (Entra) and "True".
	on := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","value":{"active":"True","name.familyName":"Murray Hopper"}}]}`
	scimBody(t, e.do(t, "PATCH", "/scim/v2/Users/"+id, on), 200)
	if n = e.node(t, key); !n.IsActive || n.LastName != "Murray Hopper" {
		t.Fatalf("after path-less Replace %+v", n)
	}
}

func urlQuery(s string) string {
	r := strings.NewReplacer(" ", "%20", `"`, "%22", "[", "%5B", "]", "%5D", "@", "%40")
	return r.Replace(s)
}

// An email change moves the person's node, edges included: one person,
// one node, as the directory paths keep it.
func TestSCIMEmailChangeMovesTheNode(t *testing.T) {
	e := newSCIMEnv(t)
	created := scimBody(t, e.do(t, "POST", "/scim/v2/Users", entraCreate), 201)
	id := created["id"].(string)
	before := e.nodeCount(t)
	patch := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"emails[type eq \"work\"].value","value":"grace@example.com"}]}`
	got := scimBody(t, e.do(t, "PATCH", "/scim/v2/Users/"+id, patch), 200)
	if got["emails"].([]any)[0].(map[string]any)["value"] != "grace@example.com" {
		t.Fatalf("after the email change %v", got)
	}
	if e.nodeCount(t) != before {
		t.Fatalf("nodes %d → %d: the change made a second node", before, e.nodeCount(t))
	}
	if _, err := e.store.GetUser(context.Background(), "test_user_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com"); !schema.IsNotFound(err) {
		t.Fatalf("old key still there: %v", err)
	}
	if n := e.node(t, "grace@example.com"); n.UserID != "test_user_ab6490ee-1e48-479e-a20b-2d77186b5dd1" {
		t.Fatalf("moved node %+v", n)
	}
}

// A person the graph knows from another path (here PUT /user, as the
// Amundsen API writes them) is adopted, not duplicated.
func TestSCIMAdoptsAnExistingNode(t *testing.T) {
	e := newSCIMEnv(t)
	ctx := context.Background()
	if _, _, err := e.store.CreateUpdateUser(ctx, schema.User{NodeKey: "test.user@example.com", UserID: "test.user@example.com",
		Email: "test.user@example.com", IsActive: true, SlackID: "U123"}); err != nil {
		t.Fatal(err)
	}
	before := e.nodeCount(t)
	list := scimBody(t, e.do(t, "GET", `/scim/v2/Users?filter=userName%20eq%20%22Test.User%40Example.com%22`, ""), 200)
	if list["totalResults"].(float64) != 1 {
		t.Fatalf("the existing person is not found: %v", list)
	}
	found := list["Resources"].([]any)[0].(map[string]any)["id"].(string)
	replaced := scimBody(t, e.do(t, "PUT", "/scim/v2/Users/"+found, oktaCreate), 200)
	if replaced["id"] != found || e.nodeCount(t) != before {
		t.Fatalf("replace made %d nodes from %d: %v", e.nodeCount(t), before, replaced)
	}
	if n := e.node(t, "test.user@example.com"); n.SlackID != "U123" || n.FirstName != "Test" {
		t.Fatalf("adopted node lost what other writers stored: %+v", n)
	}
}

func TestSCIMSoftDelete(t *testing.T) {
	e := newSCIMEnv(t)
	ctx := context.Background()
	created := scimBody(t, e.do(t, "POST", "/scim/v2/Users", oktaCreate), 201)
	id := created["id"].(string)
	if err := e.store.AddResourceRelation(ctx, "test.user@example.com", schema.Follow, schema.Table, "hive://gold.sales/orders"); err != nil && !schema.IsNotFound(err) {
		t.Fatal(err)
	}
	if w := e.do(t, "DELETE", "/scim/v2/Users/"+id, ""); w.Code != 204 {
		t.Fatalf("DELETE: %d %s", w.Code, w.Body)
	}
	wantSCIMError(t, e.do(t, "GET", "/scim/v2/Users/"+id, ""), 404, "")
	wantSCIMError(t, e.do(t, "DELETE", "/scim/v2/Users/"+id, ""), 404, "")
	n := e.node(t, "test.user@example.com")
	if n.IsActive || n.FirstName != "Test" {
		t.Fatalf("after DELETE the node must stay, inactive: %+v", n)
	}
	list := scimBody(t, e.do(t, "GET", `/scim/v2/Users?filter=userName%20eq%20%22Test.User%40Example.com%22`, ""), 200)
	if list["totalResults"].(float64) != 0 {
		t.Fatalf("a deleted resource must be omitted from queries (RFC 7644 §3.6): %v", list)
	}
	// Provisioned again: the same node, a new id.
	again := scimBody(t, e.do(t, "POST", "/scim/v2/Users", oktaCreate), 201)
	if again["id"] == id {
		t.Fatal("a deleted id was reused")
	}
	if !e.node(t, "test.user@example.com").IsActive || e.nodeCount(t) != 1 {
		t.Fatal("revival did not reuse the one node")
	}
}

func TestSCIMBadInputWritesNothing(t *testing.T) {
	e := newSCIMEnv(t)
	created := scimBody(t, e.do(t, "POST", "/scim/v2/Users", oktaCreate), 201)
	id := created["id"].(string)
	before := e.node(t, "test.user@example.com")
	for _, c := range []struct{ method, path, body, scimType string }{
		{"POST", "/scim/v2/Users", `{"name":{"givenName":"No"}}`, "invalidValue"},
		{"POST", "/scim/v2/Users", `{"userName":"x@example.com","active":"maybe"}`, "invalidValue"},
		{"POST", "/scim/v2/Users", `{"userName":42}`, "invalidValue"},
		{"POST", "/scim/v2/Users", `not json`, "invalidSyntax"},
		{"POST", "/scim/v2/Users", `{"userName":"y@example.com","emails":[{"value":"a@x","primary":true},{"value":"b@x","primary":true}]}`, "invalidValue"},
		{"PUT", "/scim/v2/Users/" + id, `{"userName":"Test.User@Example.com","name":"flat"}`, "invalidValue"},
		{"PATCH", "/scim/v2/Users/" + id, `{"Operations":[{"op":"replace","path":"title","value":"x"}]}`, "invalidValue"},
		{"PATCH", "/scim/v2/Users/" + id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove"}]}`, "noTarget"},
		{"PATCH", "/scim/v2/Users/" + id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":"ok"},{"op":"jump","path":"title"}]}`, "invalidSyntax"},
		{"PATCH", "/scim/v2/Users/" + id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":"ok"},{"op":"replace","path":"active","value":"nope"}]}`, "invalidValue"},
		{"PATCH", "/scim/v2/Users/" + id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"emails[","value":"x"}]}`, "invalidPath"},
	} {
		w := e.do(t, c.method, c.path, c.body)
		wantSCIMError(t, w, 400, c.scimType)
	}
	if e.nodeCount(t) != 1 {
		t.Fatalf("bad input wrote a node: %d", e.nodeCount(t))
	}
	if after := e.node(t, "test.user@example.com"); after.RoleName != before.RoleName || after.IsActive != before.IsActive {
		t.Fatalf("bad input changed the node: %+v → %+v", before, after)
	}
	wantSCIMError(t, e.do(t, "GET", "/scim/v2/Users/no-such-id", ""), 404, "")
	wantSCIMError(t, e.do(t, "PUT", "/scim/v2/Users/no-such-id", oktaCreate), 404, "")
}

func TestSCIMPagingIsStable(t *testing.T) {
	e := newSCIMEnv(t)
	var ids []string
	for _, name := range []string{"e", "a", "d", "b", "c"} {
		body := `{"userName":"` + name + `@example.com","emails":[{"value":"` + name + `@example.com","primary":true}]}`
		ids = append(ids, scimBody(t, e.do(t, "POST", "/scim/v2/Users", body), 201)["id"].(string))
	}
	if slices.Sort(ids); len(slices.Compact(ids)) != 5 {
		t.Fatalf("ids are not unique: %v", ids)
	}
	var seen []string
	for start := 1; start <= 5; start += 2 {
		page := scimBody(t, e.do(t, "GET", "/scim/v2/Users?startIndex="+strconv.Itoa(start)+"&count=2", ""), 200)
		if page["totalResults"].(float64) != 5 || page["startIndex"].(float64) != float64(start) {
			t.Fatalf("page at %d: %v", start, page)
		}
		for _, r := range page["Resources"].([]any) {
			seen = append(seen, r.(map[string]any)["userName"].(string))
		}
	}
	if !slices.Equal(seen, []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com", "e@example.com"}) {
		t.Fatalf("pages gave %v", seen)
	}
	zero := scimBody(t, e.do(t, "GET", "/scim/v2/Users?count=0", ""), 200)
	if zero["totalResults"].(float64) != 5 || len(zero["Resources"].([]any)) != 0 {
		t.Fatalf("count=0: %v", zero)
	}
	wantSCIMError(t, e.do(t, "GET", "/scim/v2/Users?count=x", ""), 400, "invalidValue")
}

// An email change onto an address whose node another writer made first
// (Amundsen's PUT /user, say): the move is refused as sync refuses it, the
// old node is deactivated, and the SCIM resource continues on the node at
// the new address, never held by two nodes.
func TestSCIMEmailChangeOntoAnExistingNode(t *testing.T) {
	e := newSCIMEnv(t)
	ctx := context.Background()
	created := scimBody(t, e.do(t, "POST", "/scim/v2/Users", oktaCreate), 201)
	id := created["id"].(string)
	if _, _, err := e.store.CreateUpdateUser(ctx, schema.User{UserID: "t.user@example.com", Email: "t.user@example.com", IsActive: true, SlackID: "U9"}); err != nil {
		t.Fatal(err)
	}
	patch := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"emails[type eq \"work\"].value","value":"t.user@example.com"}]}`
	got := scimBody(t, e.do(t, "PATCH", "/scim/v2/Users/"+id, patch), 200)
	if got["id"] != id {
		t.Fatalf("after the change %v", got)
	}
	keys, err := e.store.UserKeysByProperty(ctx, "scim_id", id)
	if err != nil || !slices.Equal(keys, []string{"t.user@example.com"}) {
		t.Fatalf("nodes holding the id: %v, %v", keys, err)
	}
	if old := e.node(t, "test.user@example.com"); old.IsActive {
		t.Fatal("the old node is still active: the person shows twice")
	}
	if n := e.node(t, "t.user@example.com"); !n.IsActive || n.SlackID != "U9" || n.FirstName != "Test" {
		t.Fatalf("new node %+v", n)
	}
	scimBody(t, e.do(t, "GET", "/scim/v2/Users/"+id, ""), 200)
}

// unavailableUsers is a Users resource whose graph does not answer.
type unavailableUsers struct{ handlers.SCIMUsers }

func (unavailableUsers) err() error {
	return schema.Unavailable("the graph store is unavailable", 7*time.Second, nil)
}
func (u unavailableUsers) Create(context.Context, schema.ProvisionedUser) (schema.ProvisionedUser, error) {
	return schema.ProvisionedUser{}, u.err()
}
func (u unavailableUsers) Get(context.Context, string) (schema.ProvisionedUser, error) {
	return schema.ProvisionedUser{}, u.err()
}
func (u unavailableUsers) Modify(context.Context, string, func(schema.ProvisionedUser) (schema.ProvisionedUser, error)) (schema.ProvisionedUser, error) {
	return schema.ProvisionedUser{}, u.err()
}
func (u unavailableUsers) Find(context.Context, schema.ProvisionQuery) ([]schema.ProvisionedUser, error) {
	return nil, u.err()
}

// A graph outage is the server's trouble, not the client's: 503 with
// Retry-After (which Okta and Entra honour by retrying), as a SCIM error.
func TestSCIMStoreOutageIs503(t *testing.T) {
	h := handlers.New(handlers.Deps{SCIM: &handlers.SCIMConfig{Tokens: []string{scimToken}, Users: unavailableUsers{}}})
	e := &scimEnv{h: h}
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/scim/v2/Users", oktaCreate},
		{"GET", "/scim/v2/Users/some-id", ""},
		{"GET", `/scim/v2/Users?filter=userName%20eq%20%22a%22`, ""},
		{"PATCH", "/scim/v2/Users/some-id", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`},
	} {
		w := e.do(t, c.method, c.path, c.body)
		wantSCIMError(t, w, 503, "")
		if w.Header().Get("Retry-After") != "7" {
			t.Fatalf("%s %s: Retry-After %q", c.method, c.path, w.Header().Get("Retry-After"))
		}
	}
}

// Attributes with no place of their own on the node (Entra's default
// mappings send displayName, phoneNumbers, addresses, name.formatted and
// the enterprise employeeNumber) are kept as sent and answered back, so a
// client reading a person back sees what it wrote; displayName also names
// the node.
func TestSCIMKeepsUnmappedAttributes(t *testing.T) {
	e := newSCIMEnv(t)
	body := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","` + entURN + `"],"userName":"ada@example.com","active":true,
"displayName":"Countess Lovelace","name":{"givenName":"Ada","familyName":"Lovelace","formatted":"Ada Lovelace"},
"emails":[{"value":"ada@example.com","type":"work","primary":true}],"phoneNumbers":[{"type":"work","value":"+44 20 7946 0000"}],
"` + entURN + `":{"employeeNumber":"1815","department":"Analytics"}}`
	created := scimBody(t, e.do(t, "POST", "/scim/v2/Users", body), 201)
	id := created["id"].(string)
	got := scimBody(t, e.do(t, "GET", "/scim/v2/Users/"+id, ""), 200)
	if got["displayName"] != "Countess Lovelace" || got["name"].(map[string]any)["formatted"] != "Ada Lovelace" ||
		got["phoneNumbers"].([]any)[0].(map[string]any)["value"] != "+44 20 7946 0000" ||
		got[entURN].(map[string]any)["employeeNumber"] != "1815" || got[entURN].(map[string]any)["department"] != "Analytics" {
		t.Fatalf("read back %v", got)
	}
	if n := e.node(t, "ada@example.com"); n.DisplayName != "Countess Lovelace" || n.TeamName != "Analytics" {
		t.Fatalf("node %+v", n)
	}
	patch := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
{"op":"Replace","path":"phoneNumbers[type eq \"work\"].value","value":"+44 20 7946 0001"},
{"op":"Replace","path":"displayName","value":"Ada"}]}`
	got = scimBody(t, e.do(t, "PATCH", "/scim/v2/Users/"+id, patch), 200)
	if got["displayName"] != "Ada" || got["phoneNumbers"].([]any)[0].(map[string]any)["value"] != "+44 20 7946 0001" {
		t.Fatalf("after PATCH %v", got)
	}
	if n := e.node(t, "ada@example.com"); n.DisplayName != "Ada" {
		t.Fatalf("display_name after PATCH %q", n.DisplayName)
	}
	// PUT without them: gone; display_name derived from the name again.
	got = scimBody(t, e.do(t, "PUT", "/scim/v2/Users/"+id, `{"userName":"ada@example.com","name":{"givenName":"Ada","familyName":"Lovelace"},"emails":[{"value":"ada@example.com","primary":true}]}`), 200)
	for _, k := range []string{"displayName", "phoneNumbers", entURN} {
		if _, ok := got[k]; ok {
			t.Fatalf("after PUT %s is still there: %v", k, got)
		}
	}
	if name := got["name"].(map[string]any); len(name) != 2 {
		t.Fatalf("after PUT name = %v", name)
	}
	if n := e.node(t, "ada@example.com"); n.DisplayName != "Ada Lovelace" || n.TeamName != "" {
		t.Fatalf("node after PUT %+v", n)
	}
	// More than the node keeps: refused, nothing written.
	big := `{"userName":"ada@example.com","notes":"` + strings.Repeat("x", 5000) + `"}`
	wantSCIMError(t, e.do(t, "PUT", "/scim/v2/Users/"+id, big), 400, "invalidValue")
	if n := e.node(t, "ada@example.com"); n.FirstName != "Ada" {
		t.Fatalf("a refused PUT changed the node: %+v", n)
	}
}
