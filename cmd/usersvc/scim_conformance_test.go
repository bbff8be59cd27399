package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/usersvc/usersvc/testsupport/amundsen"
	"github.com/usersvc/usersvc/testsupport/scimtester"
	"github.com/usersvc/usersvc/testsupport/syncbuffer"
)

// scimException is one row of the README's table of scim2-tester checks
// that do not pass: the check's key and, when the row names one, the
// attribute it is excused on.
type scimException struct{ key, attribute string }

var exceptionRow = regexp.MustCompile("^\\| `([A-Za-z]+/[a-z_]+|[a-z_]+)`(?: on `([^`]+)`)? \\|")

// readmeSCIMExceptions reads the table under the README's scim2-tester
// paragraph: the documentation is the one list of exceptions.
func readmeSCIMExceptions(t *testing.T) []scimException {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "| scim2-tester check | Why |")
	if !ok {
		t.Fatal("README.md has no scim2-tester exceptions table")
	}
	var out []scimException
	for _, line := range strings.Split(table, "\n")[2:] {
		if !strings.HasPrefix(line, "|") {
			break
		}
		m := exceptionRow.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("README exception row not understood: %s", line)
		}
		out = append(out, scimException{m[1], m[2]})
	}
	return out
}

func (e scimException) excuses(c scimtester.Check) bool {
	return (c.Key() == e.key || c.Title == e.key) && (e.attribute == "" || strings.Contains(c.Reason, "'"+e.attribute+"'"))
}

// checkSCIMConformance runs scim2-tester (python-scim's RFC 7643/7644
// compliance checker, PyPI) against base: every check must be SUCCESS or
// excused by the README, and every README exception must still be needed.
func checkSCIMConformance(t *testing.T, base, token string, logs *syncbuffer.Buffer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	python, err := amundsen.EnsureSCIMTesterVenv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checks, err := scimtester.Run(ctx, python, base+"/scim/v2", token)
	if err != nil {
		t.Fatal(err)
	}
	exceptions := readmeSCIMExceptions(t)
	used := make([]bool, len(exceptions))
	titles := map[string]bool{}
	for _, c := range checks {
		titles[c.Key()] = true
		if c.Status == scimtester.Success {
			continue
		}
		excused := false
		for i, e := range exceptions {
			if e.excuses(c) {
				excused, used[i] = true, true
			}
		}
		if !excused {
			t.Errorf("scim2-tester: %s (not listed in the README's exceptions)", c)
		}
	}
	t.Logf("scim2-tester: %d results", len(checks))
	for i, e := range exceptions {
		if !used[i] {
			t.Errorf("the README excuses %s (on %q), which passes now: remove the row", e.key, e.attribute)
		}
	}
	// The whole run happened: discovery, CRUD, PATCH of each attribute.
	for _, want := range []string{"service_provider_config_endpoint", "query_all_schemas", "User/object_creation",
		"User/object_query_without_id", "User/object_replacement", "User/object_deletion", "User/check_replace_attribute",
		"User/search_with_attributes"} {
		if !titles[want] {
			t.Errorf("scim2-tester reported no %s", want)
		}
	}
	if strings.Contains(logs.String(), token) {
		t.Fatal("the SCIM token reached the log")
	}
	if !strings.Contains(logs.String(), `"source":"scim"`) {
		t.Fatal("no audit record with source scim")
	}
}

// TestBinarySCIMConformance: scim2-tester against the binary, on the
// embedded store and on the real Neo4j.
func TestBinarySCIMConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary and scim2-tester")
	}
	const token = "scim-conformance-token-0123456789"
	t.Run("embedded", func(t *testing.T) {
		logs := &syncbuffer.Buffer{}
		addr := startLoggedBinary(t, logs, "AUTH_DISABLED=true", "EMBEDDED_DB_PATH="+filepath.Join(t.TempDir(), "usersvc.db"),
			"SCIM_TOKEN="+token)
		checkSCIMConformance(t, "http://"+addr, token, logs)
	})
	t.Run("neo4j", func(t *testing.T) {
		srv := cleanNeo4j(t)
		p := startOnNeo4j(t, srv, "SCIM_TOKEN="+token)
		checkSCIMConformance(t, p.base, token, p.logs)
		// What the run deleted is still in the graph, inactive, and no SCIM
		// id is held twice.
		recs := cypher(t, srv, `MATCH (u:User) WHERE u.scim_deleted_id IS NOT NULL RETURN count(u) AS n, sum(CASE WHEN u.is_active THEN 1 ELSE 0 END) AS active`, nil)
		if n, _ := recs[0].Get("n"); n.(int64) == 0 {
			t.Fatal("no soft-deleted node in the graph after scim2-tester's deletions")
		}
		if a, _ := recs[0].Get("active"); a.(int64) != 0 {
			t.Fatalf("%v soft-deleted nodes are active", a)
		}
		dup := cypher(t, srv, `MATCH (u:User) WHERE u.scim_id IS NOT NULL WITH u.scim_id AS id, count(*) AS c WHERE c > 1 RETURN id`, nil)
		if len(dup) != 0 {
			t.Fatalf("%d SCIM ids are held by several nodes", len(dup))
		}
	})
}
