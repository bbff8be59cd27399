package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestBinarySIGTERMAnswersEveryAcceptedConnection drives the two kinds of
// connection a server holds when SIGTERM arrives, over raw TCP so that the
// timing is ours, not a client library's:
//   - accepted, request not yet read: net/http's Shutdown closes such a
//     connection unanswered once it reads the request (conn.serve returns
//     when shuttingDown); the client sees EOF for a request it sent in good
//     faith. It must get its answer, with "Connection: close".
//   - idle keep-alive: closed at once, so that the process does not wait
//     out IdleTimeout (120s).
func TestBinarySIGTERMAnswersEveryAcceptedConnection(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	cmd, addr := startBinary(t, "AUTH_DISABLED=true", "SHUTDOWN_TIMEOUT=10s",
		"EMBEDDED_DB_PATH="+filepath.Join(t.TempDir(), "usersvc.db"))
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(15 * time.Second))
		return c, bufio.NewReader(c)
	}
	const request = "GET /livez HTTP/1.1\r\nHost: usersvc\r\n\r\n"

	idle, idleReader := dial()
	if _, err := io.WriteString(idle, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(idleReader, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	quiet, quietReader := dial()
	time.Sleep(100 * time.Millisecond) // the server accepts it
	sigterm := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Past the accept grace: the listener is closed and shutdown is under
	// way when the request arrives.
	time.Sleep(3 * acceptGrace)
	if _, err := io.WriteString(quiet, request); err != nil {
		t.Fatal(err)
	}
	resp, err = http.ReadResponse(quietReader, nil)
	if err != nil {
		t.Fatalf("request on a connection accepted before SIGTERM: %v (want its answer)", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !resp.Close {
		t.Fatalf("answer = %d close=%v %q; want 200 with Connection: close", resp.StatusCode, resp.Close, body)
	}

	if n, err := idleReader.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("idle keep-alive connection: read %d, %v; want EOF (closed at shutdown)", n, err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if took := time.Since(sigterm); took > 5*time.Second {
		t.Fatalf("took %s to exit", took)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("still accepting after exit")
	}
}

// TestBinarySIGTERMBoundedByWhatHoldsIt: what keeps a connection open
// cannot keep the process alive past its bounds. A request still waiting
// on its upstream when SHUTDOWN_TIMEOUT ends is cut, and the process exits
// non-zero (it could not drain); a connection that never sends a request is
// closed after 5s, as net/http's Shutdown does (it counts such a
// connection idle after 5s), and the process exits 0.
func TestBinarySIGTERMBoundedByWhatHoldsIt(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	up := newSlowUpstream(t, 30*time.Second)
	for _, tc := range []struct {
		name       string
		timeout    string
		hold       func(t *testing.T, addr string)
		wantExit   int
		tookAtMost time.Duration
	}{
		{"request outlasting SHUTDOWN_TIMEOUT", "1s", func(t *testing.T, addr string) {
			go func() { // its answer is an error once the connection is cut
				resp, err := http.Get("http://" + addr + "/table/slow/description")
				if err == nil {
					resp.Body.Close()
				}
			}()
			for up.arrived.Load() == 0 {
				time.Sleep(5 * time.Millisecond)
			}
		}, exitFailure, 4 * time.Second},
		{"connection that never sends", "20s", func(t *testing.T, addr string) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			time.Sleep(100 * time.Millisecond) // the server accepts it
		}, exitOK, 9 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up.arrived.Store(0)
			cmd, addr := startBinary(t, "AUTH_DISABLED=true", "SHUTDOWN_TIMEOUT="+tc.timeout, "METADATA_UPSTREAM_URL="+up.srv.URL,
				"EMBEDDED_DB_PATH="+filepath.Join(t.TempDir(), "usersvc.db"))
			tc.hold(t, addr)
			sigterm := time.Now()
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
			took := time.Since(sigterm)
			if code := cmd.ProcessState.ExitCode(); code != tc.wantExit || took > tc.tookAtMost {
				t.Fatalf("exit %d after %s; want %d within %s", code, took.Round(time.Millisecond), tc.wantExit, tc.tookAtMost)
			}
		})
	}
}
