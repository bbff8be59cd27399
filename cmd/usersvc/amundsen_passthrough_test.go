package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/usersvc/usersvc/testsupport/amundsen"
	"github.com/usersvc/usersvc/testsupport/syncbuffer"
)

// rawRequest sends request text byte for byte (net/http's client would
// clean the target) and returns the status.
func rawRequest(t *testing.T, addr, method, target, probe string) int {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(40 * time.Second))
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: usersvc.example\r\n%s: %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", method, target, amundsen.ProbeHeader, probe)
	res, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// TestBinaryPassThroughNeverReachesAmundsensUserRoutes: in front of
// Amundsen's real metadata service (amundsen-metadata 3.13.0 under
// gunicorn, Werkzeug routing), no request target reaches one of Amundsen's
// own user routes through usersvc, where no write policy, one-node rule or
// audit applies. Each target is first sent to Amundsen directly, to show it
// is a real way in there (gunicorn decodes %2F into PATH_INFO and Werkzeug
// strips leading slashes before matching).
func TestBinaryPassThroughNeverReachesAmundsensUserRoutes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Amundsen's metadata service and the binary")
	}
	if _, err := amundsen.Python(); errors.Is(err, amundsen.ErrNoPython) {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nowhere := "bolt://" + ln.Addr().String()
	_ = ln.Close()
	m, err := amundsen.StartMetadata(ctx, amundsen.Options{Neo4jURI: nowhere, User: "neo4j", Password: "x", Workers: 1, NoTransactionRetry: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	addr := startLoggedBinary(t, &syncbuffer.Buffer{},
		"AUTH_DISABLED=true",
		"METADATA_UPSTREAM_URL="+m.URL,
		"EMBEDDED_DB_PATH="+filepath.Join(t.TempDir(), "usersvc.db"),
	)
	metadataAddr := m.URL[len("http://"):]
	const follow = "/bob@example.com/follow/table/hive://gold.s/t"
	for i, tc := range []struct{ method, target, amundsenRoute string }{
		{"PUT", "/%2Fuser" + follow, "api.userfollowapi"},
		{"PUT", "/%2fuser" + follow, "api.userfollowapi"},
		{"PUT", "//user" + follow, "api.userfollowapi"},
		{"DELETE", "///user" + follow, "api.userfollowapi"},
		{"GET", "//user/bob@example.com", "api.userdetailapi"},
		{"GET", "/%2Fuser/bob@example.com/own/", "api.userownsapi"},
		// Not routed to a user API by this Werkzeug, but by a proxy that
		// resolves dot segments or reads backslashes and case loosely.
		{"PUT", "/./user" + follow, ""},
		{"PUT", "/table/../user" + follow, ""},
		{"PUT", "/%2e%2e/user" + follow, ""},
		{"PUT", "/%5Cuser" + follow, ""},
		{"PUT", "/USER" + follow, ""},
	} {
		direct := fmt.Sprintf("direct-%d", i)
		rawRequest(t, metadataAddr, tc.method, tc.target, direct)
		got, err := m.Route(direct)
		if err != nil || got.Endpoint != tc.amundsenRoute {
			t.Errorf("sent straight to Amundsen, %s %s routes to %q (%v), want %q", tc.method, tc.target, got.Endpoint, err, tc.amundsenRoute)
		}
		via := fmt.Sprintf("via-%d", i)
		status := rawRequest(t, addr, tc.method, tc.target, via)
		if r, err := m.Route(via); err == nil {
			t.Errorf("%s %s through usersvc reached Amundsen (status %d, endpoint %q)", tc.method, tc.target, status, r.Endpoint)
		} else if status != http.StatusBadRequest {
			t.Errorf("%s %s through usersvc = %d, want 400", tc.method, tc.target, status)
		}
	}
	// The pass-through still works for Amundsen's other routes.
	status := rawRequest(t, addr, "GET", "/popular_tables/", "control")
	if r, err := m.Route("control"); err != nil || r.Endpoint == "" {
		t.Errorf("GET /popular_tables/ through usersvc = %d, route %+v, %v: want it to reach Amundsen", status, r, err)
	}
}
