package amundsen_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/goleak"

	"github.com/usersvc/usersvc/handlers"
	"github.com/usersvc/usersvc/handlers/auth"
	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/oidcuser/file"
	"github.com/usersvc/usersvc/proxy/embedded"
	"github.com/usersvc/usersvc/testsupport/issuer"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	goleak.VerifyTestMain(m)
}

// python finds an interpreter that can import requests: python3 on PATH
// (possibly a pyenv shim) or Debian's /usr/bin/python3 with
// python3-requests. It returns "" and any python3 at all when none can.
func python(t *testing.T) (withRequests, any string) {
	t.Helper()
	var candidates []string
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	candidates = append(candidates, "/usr/bin/python3")
	for _, p := range candidates {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if any == "" {
			any = p
		}
		if exec.Command(p, "-c", "import requests").Run() == nil {
			return p, any
		}
	}
	return "", any
}

// usersvc serves the real handlers on loopback: embedded store, people
// from examples/directory.json, bearer tokens verified against an issuer.
func usersvc(t *testing.T) (base string, iss *issuer.Issuer) {
	t.Helper()
	iss = issuer.Start(t)
	a, err := auth.New(auth.Config{DiscoveryURL: iss.DiscoveryURL(), Audience: issuer.Audience})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Discover(context.Background()); err != nil {
		t.Fatal(err)
	}
	store, err := embedded.Open(filepath.Join(t.TempDir(), "usersvc.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	log := slog.New(slog.DiscardHandler)
	dir, err := file.Open("../directory.json", log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handlers.New(handlers.Deps{
		Logger: log,
		Users:  oidcuser.NewResolver(store, oidcuser.ResolverConfig{Directory: dir, Source: "file"}),
		Store:  store,
		Auth:   handlers.AuthConfig{Authenticator: a},
	}))
	t.Cleanup(srv.Close)
	return srv.URL, iss
}

type hookResult struct {
	Name    string         `json:"name"`
	Result  map[string]any `json:"result"`
	Error   string         `json:"error"`
	Message string         `json:"message"`
	Elapsed float64        `json:"elapsed"`
}

// TestUserDetailHook runs examples/amundsen/usersvc_user_detail.py against
// a running usersvc: found, not found (Amundsen's NotFoundException, here
// LookupError outside the metadata service), no token (raised, not hidden),
// and usersvc answering 5xx, down, or slower than the 3 s timeout (the
// metadata service's own lookup). Without Python's requests module it only
// byte-compiles the example.
func TestUserDetailHook(t *testing.T) {
	py, anyPython := python(t)
	if py == "" {
		if anyPython == "" {
			t.Skip("no python3: the hook example is not checked")
		}
		compile := exec.Command(anyPython, "-m", "py_compile", "usersvc_user_detail.py", "testdata/drive_hook.py")
		compile.Env = append(os.Environ(), "PYTHONPYCACHEPREFIX="+t.TempDir()) // keep the tree clean
		out, err := compile.CombinedOutput()
		if err != nil {
			t.Fatalf("py_compile: %v\n%s", err, out)
		}
		t.Log("requests is not importable: the hook was only byte-compiled (install python3-requests to run it)")
		return
	}
	t.Logf("running the hook with %s", py)
	base, iss := usersvc(t)
	token := "Bearer " + iss.Token(t, iss.Claims(time.Now(), "ada@example.com"))

	var mu sync.Mutex
	var sawAuth []string
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sawAuth = append(sawAuth, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"message":"the directory is unavailable"}`))
	}))
	t.Cleanup(failing.Close)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(6 * time.Second):
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	_ = ln.Close()

	cases := []map[string]string{
		{"name": "found", "base_url": base, "authorization": token, "user_id": "katherine.johnson@example.com"},
		{"name": "not found", "base_url": base, "authorization": token, "user_id": "nobody/../x?@example.com"},
		{"name": "no token", "base_url": base, "authorization": "", "user_id": "katherine.johnson@example.com"},
		{"name": "5xx", "base_url": failing.URL, "authorization": token, "user_id": "ada@example.com"},
		{"name": "down", "base_url": down, "authorization": token, "user_id": "ada@example.com"},
		{"name": "slow", "base_url": slow.URL, "authorization": token, "user_id": "ada@example.com"},
	}
	input, _ := json.Marshal(cases)
	cmd := exec.Command(py, "testdata/drive_hook.py", ".")
	cmd.Stdin = bytes.NewReader(input)
	// Loopback only, never through a proxy; no bytecode left in the tree.
	cmd.Env = append(os.Environ(), "NO_PROXY=*", "no_proxy=*", "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("%s drive_hook.py: %v\n%s", py, err, stderr)
	}
	got := map[string]hookResult{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var r hookResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("driver output %q: %v", sc.Text(), err)
		}
		got[r.Name] = r
	}
	if len(got) != len(cases) {
		t.Fatalf("driver answered %d of %d cases:\n%s", len(got), len(cases), out)
	}

	// Found: the user as usersvc serves it, UserSchema keys included.
	if r := got["found"]; r.Error != "" || r.Result["email"] != "katherine.johnson@example.com" || r.Result["full_name"] != "Katherine Johnson" {
		t.Errorf("found: %+v", r)
	} else if _, ok := r.Result["manager_fullname"]; !ok {
		t.Errorf("found: UserSchema keys missing: %v", r.Result)
	}
	if r := got["not found"]; r.Error != "LookupError" {
		t.Errorf("not found: %+v, want Amundsen's NotFoundException (LookupError outside the service)", r)
	}
	if r := got["no token"]; r.Error != "UsersvcError" || !strings.Contains(r.Message, "401") {
		t.Errorf("no token: %+v, want a raised 401, not a silent fallback", r)
	}
	for _, name := range []string{"5xx", "down", "slow"} {
		if r := got[name]; r.Error != "" || r.Result["fallback_for"] != "ada@example.com" {
			t.Errorf("%s: %+v, want the metadata service's own lookup", name, r)
		}
	}
	if e := got["slow"].Elapsed; e < 2.5 || e > 4.5 {
		t.Errorf("slow: gave up after %.1fs, want the 3s timeout", e)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sawAuth) != 1 || sawAuth[0] != token {
		t.Errorf("the caller's bearer token was not passed on: %q", sawAuth)
	}
}
