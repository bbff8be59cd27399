package main

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/usersvc/usersvc/testsupport/syncbuffer"
)

// TestBinaryAuditSurvivesKillAfterResponse: the process is killed (SIGKILL,
// no shutdown) the moment it has answered a write; the audit record of that
// write is already on its output.
func TestBinaryAuditSurvivesKillAfterResponse(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	for i := range 3 {
		addr := freePort(t)
		cmd := exec.Command(buildBinary(t))
		cmd.Env = []string{"LISTEN_ADDR=" + addr, "METRICS_ADDR=127.0.0.1:0", "AUTH_DISABLED=true",
			"EMBEDDED_DB_PATH=" + filepath.Join(t.TempDir(), "usersvc.db")}
		out := &syncbuffer.Buffer{}
		cmd.Stdout, cmd.Stderr = out, io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		waitFor := time.Now().Add(10 * time.Second)
		for {
			if resp, err := http.Get("http://" + addr + "/livez"); err == nil {
				resp.Body.Close()
				break
			}
			if time.Now().After(waitFor) {
				t.Fatal("binary did not start")
			}
			time.Sleep(20 * time.Millisecond)
		}
		email := fmt.Sprintf("killed%d@example.com", i)
		resp, _ := call(t, http.MethodPut, "http://"+addr+"/user", "", `{"email":"`+email+`","display_name":"K"}`)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("PUT = %d", resp.StatusCode)
		}
		if got := out.String(); !strings.Contains(got, `"event":"user_created"`) || !strings.Contains(got, email) {
			t.Fatalf("attempt %d: the audit record of an acknowledged write was lost: %q", i, got)
		}
	}
}
