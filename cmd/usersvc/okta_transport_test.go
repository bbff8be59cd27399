package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"testing"

	"github.com/usersvc/usersvc/testsupport/oktaapi"
)

// TestOktaDirectoryCloseKeepsTheSharedPool: closing the Okta directory
// closes its own idle connections and no one else's. http.DefaultTransport
// is the process-wide pool (every http.Client without a transport uses it);
// when the budget transport wrapped it, the directory's Close ran
// DefaultTransport.CloseIdleConnections and dropped every keep-alive of the
// process.
func TestOktaDirectoryCloseKeepsTheSharedPool(t *testing.T) {
	org := oktaapi.New(t, oktaapi.WithSSWSToken("00ssws"))
	org.AddUsers(oktaapi.NewUser("00u1", "ada@example.com", "ada@example.com", "Ada", "Lovelace", "ACTIVE"))
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	t.Cleanup(other.Close)
	t.Cleanup(http.DefaultTransport.(*http.Transport).CloseIdleConnections)

	env := map[string]string{"AUTH_DISABLED": "true", "OKTA_CLIENT_ORGURL": org.URL(), "OKTA_CLIENT_TOKEN": "00ssws",
		"OKTA_TESTING_DISABLE_HTTPS_CHECK": "true"}
	cfg, err := loadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dir, err := newDirectory(ctx, cfg, slog.New(slog.DiscardHandler), func(string, int) {})
	if err != nil {
		t.Fatal(err)
	}
	closer, ok := dir.(io.Closer)
	if !ok {
		t.Fatalf("the Okta directory (%T) has no Close", dir)
	}
	lookup := func() {
		t.Helper()
		if _, err := dir.LookupUser(ctx, "ada@example.com"); err != nil {
			t.Fatal(err)
		}
	}
	// viaDefault makes a request on http.DefaultTransport and reports
	// whether it reused an idle connection. Reading the body to EOF returns
	// the connection to the pool before Read returns (net/http transport.go,
	// bodyEOFSignal waits for readLoop's tryPutIdleConn).
	viaDefault := func() (reused bool) {
		t.Helper()
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
			GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused },
		}), http.MethodGet, other.URL, nil)
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		return reused
	}

	lookup()
	viaDefault()
	if !viaDefault() {
		t.Fatal("the shared pool does not keep connections even without Close: the test proves nothing")
	}
	conns := org.Connections()
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	if !viaDefault() {
		t.Error("closing the Okta directory closed http.DefaultTransport's idle connections")
	}
	lookup()
	if org.Connections() == conns {
		t.Error("the lookup after Close reused a connection: Close did not close the directory's own pool")
	}
}
