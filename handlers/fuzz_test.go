package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/usersvc/usersvc/handlers"
	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/proxy/embedded"
	"github.com/usersvc/usersvc/proxy/proxytest"
)

// FuzzRequests sends arbitrary methods, request targets and bodies through
// the real engine and store: never a panic, never a 5xx for client input,
// and every error answer is a JSON {"message": ...}.
func FuzzRequests(f *testing.F) {
	seeds := []struct{ method, target, body string }{
		{"GET", "/user/ada@example.com", ""},
		{"PUT", "/user", `{"email":"a@x.com"}`},
		{"PUT", "/user", `{"email":"a@x.com"}{}`},
		{"PUT", "/user/a@x.com/follow/table/hive://gold.s/t", ""},
		{"DELETE", "/user/a@x.com/own/DASHBOARD/mode_dashboard://x.y/z", ""},
		{"GET", "/user/%2F%2F/follow/", ""},
		{"GET", "/user/a%00b", ""},
		{"GET", "//healthcheck?x#y", ""},
		{"PATCH", "/user/x/read/", ""},
		{"GET", "/user/x/follow/table/" + strings.Repeat("k", 5000), ""},
		{"PUT", "/user", `{"other_key_values":{"":""},"is_active":true,"email":"x"}`},
	}
	for _, s := range seeds {
		f.Add(s.method, s.target, []byte(s.body))
	}
	store, err := embedded.Open(filepath.Join(f.TempDir(), "u.db"), time.Second)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = store.Close() })
	if err := store.LoadCatalog(context.Background(), proxytest.Catalog()); err != nil {
		f.Fatal(err)
	}
	h := handlers.New(handlers.Deps{
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Users:  oidcuser.NewResolver(store, oidcuser.ResolverConfig{}), Store: store,
		Health: []handlers.Check{{Name: "store", Probe: store.Health}},
	})
	f.Fuzz(func(t *testing.T, method, target string, body []byte) {
		if method == "" || strings.ContainsAny(method, " \t\r\n") {
			return
		}
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return // net/http answers 400 itself before any handler runs
		}
		req := &http.Request{Method: method, URL: u, RequestURI: target, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Host: "x"}
		req = req.WithContext(context.Background())
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %q → %d %s", method, target, w.Code, w.Body.String())
		}
		if w.Code >= 400 && method != http.MethodHead {
			var msg map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &msg); err != nil || len(msg) != 1 || msg["message"] == nil {
				t.Fatalf("%s %q → %d with body %q, want {\"message\": ...}", method, target, w.Code, w.Body.String())
			}
		}
	})
}

// FuzzSCIM sends arbitrary methods, targets under /scim/v2 and bodies,
// with the SCIM token, through the real engine, Provisioner and store:
// never a panic, never a 5xx for client input (501 answers only the
// endpoints declared unsupported), and every error is an RFC 7644 §3.12
// error message.
func FuzzSCIM(f *testing.F) {
	const patch = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[`
	seeds := []struct{ method, target, body string }{
		{"POST", "/scim/v2/Users", `{"userName":"a@x.com","emails":[{"value":"a@x.com","primary":true}]}`},
		{"POST", "/scim/v2/Users", `{"userName":"b","name":{"givenName":1}}`},
		{"GET", `/scim/v2/Users?filter=userName%20eq%20%22a%40x.com%22&count=1&startIndex=0`, ""},
		{"GET", `/scim/v2/Users?filter=emails%5Btype%20eq%20%22work%22%5D.value%20eq%20%22a%40x.com%22`, ""},
		{"GET", "/scim/v2/Users?attributes=name.givenName,emails.value&excludedAttributes=urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", ""},
		{"PATCH", "/scim/v2/Users/x", patch + `{"op":"Replace","path":"emails[type eq \"work\"].value","value":"c@x.com"}]}`},
		{"PATCH", "/scim/v2/Users/x", patch + `{"op":"add","value":{"name.familyName":"F","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":"m"}}}]}`},
		{"PATCH", "/scim/v2/Users/x", patch + `{"op":"remove","path":"emails[value sw \"a\" or not (primary pr)]"}]}`},
		{"POST", "/scim/v2/.search", `{"filter":"externalId eq \"e\"","count":1e3,"attributes":["userName"]}`},
		{"PUT", "/scim/v2/Users/x", `{"userName":"a@x.com","active":"False"}`},
		{"DELETE", "/scim/v2/Users/x", ""},
		{"GET", "/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.target, []byte(s.body))
	}
	store, err := embedded.Open(filepath.Join(f.TempDir(), "u.db"), time.Second)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = store.Close() })
	const token = "fuzz-scim-token-0123456789"
	h := handlers.New(handlers.Deps{
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Store:  store,
		SCIM:   &handlers.SCIMConfig{Tokens: []string{token}, Users: oidcuser.NewProvisioner(store, nil, nil)},
	})
	// The PATCH seeds' target is a live person's id.
	req := httptest.NewRequest("POST", "/scim/v2/Users", strings.NewReader(`{"userName":"seed@x.com"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	var created struct{ ID string }
	if w.Code != 201 || json.Unmarshal(w.Body.Bytes(), &created) != nil {
		f.Fatalf("seed person: %d %s", w.Code, w.Body)
	}
	f.Fuzz(func(t *testing.T, method, target string, body []byte) {
		if method == "" || strings.ContainsAny(method, " \t\r\n") || !strings.HasPrefix(target, "/scim/v2/") {
			return
		}
		target = strings.Replace(target, "/Users/x", "/Users/"+created.ID, 1)
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		req := &http.Request{Method: method, URL: u, RequestURI: target, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"Authorization": {"Bearer " + token}}, Body: io.NopCloser(bytes.NewReader(body)),
			ContentLength: int64(len(body)), Host: "x"}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req.WithContext(context.Background()))
		if w.Code >= 500 && w.Code != http.StatusNotImplemented {
			t.Fatalf("%s %q %q → %d %s", method, target, body, w.Code, w.Body.String())
		}
		if w.Code >= 400 && method != http.MethodHead {
			var e struct {
				Schemas []string
				Status  string
			}
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || len(e.Schemas) != 1 ||
				e.Schemas[0] != "urn:ietf:params:scim:api:messages:2.0:Error" || e.Status != strconv.Itoa(w.Code) {
				t.Fatalf("%s %q → %d with body %q, want a SCIM error", method, target, w.Code, w.Body.String())
			}
		}
	})
}
