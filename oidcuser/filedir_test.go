package oidcuser_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/usersvc/usersvc/oidcuser/file"
	"github.com/usersvc/usersvc/schema"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

const personA = `{"id": "00ua", "status": "ACTIVE", "profile": {"login": "a@example.com", "email": "a@example.com"}}`

func TestFileDirectoryRejectsBadFiles(t *testing.T) {
	tests := []struct {
		name      string
		content   string
		wantLine  int
		wantField string
		wantMsg   string
	}{
		{"not JSON", "[\n" + personA + ",\n  {oops}\n]", 3, "", "not valid JSON"},
		{"not an array", `{"users": []}`, 1, "", "must be a JSON array"},
		{"truncated", "[\n" + personA + ",\n", 3, "", "unexpected end of file"},
		{"trailing content", "[]\n[]", 2, "", "unexpected content after the array"},
		{"element not an object", "[\n  42\n]", 2, "[0]", "must be a JSON object"},
		{"id missing", "[\n" + personA + ",\n" + `  {"status": "ACTIVE", "profile": {"login": "b", "email": "b@example.com"}}` + "\n]", 3, "[1].id", "is missing"},
		{"id not a string", `[{"id": 7, "status": "ACTIVE", "profile": {"login": "b", "email": "b@x"}}]`, 1, "[0].id", "must be a string"},
		{"status unknown", `[{"id": "1", "status": "GONE", "profile": {"login": "b", "email": "b@x"}}]`, 1, "[0].status", "is not an Okta status"},
		{"status lower case", `[{"id": "1", "status": "active", "profile": {"login": "b", "email": "b@x"}}]`, 1, "[0].status", "is not an Okta status"},
		{"profile missing", `[{"id": "1", "status": "ACTIVE"}]`, 1, "[0].profile", "is missing"},
		{"login missing", "[\n\n" + `{"id": "1", "status": "ACTIVE", "profile": {"email": "b@x"}}]`, 3, "[0].profile.login", "is missing"},
		{"login blank", `[{"id": "1", "status": "ACTIVE", "profile": {"login": " ", "email": "b@x"}}]`, 1, "[0].profile.login", "must not be empty"},
		{"email not a string", `[{"id": "1", "status": "ACTIVE", "profile": {"login": "b", "email": ["b@x"]}}]`, 1, "[0].profile.email", "must be a string"},
		{"title not a string", `[{"id": "1", "status": "ACTIVE", "profile": {"login": "b", "email": "b@x", "title": 3}}]`, 1, "[0].profile.title", "must be a string"},
		{"bad lastUpdated", `[{"id": "1", "status": "ACTIVE", "lastUpdated": "yesterday", "profile": {"login": "b", "email": "b@x"}}]`, 1, "[0].lastUpdated", "must be a timestamp"},
		{"duplicate id", "[\n" + personA + ",\n" + strings.Replace(personA, "a@example.com", "b@example.com", 2) + "\n]", 3, "[1].id", "also the id of person [0]"},
		{"duplicate login in other case", "[\n" + personA + ",\n" + strings.Replace(strings.Replace(personA, `"00ua"`, `"00ub"`, 1), `"login": "a@`, `"login": "A@`, 1) + "\n]", 3, "[1].profile.login", "also the login of person [0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "people.json")
			writeFile(t, path, tt.content)
			_, err := file.Open(path, nil)
			var fe *file.FileError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a FileError", err)
			}
			if fe.Line != tt.wantLine || fe.Field != tt.wantField || !strings.Contains(fe.Msg, tt.wantMsg) || fe.Path != path {
				t.Fatalf("err = %q (line %d, field %q), want line %d, field %q, %q", err, fe.Line, fe.Field, tt.wantLine, tt.wantField, tt.wantMsg)
			}
		})
	}
	if _, err := file.Open(filepath.Join(t.TempDir(), "absent.json"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: err = %v", err)
	}
}

// TestFileDirectoryFollowsChanges rewrites the file under a running
// directory: valid changes are picked up, a broken one keeps the last good
// people.
func TestFileDirectoryFollowsChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "people.json")
	writeFile(t, path, "["+personA+"]")
	d, err := file.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	personB := strings.ReplaceAll(strings.Replace(personA, `"00ua"`, `"00ub"`, 1), "a@example.com", "b@example.com")
	mtime := time.Now()
	rewrite := func(content string) {
		t.Helper()
		if content == "<removed>" {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			time.Sleep(600 * time.Millisecond)
			return
		}
		writeFile(t, path, content)
		mtime = mtime.Add(2 * time.Second) // distinct even on coarse file systems
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		time.Sleep(600 * time.Millisecond) // the file is checked at most twice a second
	}
	steps := []struct {
		name    string
		content string
		id      string
		found   bool
	}{
		{"as opened", "", "b@example.com", false},
		{"person added", "[" + personA + "," + personB + "]", "b@example.com", true},
		{"broken write keeps the last good people", "[" + personA + ",", "b@example.com", true},
		{"fixed file with a person removed", "[" + personB + "]", "a@example.com", false},
		{"file deleted keeps the last good people", "<removed>", "b@example.com", true},
		{"file back with both", "[" + personA + "," + personB + "]", "a@example.com", true},
	}
	for _, st := range steps {
		if st.content != "" {
			rewrite(st.content)
		}
		_, err := lookup(t, d, st.id)
		if st.found && err != nil || !st.found && !schema.IsNotFound(err) {
			t.Fatalf("%s: lookup %s: err = %v, want found=%v", st.name, st.id, err, st.found)
		}
	}
}

// TestExampleDirectory keeps examples/directory.json (what make run uses)
// showing what it promises.
func TestExampleDirectory(t *testing.T) {
	d, err := file.Open("../examples/directory.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := d.Len(); n < 18 || n > 25 {
		t.Fatalf("%d people, want about 20", n)
	}
	tests := []struct {
		id      string
		kind    schema.ErrorKind
		check   func(schema.User) bool
		promise string
	}{
		{"katherine.johnson@example.com", 0, func(u schema.User) bool {
			return u.ManagerFullname == "Grace Hopper" && u.TeamName != "" && u.RoleName != ""
		}, "a person with a manager"},
		{"grace.hopper@example.com", 0, func(u schema.User) bool { return u.UserID == "ghopper" && u.ManagerFullname == "Alan Turing" }, "a login that differs from the email"},
		{"alan.turing@example.com", 0, func(u schema.User) bool { return u.ManagerFullname == "Marie Curie" }, "a manager chain up to the top"},
		{"john.vonneumann@example.com", 0, func(u schema.User) bool { return !u.IsActive }, "a deprovisioned person"},
		{"hedy.lamarr@example.com", 0, func(u schema.User) bool { return !u.IsActive }, "a suspended person"},
		{"rosalind@example.com", schema.KindConflict, nil, "two people sharing one email"},
		{"emilie.duchatelet@example.com", 0, func(u schema.User) bool { return u.FullName == "Émilie du Châtelet" }, "a non-ASCII name"},
		{"na.li@example.com", 0, func(u schema.User) bool { return u.DisplayName == "李娜" }, "a non-Latin display name"},
	}
	for _, tt := range tests {
		u, err := lookup(t, d, tt.id)
		if schema.KindOf(err) != tt.kind && !(tt.kind == 0 && err == nil) {
			t.Fatalf("%s (%s): err = %v", tt.id, tt.promise, err)
		}
		if tt.check != nil && !tt.check(u) {
			t.Fatalf("%s does not show %s: %+v", tt.id, tt.promise, u)
		}
	}
}
