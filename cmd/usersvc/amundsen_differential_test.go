package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	usersvcneo4j "github.com/usersvc/usersvc/proxy/neo4j"
	"github.com/usersvc/usersvc/proxy/proxytest"
	"github.com/usersvc/usersvc/testsupport/amundsen"
	"github.com/usersvc/usersvc/testsupport/neo4jserver"
)

// The metadata API differential: every user route, reads and writes, sent
// once to Amundsen's real metadata service (amundsen-metadata 3.13.0,
// Neo4jProxy) and once to usersvc, each time on the same Neo4j reset to
// the same graph. What differs, in the answer or in the graph the request
// leaves, must be a row of the table in docs/amundsen-differences.md
// ("The metadata API, request by request"), and every row there must
// still happen.

// differentialCase is one request.
type differentialCase struct {
	name, method, path, body string
}

const (
	diffUser    = "roald@example.org"
	diffBoss    = "phboss@example.org"
	diffNewUser = "nansen@example.org"
)

func differentialCases() []differentialCase {
	u := "/user/" + diffUser
	return []differentialCase{
		{"user", "GET", u, ""},
		{"user by another case", "GET", "/user/Roald@Example.org", ""},
		{"user unknown to both", "GET", "/user/nobody@example.org", ""},
		{"directory person not in the graph", "GET", "/user/katherine.johnson@example.com", ""},
		{"create a user", "PUT", "/user", `{"email": "` + diffNewUser + `", "first_name": "Fridtjof", "last_name": "Nansen", "user_id": "nansen", "team_name": "Fram"}`},
		{"update a user", "PUT", "/user", `{"email": "` + diffUser + `", "role_name": "Captain"}`},
		{"create a user without email", "PUT", "/user", `{"first_name": "Nobody"}`},
		{"create a user, body not JSON", "PUT", "/user", `{"email": `},
		{"create a user, empty body", "PUT", "/user", ""},
		{"followed resources", "GET", u + "/follow/", ""},
		{"followed resources of a user unknown to both", "GET", "/user/nobody@example.org/follow/", ""},
		{"follow a table", "PUT", u + "/follow/table/" + proxytest.TableAccounts, ""},
		{"follow a dashboard", "PUT", u + "/follow/dashboard/" + proxytest.DashboardOps, ""},
		{"follow a table not in the graph", "PUT", u + "/follow/table/hive://gold.sales/nope", ""},
		{"follow a resource type Amundsen does not know", "PUT", u + "/follow/column/" + proxytest.TableOrders, ""},
		{"follow as a person not in the graph", "PUT", "/user/" + diffNewUser + "/follow/table/" + proxytest.TableOrders, ""},
		{"unfollow a table", "DELETE", u + "/follow/table/" + proxytest.TableOrders, ""},
		{"unfollow a dashboard", "DELETE", u + "/follow/dashboard/" + proxytest.DashboardSales, ""},
		{"unfollow what is not followed", "DELETE", u + "/follow/table/" + proxytest.TableEvents, ""},
		{"owned resources", "GET", u + "/own/", ""},
		{"own a table", "PUT", u + "/own/table/" + proxytest.TableOrders, ""},
		{"own a table as a person not in the graph", "PUT", "/user/" + diffNewUser + "/own/table/" + proxytest.TableOrders, ""},
		{"disown a table", "DELETE", u + "/own/table/" + proxytest.TableAccounts, ""},
		{"frequently used tables", "GET", u + "/read/", ""},
		{"frequently used tables of a user with none", "GET", "/user/" + diffBoss + "/read/", ""},
	}
}

