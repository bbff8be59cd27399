package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/usersvc/usersvc/docs"
	"github.com/usersvc/usersvc/handlers"
	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/proxy/embedded"
	"github.com/usersvc/usersvc/proxy/proxytest"
	"github.com/usersvc/usersvc/schema"
)

func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(docs.OpenAPIYAML())
	if err != nil {
		t.Fatal(err)
	}
	// Validate checks the document and every example in it against its schema.
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("docs/openapi.yaml is invalid: %v", err)
	}
	return doc
}

var ginParam = regexp.MustCompile(`[:*]([a-z]+)`)

// openAPIPath turns a gin template into the document's path syntax.
func openAPIPath(p string) string { return ginParam.ReplaceAllString(p, "{$1}") }

// TestOpenAPIMatchesRoutes fails when a served route is missing from the
// document or the document describes a route that is not served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := loadSpec(t)
	h := handlers.New(handlers.Deps{OpenAPI: []byte("{}")})
	served := map[string]bool{}
	for _, r := range handlers.Routes(h) {
		served[r.Method+" "+openAPIPath(r.Path)] = true
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	for r := range served {
		if !documented[r] {
			t.Errorf("served but not in docs/openapi.yaml: %s", r)
		}
	}
	for r := range documented {
		if !served[r] {
			t.Errorf("in docs/openapi.yaml but not served: %s", r)
		}
	}
	if len(served) < 15 {
		t.Fatalf("only %d routes found", len(served))
	}
}

// TestResponsesMatchTheDocument drives every route through the real handlers
// and validates each answer (status, headers, body) against the document.
func TestResponsesMatchTheDocument(t *testing.T) {
	doc := loadSpec(t)
	store, err := embedded.Open(filepath.Join(t.TempDir(), "u.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	cat := proxytest.Catalog()
	cat.Reads = []schema.ReadRecord{{User: "reader@example.com", Table: proxytest.TableOrders, ReadCount: 4}}
	if err := store.LoadCatalog(context.Background(), cat); err != nil {
		t.Fatal(err)
	}
	spec, _ := docs.OpenAPIJSON()
	h := handlers.New(handlers.Deps{
		Users: oidcuser.NewResolver(store, oidcuser.ResolverConfig{}), Store: store, OpenAPI: spec,
		Health: []handlers.Check{{Name: "store:embedded", Probe: store.Health}},
		Build:  handlers.BuildInfo{Version: "test", Commit: "abc", GoVersion: "go1.26"},
	})
	steps := []struct {
		method, target, route, body string
		status                      int
	}{
		{"GET", "/healthcheck", "/healthcheck", "", 200},
		{"GET", "/livez", "/livez", "", 200},
		{"GET", "/readyz", "/readyz", "", 200},
		{"GET", "/version", "/version", "", 200},
		{"GET", "/openapi.json", "/openapi.json", "", 200},
		{"PUT", "/user", "/user", `{"email":"ada@example.com","first_name":"Ada","last_name":"Lovelace","other_key_values":{"k":"v"}}`, 201},
		{"PUT", "/user", "/user", `{"email":"ada@example.com","team_name":"Data"}`, 200},
		{"PUT", "/user", "/user", ``, 400},
		{"PUT", "/user", "/user", `{"user_id":"x"}`, 400},
		{"PUT", "/user", "/user", `{"email":"` + strings.Repeat("a", 2<<20) + `"}`, 413},
		{"GET", "/user", "/user", "", 200},
		{"GET", "/user/ada@example.com", "/user/{id}", "", 200},
		{"GET", "/user/nobody@example.com", "/user/{id}", "", 404},
		{"GET", "/user/a%00b", "/user/{id}", "", 400},
		{"PUT", "/user/ada@example.com/follow/table/" + proxytest.TableOrders, "/user/{id}/follow/{type}/{key}", "", 200},
		{"PUT", "/user/ada@example.com/follow/dashboard/" + proxytest.DashboardSales, "/user/{id}/follow/{type}/{key}", "", 200},
		{"PUT", "/user/ada@example.com/follow/table/hive://no.such/table", "/user/{id}/follow/{type}/{key}", "", 404},
		{"PUT", "/user/ada@example.com/follow/column/x", "/user/{id}/follow/{type}/{key}", "", 400},
		{"GET", "/user/ada@example.com/follow/", "/user/{id}/follow/", "", 200},
		{"DELETE", "/user/ada@example.com/follow/table/" + proxytest.TableOrders, "/user/{id}/follow/{type}/{key}", "", 200},
		{"PUT", "/user/ada@example.com/own/table/" + proxytest.TableOrders, "/user/{id}/own/{type}/{key}", "", 200},
		{"GET", "/user/ada@example.com/own/", "/user/{id}/own/", "", 200},
		{"DELETE", "/user/ada@example.com/own/table/" + proxytest.TableOrders, "/user/{id}/own/{type}/{key}", "", 200},
		{"GET", "/user/reader@example.com/read/", "/user/{id}/read/", "", 200},
	}
	for _, st := range steps {
		t.Run(st.method+" "+st.route+" "+http.StatusText(st.status), func(t *testing.T) {
			var body io.Reader
			if st.body != "" {
				body = strings.NewReader(st.body)
			}
			req := httptest.NewRequest(st.method, st.target, body)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != st.status {
				t.Fatalf("status %d, want %d: %s", w.Code, st.status, w.Body.String())
			}
			item := doc.Paths.Find(st.route)
			if item == nil {
				t.Fatalf("no %s in the document", st.route)
			}
			op := item.GetOperation(st.method)
			if op == nil {
				t.Fatalf("no %s %s in the document", st.method, st.route)
			}
			input := &openapi3filter.ResponseValidationInput{
				RequestValidationInput: &openapi3filter.RequestValidationInput{
					Request: req,
					Route:   &routers.Route{Spec: doc, Path: st.route, PathItem: item, Method: st.method, Operation: op},
				},
				Status:  w.Code,
				Header:  w.Header(),
				Options: &openapi3filter.Options{IncludeResponseStatus: true},
			}
			input.SetBodyBytes(w.Body.Bytes())
			if err := openapi3filter.ValidateResponse(context.Background(), input); err != nil {
				t.Fatalf("response does not match the document: %v\n%s", err, w.Body.String())
			}
		})
	}
	// The served document is the YAML, as JSON.
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/openapi.json", nil))
	var served map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &served); err != nil || served["openapi"] != "3.0.3" || !bytes.Equal(w.Body.Bytes(), spec) {
		t.Fatalf("/openapi.json = %.100s, %v", w.Body.String(), err)
	}
	if !slices.Contains([]string{"application/json", "application/json; charset=utf-8"}, w.Header().Get("Content-Type")) {
		t.Fatalf("content type %q", w.Header().Get("Content-Type"))
	}
}
