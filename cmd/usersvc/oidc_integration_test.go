package main

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/usersvc/usersvc/testsupport/oidcprovider"
)

func call(t *testing.T, method, url, token, body string) (*http.Response, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, url, r)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(data)
}

// userAs decodes GET <base>/user/<id> (no token) into T, failing the test
// on anything but a 200 with JSON.
func userAs[T any](t *testing.T, base, id string) T {
	t.Helper()
	resp, body := call(t, http.MethodGet, base+"/user/"+id, "", "")
	var u T
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &u) != nil {
		t.Fatalf("GET /user/%s = %d %s", id, resp.StatusCode, body)
	}
	return u
}

// TestBinaryWithRealOIDCProvider starts the built service against a real
// OpenID provider process and drives it the way the Amundsen frontend does.
func TestBinaryWithRealOIDCProvider(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary and a node process")
	}
	provider := oidcprovider.Start(t)
	_, addr := startBinary(t,
		"FLASK_OIDC_CONFIG_URL="+provider.DiscoveryURL(),
		"FLASK_OIDC_CLIENT_ID=amundsen-frontend",
		"OIDC_AUDIENCE=api://default",
		"OIDC_CLOCK_SKEW=1s",
		"OIDC_WRITE_GROUPS=data-stewards",
		"EMBEDDED_DB_PATH="+filepath.Join(t.TempDir(), "usersvc.db"),
	)
	base := "http://" + addr

	// Discovery runs in the background; readiness follows it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, _ := call(t, http.MethodGet, base+"/readyz", "", "")
		if resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz = %d 10s after start", resp.StatusCode)
		}
		time.Sleep(100 * time.Millisecond)
	}

	steward := provider.Token(t, oidcprovider.TokenOptions{Email: "steward@example.com", Groups: []string{"data-stewards"}})
	resp, body := call(t, http.MethodPut, base+"/user", steward, `{"email":"ada@example.com","first_name":"Ada","last_name":"Lovelace"}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT /user with a steward token = %d %s", resp.StatusCode, body)
	}
	resp, body = call(t, http.MethodGet, base+"/user/ada@example.com", steward, "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"full_name":"Ada Lovelace"`) {
		t.Fatalf("GET /user = %d %s", resp.StatusCode, body)
	}

	// The Amundsen frontend's JSON form.
	envelope, _ := json.Marshal(map[string]any{"access_token": steward, "expires_at": time.Now().Add(time.Hour).Unix(), "refresh_token": "r"})
	resp, body = call(t, http.MethodGet, base+"/user/ada@example.com", string(envelope), "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("JSON-form token = %d %s", resp.StatusCode, body)
	}

	// Without a token, or with the wrong audience: 401 JSON, never a redirect.
	resp, body = call(t, http.MethodGet, base+"/user/ada@example.com", "", "")
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Bearer realm="usersvc"` || body != `{"message":"missing bearer token"}` {
		t.Fatalf("no token = %d %q %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
	}
	other := provider.Token(t, oidcprovider.TokenOptions{Audience: "api://other", Email: "steward@example.com"})
	resp, body = call(t, http.MethodGet, base+"/user/ada@example.com", other, "")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "audience") {
		t.Fatalf("wrong audience = %d %s", resp.StatusCode, body)
	}

	// Write policy: a non-steward may not write another user.
	plain := provider.Token(t, oidcprovider.TokenOptions{Email: "bob@example.com"})
	resp, body = call(t, http.MethodPut, base+"/user", plain, `{"email":"ada@example.com","team_name":"Data"}`)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("non-steward PUT of another user = %d %s", resp.StatusCode, body)
	}

	// Health stays open; expiry is enforced on a short-lived token.
	if resp, _ := call(t, http.MethodGet, base+"/healthcheck", "", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthcheck without token = %d", resp.StatusCode)
	}
	life := time.Second
	short := provider.Token(t, oidcprovider.TokenOptions{Email: "ada@example.com", ExpiresIn: &life})
	if resp, body := call(t, http.MethodGet, base+"/user/ada@example.com", short, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("fresh short-lived token = %d %s", resp.StatusCode, body)
	}
	time.Sleep(2500 * time.Millisecond) // past exp plus the 1s skew
	resp, body = call(t, http.MethodGet, base+"/user/ada@example.com", short, "")
	if resp.StatusCode != http.StatusUnauthorized || body != `{"message":"token is expired"}` {
		t.Fatalf("expired token (served from the cache before) = %d %s", resp.StatusCode, body)
	}
}

// TestBinaryProviderDownAtStart: the service starts, reports not ready and
// answers 503 until the provider appears.
func TestBinaryProviderDownAtStart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary and a node process")
	}
	provider := oidcprovider.Start(t)
	provider.Stop()
	_, addr := startBinary(t,
		"FLASK_OIDC_CONFIG_URL="+provider.DiscoveryURL(),
		"OIDC_AUDIENCE=api://default",
		"EMBEDDED_DB_PATH="+filepath.Join(t.TempDir(), "usersvc.db"),
	)
	base := "http://" + addr
	if resp, _ := call(t, http.MethodGet, base+"/readyz", "", ""); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with the provider down = %d", resp.StatusCode)
	}
	resp, body := call(t, http.MethodGet, base+"/user/ada@example.com", "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.e30.c2ln", "")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("protected route with the provider down = %d %s", resp.StatusCode, body)
	}
	provider = provider.Restart()
	deadline := time.Now().Add(40 * time.Second)
	for {
		resp, _ := call(t, http.MethodGet, base+"/readyz", "", "")
		if resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not ready after the provider came up")
		}
		time.Sleep(200 * time.Millisecond)
	}
	tok := provider.Token(t, oidcprovider.TokenOptions{Email: "ada@example.com"})
	if resp, body := call(t, http.MethodGet, base+"/user/ada@example.com", tok, ""); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("after recovery = %d %s, want 404 (authenticated, unknown user)", resp.StatusCode, body)
	}
}