// seedDifferential empties the graph and writes the catalog and two people
// as databuilder writes them (databuilder.models.user.User: keyed by email,
// MANAGE_BY and MANAGE between a person and their manager), with one edge
// of each kind.
func seedDifferential(t *testing.T, srv *neo4jserver.Server, loader *usersvcneo4j.Store) {
	t.Helper()
	cypher(t, srv, "MATCH (n) DETACH DELETE n", nil)
	if err := loader.LoadCatalog(context.Background(), proxytest.Catalog()); err != nil {
		t.Fatal(err)
	}
	cypher(t, srv, `CREATE (boss:User {key: $boss, email: $boss, first_name: 'Ph', last_name: 'Boss', full_name: 'Ph Boss',
  is_active: true, published_tag: 'seed'})
CREATE (u:User {key: $user, email: $user, user_id: 'roald', first_name: 'Roald', last_name: 'Amundsen',
  full_name: 'Roald Amundsen', display_name: 'Roald Amundsen', team_name: 'Polar', role_name: 'Explorer',
  employee_type: 'sailor', github_username: 'amundsen-io', slack_id: 'ramundzn',
  profile_url: 'https://people.example.org/roald', manager_email: $boss, is_active: true, published_tag: 'seed'})
CREATE (u)-[:MANAGE_BY]->(boss), (boss)-[:MANAGE]->(u)
WITH u
MATCH (o:Table {key: $orders}), (a:Table {key: $accounts}), (e:Table {key: $events}), (d:Dashboard {key: $sales})
CREATE (u)-[:FOLLOW]->(o), (o)-[:FOLLOWED_BY]->(u),
  (u)-[:FOLLOW]->(d), (d)-[:FOLLOWED_BY]->(u),
  (u)-[:OWNER_OF]->(a), (a)-[:OWNER]->(u),
  (u)-[:READ {read_count: 5, published_tag: 'seed'}]->(e), (e)-[:READ_BY {read_count: 5, published_tag: 'seed'}]->(u)`,
		map[string]any{"boss": diffBoss, "user": diffUser, "orders": proxytest.TableOrders, "accounts": proxytest.TableAccounts,
			"events": proxytest.TableEvents, "sales": proxytest.DashboardSales})
}

// userGraphState is every User node's properties and every relationship that
// touches a User, without the write timestamps (they differ by run).
func userGraphState(t *testing.T, srv *neo4jserver.Server) map[string]any {
	t.Helper()
	state := map[string]any{}
	for _, r := range cypher(t, srv, "MATCH (u:User) RETURN u.key, properties(u)", nil) {
		state["node "+r.Values[0].(string)] = withoutStamps(r.Values[1])
	}
	for _, r := range cypher(t, srv, `MATCH (a)-[r]->(b) WHERE a:User OR b:User
RETURN a.key, type(r), b.key, properties(r)`, nil) {
		state[fmt.Sprintf("edge %v -%v-> %v", r.Values[0], r.Values[1], r.Values[2])] = withoutStamps(r.Values[3])
	}
	return state
}

func withoutStamps(v any) any {
	props, _ := v.(map[string]any)
	out := map[string]any{}
	for k, v := range props {
		if !strings.HasPrefix(k, "publisher_") || !strings.HasSuffix(k, "_epoch_ms") {
			out[k] = v
		}
	}
	return out
}

// differentialAnswer is what one side did with one request.
type differentialAnswer struct {
	status int
	body   any // decoded JSON, or notJSON
	graph  map[string]any
}

const (
	notJSON       = "(not JSON)"
	jsonInAString = "(the object is sent as a JSON string)"
)

func sendDifferential(t *testing.T, client *http.Client, base string, c differentialCase) (int, any) {
	t.Helper()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, base+c.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if c.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, base+c.path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return resp.StatusCode, notJSON
	}
	// Amundsen's PUT /user answers schema.dumps(user), a str, which
	// Flask-RESTful serialises again: a JSON string holding the JSON
	// object. The fields inside are compared too.
	if s, ok := v.(string); ok {
		var inner map[string]any
		if json.Unmarshal([]byte(s), &inner) == nil {
			inner[jsonInAString] = true
			return resp.StatusCode, inner
		}
	}
	return resp.StatusCode, v
}

// diffValues records, by path, where a and b differ.
func diffValues(path string, a, b any, out map[string][2]any) {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		for k := range keys {
			av, ain := am[k]
			bv, bin := bm[k]
			switch {
			case ain && bin:
				diffValues(path+"."+k, av, bv, out)
			case ain:
				out[path+"."+k] = [2]any{av, absent}
			default:
				out[path+"."+k] = [2]any{absent, bv}
			}
		}
		return
	}
	as, aok := a.([]any)
	bs, bok := b.([]any)
	if aok && bok && len(as) == len(bs) {
		for i := range as {
			diffValues(fmt.Sprintf("%s[%d]", path, i), as[i], bs[i], out)
		}
		return
	}
	if !reflect.DeepEqual(a, b) {
		out[path] = [2]any{a, b}
	}
}

type absentValue struct{}

var absent = absentValue{}

