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
