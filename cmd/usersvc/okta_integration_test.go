package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/usersvc/usersvc/testsupport/oktaapi"
)

// TestBinaryResolvesFromOkta: the built binary, configured only through the
// SDK's own OKTA_* names, resolves an unknown user from the Okta API.
func TestBinaryResolvesFromOkta(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	org := oktaapi.New(t, oktaapi.WithSSWSToken("00ssws"))
	org.AddUsers(oktaapi.NewUser("00u1", "ada@example.com", "ada@example.com", "Ada", "Lovelace", "ACTIVE"))
	_, addr := startBinary(t, "AUTH_DISABLED=true",
		"OKTA_CLIENT_ORGURL="+org.URL(), "OKTA_CLIENT_TOKEN=00ssws", "OKTA_TESTING_DISABLE_HTTPS_CHECK=true",
		"EMBEDDED_DB_PATH="+filepath.Join(t.TempDir(), "usersvc.db"))
	base := "http://" + addr
	resp, body := call(t, http.MethodGet, base+"/user/ada@example.com", "", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"full_name":"Ada Lovelace"`) {
		t.Fatalf("GET unknown user = %d %s", resp.StatusCode, body)
	}
	if resp, body := call(t, http.MethodGet, base+"/user", "", ""); !strings.Contains(body, `"ada@example.com"`) {
		t.Fatalf("resolved user not listed: %d %s", resp.StatusCode, body)
	}
	if resp, body := call(t, http.MethodGet, base+"/user/nobody@example.com", "", ""); resp.StatusCode != http.StatusNotFound || body != `{"message":"user_id nobody@example.com not found"}` {
		t.Fatalf("unknown to Okta = %d %s", resp.StatusCode, body)
	}
	org.Close()
	if resp, _ := call(t, http.MethodGet, base+"/user/ada@example.com", "", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("known user with Okta down = %d", resp.StatusCode)
	}
	if resp, body := call(t, http.MethodGet, base+"/user/grace@example.com", "", ""); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("unknown user with Okta down = %d %s", resp.StatusCode, body)
	}
	if resp, _ := call(t, http.MethodGet, base+"/readyz", "", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("readiness must not depend on Okta: /readyz = %d", resp.StatusCode)
	}
}