// render is how a value appears in the differences table.
func render(v any) string {
	switch v := v.(type) {
	case absentValue:
		return "(absent)"
	case string:
		if v == notJSON {
			return v
		}
	case map[string]any:
		// A whole user or node that one side has and the other has not:
		// its size, not its fields, which other rows compare.
		if len(v) > 3 {
			return fmt.Sprintf("(an object of %d fields)", len(v))
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// differenceRow is one row of the table in docs/amundsen-differences.md.
type differenceRow struct {
	caseName, neo4j, where, usersvc, amundsen string
}

// differenceRows reads the table under the heading "The metadata API,
// request by request": | request | Neo4j | where | usersvc | Amundsen | why |.
func differenceRows(t *testing.T) []differenceRow {
	t.Helper()
	f, err := os.Open("../../docs/amundsen-differences.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []differenceRow
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = line == "## The metadata API, request by request"
			continue
		}
		if !in || !strings.HasPrefix(line, "| ") {
			continue
		}
		cells := splitRow(line)
		if len(cells) != 6 || cells[0] == "request" || strings.HasPrefix(cells[0], "---") {
			continue
		}
		rows = append(rows, differenceRow{unquote(cells[0]), cells[1], unquote(cells[2]), unquote(cells[3]), unquote(cells[4])})
	}
	if len(rows) == 0 {
		t.Fatal("no rows under \"## The metadata API, request by request\" in docs/amundsen-differences.md")
	}
	return rows
}

// splitRow splits a Markdown table row on pipes not escaped as \|.
func splitRow(line string) []string {
	line = strings.TrimSpace(line)
	line = strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|")
	var cells []string
	var cur bytes.Buffer
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && i+1 < len(line) && line[i+1] == '|':
			cur.WriteByte('|')
			i++
		case line[i] == '|':
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(line[i])
		}
	}
	return append(cells, strings.TrimSpace(cur.String()))
}

func unquote(cell string) string {
	if len(cell) >= 2 && strings.HasPrefix(cell, "`") && strings.HasSuffix(cell, "`") {
		return cell[1 : len(cell)-1]
	}
	return cell
}

// appliesTo: the row's Neo4j column is "all", or a version prefix.
func (r differenceRow) appliesTo(version string) bool {
	return r.neo4j == "all" || strings.HasPrefix(version, r.neo4j+".") || version == r.neo4j
}

func TestMetadataAPIDifferentialOnOneGraph(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Neo4j, Amundsen's metadata service and the binary")
	}
	if _, err := amundsen.Python(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	srv := cleanNeo4j(t)
	loader := graphLoader(t, srv)
	m := startMetadataOn(ctx, t, srv)
	p := startOnNeo4j(t, srv, "DIRECTORY_FILE="+exampleDirectory(t))
	client := &http.Client{Timeout: 60 * time.Second}
	defer client.CloseIdleConnections()

	rows := differenceRows(t)
	listed := map[string]differenceRow{}
	for _, r := range rows {
		if r.appliesTo(srv.Version) {
			listed[r.caseName+"\x00"+r.where] = r
		}
	}
	seen := map[string]bool{}
	var unlisted []string
	for _, c := range differentialCases() {
		answers := make([]differentialAnswer, 2)
		for i, base := range []string{p.base, m.URL} {
			seedDifferential(t, srv, loader)
			status, body := sendDifferential(t, client, base, c)
			answers[i] = differentialAnswer{status, body, userGraphState(t, srv)}
		}
		diffs := map[string][2]any{}
		if answers[0].status != answers[1].status {
			diffs["status"] = [2]any{float64(answers[0].status), float64(answers[1].status)}
		}
		diffValues("body", answers[0].body, answers[1].body, diffs)
		diffValues("graph", answers[0].graph, answers[1].graph, diffs)
		paths := make([]string, 0, len(diffs))
		for path := range diffs {
			paths = append(paths, path)
		}
		sort.Strings(paths)
		for _, path := range paths {
			got := diffs[path]
			k := c.name + "\x00" + path
			r, ok := listed[k]
			if !ok || r.usersvc != render(got[0]) || r.amundsen != render(got[1]) {
				unlisted = append(unlisted, fmt.Sprintf("| %s | %s | `%s` | `%s` | `%s` | |",
					c.name, srv.Version[:strings.LastIndex(srv.Version, ".")], path,
					strings.ReplaceAll(render(got[0]), "|", `\|`), strings.ReplaceAll(render(got[1]), "|", `\|`)))
				continue
			}
			seen[k] = true
		}
	}
	if len(unlisted) > 0 {
		t.Errorf("%d differences on Neo4j %s that docs/amundsen-differences.md does not list (or lists with other values):\n%s",
			len(unlisted), srv.Version, strings.Join(unlisted, "\n"))
	}
	var gone []string
	for k, r := range listed {
		if !seen[k] {
			gone = append(gone, fmt.Sprintf("%s: %s", r.caseName, r.where))
		}
	}
	slices.Sort(gone)
	if len(gone) > 0 {
		t.Errorf("rows of docs/amundsen-differences.md that no longer happen on Neo4j %s:\n%s", srv.Version, strings.Join(gone, "\n"))
	}
	if t.Failed() {
		t.Logf("--- usersvc output ---\n%s", p.logs.String())
	}
}
