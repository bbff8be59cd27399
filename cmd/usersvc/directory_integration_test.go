package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runBinary runs the built binary to completion with exactly env and
// returns its output and exit code.
func runBinary(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, buildBinary(t), args...)
	cmd.Env = env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

func exampleDirectory(t *testing.T) string {
	t.Helper()
	path, err := filepath.Abs("../../examples/directory.json")
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// TestBinaryResolvesFromDirectoryFile is the README's first example: a
// person unknown to the store is resolved from examples/directory.json,
// written, listed, and served from the store the second time.
func TestBinaryResolvesFromDirectoryFile(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	dirFile := filepath.Join(t.TempDir(), "directory.json")
	example, err := os.ReadFile(exampleDirectory(t))
	if err != nil {
		t.Fatal(err)
	}
	writeDirectory := func(content []byte) {
		t.Helper()
		if err := os.WriteFile(dirFile, content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeDirectory(example)
	metricsAddr := freePort(t)
	_, addr := startBinary(t, "AUTH_DISABLED=true", "DIRECTORY_FILE="+dirFile, "METRICS_ADDR="+metricsAddr,
		"EMBEDDED_DB_PATH="+filepath.Join(t.TempDir(), "usersvc.db"))
	base := "http://" + addr

	if _, body := call(t, http.MethodGet, base+"/user", "", ""); strings.Contains(body, "katherine") {
		t.Fatalf("the store already knows the person: %s", body)
	}
	for range 2 {
		resp, body := call(t, http.MethodGet, base+"/user/katherine.johnson@example.com", "", "")
		for _, want := range []string{`"full_name":"Katherine Johnson"`, `"team_name":"Data Platform"`, `"role_name":"Senior Data Engineer"`,
			`"manager_fullname":"Grace Hopper"`, `"is_active":true`, `"okta_id":"00u1katherine000004"`} {
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, want) {
				t.Fatalf("GET /user/katherine.johnson@example.com = %d %s, want %s", resp.StatusCode, body, want)
			}
		}
	}
	if _, body := call(t, http.MethodGet, base+"/user", "", ""); !strings.Contains(body, `"katherine.johnson@example.com"`) {
		t.Fatalf("resolved person not in GET /user: %s", body)
	}
	families, _ := scrape(t, metricsAddr)
	if n := value(families, "usersvc_directory_lookups_total", map[string]string{"outcome": "found"}); n != 1 {
		t.Fatalf("%v directory lookups for two GETs, want 1 (the second is served from the store)", n)
	}

	tests := []struct {
		id     string
		status int
		want   string
	}{
		{"rosalind@example.com", http.StatusConflict, `{"message":"user_id rosalind@example.com matches 2 directory users by email and none by login; nothing was written"}`},
		{"john.vonneumann@example.com", http.StatusOK, `"is_active":false`},
		{"ghopper", http.StatusOK, `"email":"grace.hopper@example.com"`},
		{"nobody@example.com", http.StatusNotFound, `{"message":"user_id nobody@example.com not found"}`},
	}
	for _, tt := range tests {
		if resp, body := call(t, http.MethodGet, base+"/user/"+tt.id, "", ""); resp.StatusCode != tt.status || !strings.Contains(body, tt.want) {
			t.Fatalf("GET /user/%s = %d %s, want %d %s", tt.id, resp.StatusCode, body, tt.status, tt.want)
		}
	}

	// A person added to the file is found without a restart, although
	// "not found" was remembered for them a moment before.
	if resp, _ := call(t, http.MethodGet, base+"/user/new.hire@example.com", "", ""); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("new hire before the change = %d", resp.StatusCode)
	}
	added := bytes.Replace(example, []byte("[\n"), []byte(`[{"id": "00u1new", "status": "ACTIVE", "profile": {"login": "new.hire@example.com", "email": "new.hire@example.com", "firstName": "New", "lastName": "Hire"}},`+"\n"), 1)
	writeDirectory(added)
	later := time.Now().Add(5 * time.Second)
	_ = os.Chtimes(dirFile, later, later)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, body := call(t, http.MethodGet, base+"/user/new.hire@example.com", "", "")
		if resp.StatusCode == http.StatusOK && strings.Contains(body, `"full_name":"New Hire"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a person added to the file is still unknown: %d %s", resp.StatusCode, body)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func TestBinaryRejectsBadDirectoryFile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bad := filepath.Join(t.TempDir(), "people.json")
	content := "[\n" + `  {"id": "00u1", "status": "ACTIVE", "profile": {"login": "a@example.com", "email": "a@example.com"}},` + "\n" +
		`  {"id": "00u2", "status": "ACTIVE", "profile": {"email": "b@example.com"}}` + "\n]"
	if err := os.WriteFile(bad, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"field at fault", []string{"DIRECTORY_FILE=" + bad}, "usersvc: invalid configuration: DIRECTORY_FILE: " + bad + ":3: [1].profile.login: is missing\n"},
		{"missing file", []string{"DIRECTORY_FILE=" + bad + ".absent"}, "usersvc: invalid configuration: DIRECTORY_FILE: "},
		{"file directory without a file", []string{"DIRECTORY=file"}, "usersvc: invalid configuration: DIRECTORY_FILE: must name a file when DIRECTORY=file\n"},
		{"okta directory without okta", []string{"DIRECTORY=okta", "DIRECTORY_FILE=" + bad}, "usersvc: invalid configuration: OKTA_CLIENT_ORGURL: "},
		{"unknown directory", []string{"DIRECTORY=novell"}, "usersvc: invalid configuration: DIRECTORY: must be one of okta, entra, google, ldap, file, off"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := append([]string{"AUTH_DISABLED=true", "LISTEN_ADDR=127.0.0.1:0", "METRICS_ADDR=off",
				"EMBEDDED_DB_PATH=" + filepath.Join(t.TempDir(), "u.db")}, tt.env...)
			_, stderr, code := runBinary(t, env)
			if code != exitConfig || !strings.HasPrefix(stderr, tt.want) || strings.Count(stderr, "\n") != 1 {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr, tt.want)
			}
		})
	}
}
