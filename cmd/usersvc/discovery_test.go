package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/usersvc/usersvc/testsupport/syncbuffer"
)

// TestBinaryDiagnosesABadDiscoveryURL: a FLASK_OIDC_CONFIG_URL that answers,
// but not with a usable discovery document (OpenID Connect Discovery 1.0
// §4: a JSON object with issuer and jwks_uri, the issuer exactly the one
// the URL names), is logged as exactly that with a hint, never as "not
// reachable"; /readyz gives the reason.
func TestBinaryDiagnosesABadDiscoveryURL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	for _, tc := range []struct {
		name    string
		serve   func(base string) http.HandlerFunc
		problem string
	}{
		{"an HTML page", func(string) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				_, _ = w.Write([]byte("<html><body>Sign in</body></html>"))
			}
		}, "discovery URL answered text/html; charset=utf-8 that is not a JSON discovery document"},
		{"a 404", func(string) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) { http.NotFound(w, nil) }
		}, "discovery URL answered status 404, not a discovery document"},
		{"no jwks_uri", func(base string) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write([]byte(`{"issuer":"` + base + `"}`))
			}
		}, "discovery document has no valid jwks_uri"},
		{"another issuer", func(base string) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				other := strings.Replace(base, "127.0.0.1", "localhost", 1)
				_, _ = w.Write([]byte(`{"issuer":"` + other + `","jwks_uri":"` + base + `/keys"}`))
			}
		}, "discovery document names issuer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(nil)
			base := "http://" + srv.Listener.Addr().String()
			srv.Config.Handler = tc.serve(base)
			srv.Start()
			defer srv.Close()
			logs := &syncbuffer.Buffer{}
			addr := freePort(t)
			cmd := exec.Command(buildBinary(t))
			cmd.Env = []string{"LISTEN_ADDR=" + addr, "METRICS_ADDR=off", "FLASK_OIDC_CLIENT_ID=usersvc",
				"FLASK_OIDC_CONFIG_URL=" + base + "/.well-known/openid-configuration", "EMBEDDED_DB_PATH=" + filepath.Join(t.TempDir(), "u.db")}
			cmd.Stdout, cmd.Stderr = logs, logs
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			deadline := time.Now().Add(30 * time.Second)
			var body string
			for {
				status := 0
				if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					status, body = resp.StatusCode, string(b)
				}
				if status == http.StatusServiceUnavailable && strings.Contains(body, tc.problem) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("/readyz = %d %s, want 503 naming %q\n%s", status, body, tc.problem, logs)
				}
				time.Sleep(100 * time.Millisecond)
			}
			if !strings.Contains(body, "FLASK_OIDC_CONFIG_URL") {
				t.Errorf("/readyz gives no hint: %s", body)
			}
			out := logs.String()
			if !strings.Contains(out, "does not serve a usable OIDC discovery document") || !strings.Contains(out, tc.problem) || strings.Contains(out, "not reachable yet") {
				t.Errorf("logs do not say what is wrong with the document:\n%s", out)
			}
		})
	}
}
