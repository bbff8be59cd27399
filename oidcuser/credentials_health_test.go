package oidcuser_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/usersvc/usersvc/handlers"
	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/oidcuser/okta"
	"github.com/usersvc/usersvc/proxy/embedded/embeddedtest"
	"github.com/usersvc/usersvc/testsupport/syncbuffer"
)

// TestRefusedCredentialsShowInHealth: a directory that refuses usersvc's
// token shows as such in /healthcheck and /readyz (which stay 200: the
// directory's trouble does not take pods out of service), the log says so
// once for several lookups, without the token; an answer about a person
// clears it.
func TestRefusedCredentialsShowInHealth(t *testing.T) {
	org := newOrg(t)
	store := embeddedtest.WithCatalog(t)
	const revoked = "00revoked-token-value-42"
	dir := newDirectory(t, org, okta.Config{AuthorizationMode: "SSWS", Token: revoked})
	logs := &syncbuffer.Buffer{}
	resolver := oidcuser.NewResolver(store, oidcuser.ResolverConfig{Directory: dir, LookupTimeout: 2 * time.Second,
		Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	h := handlers.New(handlers.Deps{Users: resolver, Store: store,
		Health:   []handlers.Check{{Name: "store", Probe: store.Health}},
		Advisory: []handlers.Check{{Name: "directory:okta", Probe: resolver.DirectoryCredentials}}})
	check := func(path string) map[string]any {
		t.Helper()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		if w.Code != http.StatusOK {
			t.Fatalf("%s = %d %s: the directory must not fail it", path, w.Code, w.Body)
		}
		var body struct{ Checks map[string]any }
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		return body.Checks["directory:okta"].(map[string]any)
	}
	if got := check("/readyz"); got["status"] != "ok" {
		t.Fatalf("before any answer: %v", got)
	}
	for range 3 {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/user/someone.new@example.com", nil))
		if w.Code != http.StatusServiceUnavailable {
			t.Fatalf("lookup with a revoked token = %d", w.Code)
		}
	}
	for _, path := range []string{"/healthcheck", "/readyz"} {
		if got := check(path); got["status"] == "ok" || !strings.Contains(got["message"].(string), "credentials") {
			t.Fatalf("%s after refusals: %v", path, got)
		}
	}
	if n := strings.Count(logs.String(), "refuses usersvc's credentials"); n != 1 {
		t.Fatalf("%d log lines about the credentials, want 1", n)
	}
	if strings.Contains(logs.String(), revoked) {
		t.Fatal("the token reached the log")
	}

	// Fixed (the org accepts the token now): the next answer clears it.
	org2 := newOrg(t)
	good := oidcuser.NewResolver(store, oidcuser.ResolverConfig{Directory: newDirectory(t, org2, okta.Config{}), LookupTimeout: 2 * time.Second})
	if _, err := good.ResolveUser(context.Background(), "grace.hopper@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := good.DirectoryCredentials(context.Background()); err != nil {
		t.Fatalf("after an answer: %v", err)
	}
}
