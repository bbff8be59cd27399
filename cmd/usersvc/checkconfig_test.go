package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/usersvc/usersvc/testsupport/issuer"
	"github.com/usersvc/usersvc/testsupport/oktaapi"
)

// TestBinaryCheckConfig: `usersvc check-config` validates the
// configuration and probes each configured dependency once, one line each,
// without serving: exit 0 when all answer, 1 when any fails (the others
// are still probed and shown), 2 for an invalid configuration.
func TestBinaryCheckConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	iss := issuer.Start(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthcheck" {
			w.WriteHeader(http.StatusOK)
			return
		}
		http.NotFound(w, r)
	}))
	defer up.Close()
	org := oktaapi.New(t, oktaapi.WithSSWSToken("00ssws"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := ln.Addr().String()
	_ = ln.Close()
	oidc := []string{"FLASK_OIDC_CONFIG_URL=" + iss.DiscoveryURL(), "OIDC_AUDIENCE=" + issuer.Audience}

	good := append([]string{"OKTA_CLIENT_ORGURL=" + org.URL(), "OKTA_CLIENT_TOKEN=00ssws", "OKTA_TESTING_DISABLE_HTTPS_CHECK=true",
		"EMBEDDED_DB_PATH=" + filepath.Join(t.TempDir(), "u.db"), "METADATA_UPSTREAM_URL=" + up.URL}, oidc...)
	stdout, stderr, code := runBinary(t, good, "check-config")
	for _, want := range []string{"ok    configuration", "ok    oidc ", "ok    directory     okta " + org.URL(), "ok    store ", "ok    upstream "} {
		if !strings.Contains(stdout, want+"") {
			t.Errorf("all good: no line %q", want)
		}
	}
	if code != exitOK || strings.Contains(stdout, "FAIL") {
		t.Fatalf("all good: exit %d\n%s%s", code, stdout, stderr)
	}
	if n := org.Count(oktaapi.IsAPI); n < 1 || n > 2 {
		t.Errorf("the directory probe made %d Okta calls, want one lookup (1 or 2 calls)", n)
	}

	bad := append([]string{"OKTA_CLIENT_ORGURL=" + org.URL(), "OKTA_CLIENT_TOKEN=wrong", "OKTA_TESTING_DISABLE_HTTPS_CHECK=true",
		"PROXY_HOST=bolt://" + closedPort, "PROXY_CONNECT_TIMEOUT=1s"},
		"FLASK_OIDC_CONFIG_URL="+up.URL+"/.well-known/openid-configuration", "OIDC_AUDIENCE=x")
	stdout, _, code = runBinary(t, bad, "check-config")
	for _, want := range []string{"ok    configuration", "FAIL  oidc          discovery URL answered status 404",
		"FAIL  directory     okta refused usersvc's credentials", "FAIL  store         neo4j bolt://" + closedPort} {
		if !strings.Contains(stdout, want) {
			t.Errorf("failing dependencies: no line %q in\n%s", want, stdout)
		}
	}
	if code != exitFailure {
		t.Fatalf("failing dependencies: exit %d, want 1\n%s", code, stdout)
	}
	if _, stderr, code := runBinary(t, []string{"LOG_LEVEL=chatty", "AUTH_DISABLED=true"}, "check-config"); code != exitConfig || !strings.Contains(stderr, "LOG_LEVEL") {
		t.Fatalf("invalid configuration: exit %d, %s", code, stderr)
	}
}
