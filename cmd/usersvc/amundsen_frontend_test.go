package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/usersvc/usersvc/proxy/proxytest"
	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/amundsen"
	"github.com/usersvc/usersvc/testsupport/oidcprovider"
	"github.com/usersvc/usersvc/testsupport/syncbuffer"
)

// frontendClient is one browser session on Amundsen's frontend: a cookie
// jar holding the session frontend_app.py's login stand-in fills.
type frontendClient struct {
	t    *testing.T
	base string
	http *http.Client
}

func newFrontendClient(t *testing.T, base string) *frontendClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &frontendClient{t: t, base: base, http: &http.Client{Jar: jar, Timeout: 60 * time.Second}}
}

// login keeps token in the session as flaskoidc does after its callback:
// the frontend then sends Authorization: Bearer {"access_token": ...,
// "expires_at": ...} to usersvc, and takes its current user from email. An
// empty accessToken leaves the session without a token: the frontend then
// sends no Authorization header.
func (c *frontendClient) login(accessToken string, expiresAt time.Time, email string) {
	c.t.Helper()
	var token any
	if accessToken != "" {
		token = map[string]any{"access_token": accessToken, "expires_at": expiresAt.Unix(), "token_type": "Bearer"}
	}
	status, body := c.do(http.MethodPost, amundsen.LoginPath, map[string]any{"token": token, "user": map[string]any{"email": email}})
	if status != http.StatusOK {
		c.t.Fatalf("login = %d %v", status, body)
	}
}

// do sends one request to the frontend and decodes its JSON answer.
func (c *frontendClient) do(method, path string, in any) (int, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		c.t.Fatalf("%s %s = %d, not JSON: %q", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

// path walks decoded JSON by keys and indexes ("tableData", "owners", 0).
func jsonAt(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

// keysOf is the values of field in each object of a JSON array.
func keysOf(v any, field string) []string {
	a, _ := v.([]any)
	out := []string{}
	for _, e := range a {
		s, _ := jsonAt(e, field).(string)
		out = append(out, s)
	}
	return out
}

// TestAmundsenFrontendThroughUsersvc: Amundsen's real frontend
// (amundsen-frontend 4.3.0, its OidcConfig's header and user methods) with
// METADATASERVICE_BASE pointed at usersvc in pass-through mode, OIDC on
// (tokens from a real provider), in front of Amundsen's real metadata
// service (amundsen-metadata 3.13.0), all on one real Neo4j. Every flow
// goes through the frontend's own /api/metadata/v0 routes, as the React app
// calls them.
func TestAmundsenFrontendThroughUsersvc(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Neo4j, Amundsen's metadata and frontend services, an OIDC provider and the binary")
	}
	if _, err := amundsen.Python(); errors.Is(err, amundsen.ErrNoPython) {
		t.Skip(err)
	}
	started := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	const person = "katherine.johnson@example.com" // in examples/directory.json
	srv := cleanNeo4j(t)
	loader := graphLoader(t, srv)
	// Some of amundsen-metadata 3.13.0's queries are refused by Neo4j 5
	// (Neo.ClientError.Statement.SyntaxError): the table query
	// (_exec_col_query builds a map from grouping keys beside collect() in
	// one WITH: "Aggregation column contains implicit grouping
	// expressions") and the read query (exists(n.prop)). Its table page and
	// its /user/<id>/read/ work on Neo4j 4.4 only, with or without usersvc.
	// On 5.x the subtests check that usersvc passes Amundsen's failure
	// through unchanged. Databuilder, too, publishes to 4.4 only.
	onNeo4j4 := strings.HasPrefix(srv.Version, "4.")
	if onNeo4j4 {
		if err := amundsen.Publish(ctx, amundsenConn(srv), databuilderCatalog(t)...); err != nil {
			t.Fatal(err)
		}
	} else {
		t.Logf("Neo4j %s: databuilder cannot publish here; usersvc's catalog loader writes the same catalog", srv.Version)
		if err := loader.LoadCatalog(ctx, proxytest.Catalog()); err != nil {
			t.Fatal(err)
		}
		addOrdersColumns(t, srv)
	}

	m := startMetadataOn(ctx, t, srv)
	provider := oidcprovider.Start(t)
	logs := &syncbuffer.Buffer{}
	metricsAddr := freePort(t)
	addr := startLoggedBinary(t, logs, append([]string{
		"METRICS_ADDR=" + metricsAddr,
		"FLASK_OIDC_CONFIG_URL=" + provider.DiscoveryURL(),
		"FLASK_OIDC_CLIENT_ID=amundsen-frontend",
		"OIDC_AUDIENCE=api://default",
		"OIDC_CLOCK_SKEW=1s",
		"DIRECTORY_FILE=" + exampleDirectory(t),
		"METADATA_UPSTREAM_URL=" + m.URL,
	}, proxyEnv(srv, boltAddr(srv))...)...)
	f, err := amundsen.StartFrontend(ctx, amundsen.FrontendOptions{MetadataURL: "http://" + addr, Workers: 1,
		// Amundsen's 3 s default is shorter than its own first table read
		// (a dozen queries planned on a cold Neo4j 4.4, over 4 s here).
		RequestTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	t.Logf("Neo4j, Amundsen's metadata service, the provider, usersvc and Amundsen's frontend up in %s", time.Since(started).Round(time.Millisecond))
	defer func() {
		if t.Failed() {
			t.Logf("--- frontend output ---\n%s", f.Output())
			t.Logf("--- usersvc output ---\n%s", logs.String())
			t.Logf("--- metadata output ---\n%s", m.Output())
		}
	}()

	token := provider.Token(t, oidcprovider.TokenOptions{Email: person})
	fe := newFrontendClient(t, f.URL)
	fe.login(token, time.Now().Add(time.Hour), person)
	userQ := "?user_id=" + url.QueryEscape(person)

	t.Run("a directory person not in the graph is created and shown", func(t *testing.T) {
		fe.t = t
		if n := countNodes(t, srv, "MATCH (u:User {key: $key}) RETURN count(u)", map[string]any{"key": person}); n != 0 {
			t.Fatalf("%d nodes for %s before the first read", n, person)
		}
		status, body := fe.do(http.MethodGet, "/api/metadata/v0/user"+userQ, nil)
		if status != http.StatusOK || jsonAt(body, "msg") != "Success" {
			t.Fatalf("GET /api/metadata/v0/user = %d %v", status, body)
		}
		for field, want := range map[string]any{
			"email": person, "user_id": person, "display_name": "Katherine Johnson", "first_name": "Katherine",
			"last_name": "Johnson", "team_name": "Data Platform", "role_name": "Senior Data Engineer",
			"manager_fullname": "Grace Hopper", "is_active": true,
		} {
			if got := jsonAt(body, "user", field); got != want {
				t.Errorf("user.%s = %#v, want %#v (%v)", field, got, want, body)
			}
		}
		if n := countNodes(t, srv, "MATCH (u:User {key: $key}) WHERE u.full_name = 'Katherine Johnson' RETURN count(u)", map[string]any{"key": person}); n != 1 {
			t.Fatalf("%d User nodes for %s with the directory's name after the read, want 1", n, person)
		}
	})

	t.Run("bookmarks: follow and unfollow a table and a dashboard", func(t *testing.T) {
		fe.t = t
		for _, b := range []map[string]any{{"type": "table", "key": proxytest.TableOrders}, {"type": "dashboard", "key": proxytest.DashboardSales}} {
			if status, body := fe.do(http.MethodPut, "/api/metadata/v0/user/bookmark", b); status != http.StatusOK {
				t.Fatalf("PUT bookmark %v = %d %v", b, status, body)
			}
		}
		list := func(query string) (tables, dashboards []string) {
			t.Helper()
			status, body := fe.do(http.MethodGet, "/api/metadata/v0/user/bookmark"+query, nil)
			if status != http.StatusOK {
				t.Fatalf("GET bookmark%s = %d %v", query, status, body)
			}
			return keysOf(jsonAt(body, "bookmarks", "table"), "key"), keysOf(jsonAt(body, "bookmarks", "dashboard"), "key")
		}
		for _, q := range []string{"", userQ} { // the current user's, then by user_id
			tables, dashboards := list(q)
			if !slices.Equal(tables, []string{proxytest.TableOrders}) || !slices.Equal(dashboards, []string{proxytest.DashboardSales}) {
				t.Fatalf("bookmarks%s = tables %v, dashboards %v", q, tables, dashboards)
			}
		}
		if status, body := fe.do(http.MethodDelete, "/api/metadata/v0/user/bookmark", map[string]any{"type": "table", "key": proxytest.TableOrders}); status != http.StatusOK {
			t.Fatalf("DELETE table bookmark = %d %v", status, body)
		}
		if tables, dashboards := list(""); len(tables) != 0 || !slices.Equal(dashboards, []string{proxytest.DashboardSales}) {
			t.Fatalf("after unfollowing the table: tables %v, dashboards %v", tables, dashboards)
		}
		if status, body := fe.do(http.MethodDelete, "/api/metadata/v0/user/bookmark", map[string]any{"type": "dashboard", "key": proxytest.DashboardSales}); status != http.StatusOK {
			t.Fatalf("DELETE dashboard bookmark = %d %v", status, body)
		}
		if tables, dashboards := list(""); len(tables) != 0 || len(dashboards) != 0 {
			t.Fatalf("after unfollowing both: tables %v, dashboards %v", tables, dashboards)
		}
	})

	t.Run("frequently used tables", func(t *testing.T) {
		fe.t = t
		// Usage lands on the person's node, whoever writes it.
		var err error
		if onNeo4j4 {
			err = amundsen.Publish(ctx, amundsenConn(srv), databuilderReads(t, `
postgres,prod,analytics,events,event_id,`+person+`,7
hive,gold,core,accounts,id,`+person+`,3
`))
		} else {
			err = loader.LoadCatalog(ctx, schema.Catalog{Reads: []schema.ReadRecord{
				{User: person, Table: proxytest.TableEvents, ReadCount: 7},
				{User: person, Table: proxytest.TableAccounts, ReadCount: 3},
			}})
		}
		if err != nil {
			t.Fatal(err)
		}
		if n := countNodes(t, srv, "MATCH (u:User {email: $email}) RETURN count(u)", map[string]any{"email": person}); n != 1 {
			t.Fatalf("%d User nodes for %s after the usage was published, want 1", n, person)
		}
		status, body := fe.do(http.MethodGet, "/api/metadata/v0/user/read"+userQ, nil)
		got := keysOf(jsonAt(body, "read"), "key")
		slices.Sort(got)
		if status != http.StatusOK || !slices.Equal(got, []string{proxytest.TableAccounts, proxytest.TableEvents}) {
			t.Fatalf("GET /user/read = %d %v (keys %v)", status, body, got)
		}
		if name := jsonAt(body, "read", 0, "name"); name != "events" && name != "accounts" {
			t.Fatalf("read[0].name = %v", name)
		}
	})

	t.Run("a table page from Amundsen through usersvc; an owner added and removed there", func(t *testing.T) {
		fe.t = t
		owned := func() []string {
			t.Helper()
			status, body := fe.do(http.MethodGet, "/api/metadata/v0/user/own"+userQ, nil)
			if status != http.StatusOK {
				t.Fatalf("GET /user/own = %d %v", status, body)
			}
			return keysOf(jsonAt(body, "own", "table"), "key")
		}
		if got := owned(); len(got) != 0 {
			t.Fatalf("owned before = %v", got)
		}
		ownerEdges := func() int64 {
			t.Helper()
			return countNodes(t, srv, "MATCH (u:User {key: $user})-[r:OWNER_OF]->(:Table {key: $table})-[:OWNER]->(u) RETURN count(r)",
				map[string]any{"user": person, "table": proxytest.TableOrders})
		}
		page := func() map[string]any {
			t.Helper()
			before := len(routesTo(t, m, "/table/"))
			status, body := fe.do(http.MethodGet, "/api/metadata/v0/table?key="+url.QueryEscape(proxytest.TableOrders), nil)
			if got := routesTo(t, m, "/table/"); len(got) != before+1 || got[before].Endpoint != "api.tabledetailapi" {
				t.Errorf("the table page reached Amundsen's /table/ routes as %+v, want once, api.tabledetailapi", got[before:])
			}
			if !onNeo4j4 {
				if status != http.StatusInternalServerError || jsonAt(body, "msg") != "Encountered error: Metadata request failed" {
					t.Fatalf("GET /api/metadata/v0/table on Neo4j %s = %d %v, want Amundsen's 500 passed through", srv.Version, status, body)
				}
				return nil
			}
			if status != http.StatusOK || jsonAt(body, "msg") != "Success" {
				t.Fatalf("GET /api/metadata/v0/table = %d %v", status, body)
			}
			return jsonAt(body, "tableData").(map[string]any)
		}
		if td := page(); td != nil {
			for field, want := range map[string]any{"key": proxytest.TableOrders, "name": "orders", "schema": "sales", "cluster": "gold",
				"database": "hive", "description": "One row per order."} {
				if got := td[field]; got != want {
					t.Errorf("tableData.%s = %#v, want %#v", field, got, want)
				}
			}
			if cols := keysOf(td["columns"], "name"); !slices.Equal(cols, []string{"order_id", "amount"}) {
				t.Errorf("tableData.columns = %v", cols)
			}
			if owners := keysOf(td["owners"], "email"); len(owners) != 0 {
				t.Fatalf("owners before = %v", owners)
			}
		}

		owner := map[string]any{"key": proxytest.TableOrders, "owner": person}
		if status, body := fe.do(http.MethodPut, "/api/metadata/v0/update_table_owner", owner); status != http.StatusOK || jsonAt(body, "msg") != "Updated owner" {
			t.Fatalf("PUT update_table_owner = %d %v", status, body)
		}
		if n := ownerEdges(); n != 1 {
			t.Fatalf("%d owner edge pairs after Amundsen added the owner, want 1", n)
		}
		if td := page(); td != nil {
			if owners := keysOf(td["owners"], "email"); !slices.Equal(owners, []string{person}) {
				t.Fatalf("owners after adding = %v (%v)", owners, td["owners"])
			}
			// Amundsen's table owners carry only the email unless its
			// USER_DETAIL_METHOD is set (base_proxy._get_user_details), so
			// the frontend shows the email: Amundsen's behaviour, not
			// usersvc's (whose user page has the directory's name).
			if name := jsonAt(td, "owners", 0, "display_name"); name != person {
				t.Errorf("owner display_name on the table page = %#v, want the email, as Amundsen gives it", name)
			}
		}
		if got := owned(); !slices.Equal(got, []string{proxytest.TableOrders}) {
			t.Fatalf("owned after adding on the table page = %v", got)
		}
		if status, body := fe.do(http.MethodDelete, "/api/metadata/v0/update_table_owner", owner); status != http.StatusOK {
			t.Fatalf("DELETE update_table_owner = %d %v", status, body)
		}
		if n := ownerEdges(); n != 0 {
			t.Fatalf("%d owner edge pairs after Amundsen removed the owner", n)
		}
		if td := page(); td != nil {
			if owners := keysOf(td["owners"], "email"); len(owners) != 0 {
				t.Fatalf("owners after removing = %v", owners)
			}
		}
		if got := owned(); len(got) != 0 {
			t.Fatalf("owned after removing = %v", got)
		}
	})

	t.Run("no token and an expired token: 401, nothing reaches Amundsen", func(t *testing.T) {
		expiredIn := -time.Minute
		expired := provider.Token(t, oidcprovider.TokenOptions{Email: person, ExpiresIn: &expiredIn})
		anonymous := newFrontendClient(t, f.URL)
		anonymous.login("", time.Time{}, person)
		stale := newFrontendClient(t, f.URL)
		stale.login(expired, time.Now().Add(-time.Minute), person)
		for _, c := range []struct {
			name   string
			client *frontendClient
		}{{"no token", anonymous}, {"expired token", stale}} {
			before, err := m.Routes()
			if err != nil {
				t.Fatal(err)
			}
			refusedBefore := usersvc401s(t, metricsAddr)
			c.client.t = t
			for _, r := range []struct {
				method, path string
				body         any
				status       int // the frontend's answer
				msg          string
			}{
				{http.MethodGet, "/api/metadata/v0/table?key=" + url.QueryEscape(proxytest.TableOrders), nil, http.StatusUnauthorized, "Encountered error: Metadata request failed"},
				{http.MethodGet, "/api/metadata/v0/user/bookmark", nil, http.StatusUnauthorized, "Encountered error: failed to get bookmark for user_id: " + person},
				{http.MethodPut, "/api/metadata/v0/update_table_owner", map[string]any{"key": proxytest.TableOrders, "owner": person}, http.StatusUnauthorized, "There was a problem updating owner " + person},
				{http.MethodPut, "/api/metadata/v0/user/bookmark", map[string]any{"type": "table", "key": proxytest.TableOrders}, http.StatusUnauthorized, "success"},
				// The frontend reads "table" from any answer without
				// looking at its status (as it would Amundsen's own 401).
				{http.MethodGet, "/api/metadata/v0/user/read" + userQ, nil, http.StatusInternalServerError, "Encountered exception: 'NoneType' object is not iterable"},
			} {
				status, body := c.client.do(r.method, r.path, r.body)
				if status != r.status || jsonAt(body, "msg") != r.msg {
					t.Errorf("%s: %s %s = %d %v, want %d %q", c.name, r.method, r.path, status, body, r.status, r.msg)
				}
			}
			if got := usersvc401s(t, metricsAddr) - refusedBefore; got != 5 {
				t.Errorf("%s: usersvc answered %d requests with 401, want 5", c.name, got)
			}
			after, err := m.Routes()
			if err != nil {
				t.Fatal(err)
			}
			if len(after) != len(before) {
				t.Errorf("%s: %d requests reached Amundsen: %+v", c.name, len(after)-len(before), after[len(before):])
			}
		}
		if n := countNodes(t, srv, "MATCH (:User)-[r:OWNER_OF|FOLLOW]->() RETURN count(r)", nil); n != 0 {
			t.Fatalf("%d owner or follow edges after the refused writes", n)
		}
	})
	// The differential: a second frontend, identical but for
	// METADATASERVICE_BASE, talks to Amundsen's metadata service straight;
	// both read the same graph, one after the other. What differs is what
	// docs/amundsen-differences.md lists.
	t.Run("differential: the frontend's answers through usersvc and straight from Amundsen", func(t *testing.T) {
		direct, err := amundsen.StartFrontend(ctx, amundsen.FrontendOptions{MetadataURL: m.URL, Workers: 1, RequestTimeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer direct.Stop()
		fd := newFrontendClient(t, direct.URL)
		fd.login(token, time.Now().Add(time.Hour), person)
		fe.t = t
		writes := []struct {
			method, path string
			body         any
		}{
			{http.MethodPut, "/api/metadata/v0/user/bookmark", map[string]any{"type": "table", "key": proxytest.TableOrders}},
			{http.MethodPut, "/api/metadata/v0/user/bookmark", map[string]any{"type": "dashboard", "key": proxytest.DashboardSales}},
			{http.MethodPut, "/api/metadata/v0/update_table_owner", map[string]any{"key": proxytest.TableOrders, "owner": person}},
		}
		for _, w := range writes {
			if status, body := fe.do(w.method, w.path, w.body); status != http.StatusOK {
				t.Fatalf("%s %s = %d %v", w.method, w.path, status, body)
			}
		}
		both := func(path string) (viaStatus int, via map[string]any, directStatus int, straight map[string]any) {
			t.Helper()
			viaStatus, via = fe.do(http.MethodGet, path, nil)
			directStatus, straight = fd.do(http.MethodGet, path, nil)
			return
		}
		same := func(path string) {
			t.Helper()
			s1, b1, s2, b2 := both(path)
			if s1 != s2 || !reflect.DeepEqual(b1, b2) {
				t.Errorf("GET %s differs:\n via usersvc: %d %v\n direct:      %d %v", path, s1, b1, s2, b2)
			}
		}
		// Bookmarks, owned resources: the same answer.
		same("/api/metadata/v0/user/bookmark" + userQ)
		same("/api/metadata/v0/user/own" + userQ)
		// The table page is Amundsen's answer either way (200 on 4.4, its
		// 500 on 5.x).
		same("/api/metadata/v0/table?key=" + url.QueryEscape(proxytest.TableOrders))

		// A person in the graph: the same but for two fields usersvc fills
		// from the directory and Amundsen 3.13.0 leaves empty (it never
		// returns manager_id, and other_key_values only for USER_OTHER_KEYS).
		s1, b1, s2, b2 := both("/api/metadata/v0/user" + userQ)
		if s1 != http.StatusOK || s2 != http.StatusOK {
			t.Fatalf("GET user: via usersvc %d %v, direct %d %v", s1, b1, s2, b2)
		}
		u1, u2 := jsonAt(b1, "user").(map[string]any), jsonAt(b2, "user").(map[string]any)
		if u1["manager_id"] != "00u1grace0000000003" || !reflect.DeepEqual(u1["other_key_values"], map[string]any{"okta_id": "00u1katherine000004"}) {
			t.Errorf("via usersvc: manager_id %#v, other_key_values %#v", u1["manager_id"], u1["other_key_values"])
		}
		if u2["manager_id"] != nil || !reflect.DeepEqual(u2["other_key_values"], map[string]any{}) {
			t.Errorf("direct: manager_id %#v, other_key_values %#v", u2["manager_id"], u2["other_key_values"])
		}
		for _, k := range []string{"manager_id", "other_key_values"} {
			delete(u1, k)
			delete(u2, k)
		}
		if !reflect.DeepEqual(b1, b2) {
			t.Errorf("GET user differs beyond manager_id and other_key_values:\n via usersvc: %v\n direct:      %v", b1, b2)
		}

		// Frequently used: Amundsen's read query uses exists(n.prop), which
		// Neo4j 5 refuses; the frontend then fails on the error body.
		readPath := "/api/metadata/v0/user/read" + userQ
		if onNeo4j4 {
			same(readPath)
		} else {
			s1, b1, s2, b2 := both(readPath)
			if s1 != http.StatusOK || len(keysOf(jsonAt(b1, "read"), "key")) != 2 {
				t.Errorf("GET read via usersvc on Neo4j %s = %d %v", srv.Version, s1, b1)
			}
			if s2 != http.StatusInternalServerError || jsonAt(b2, "msg") != "Encountered exception: 'NoneType' object is not iterable" {
				t.Errorf("GET read straight from Amundsen on Neo4j %s = %d %v, want the frontend's 500", srv.Version, s2, b2)
			}
		}

		// A directory person not in the graph: Amundsen raises
		// NotFoundException (gunicorn's bare 500, which the frontend cannot
		// parse); usersvc creates the person from the directory.
		const absent = "grace.hopper@example.com"
		s2, b2 = fd.do(http.MethodGet, "/api/metadata/v0/user?user_id="+url.QueryEscape(absent), nil)
		if s2 != http.StatusInternalServerError || jsonAt(b2, "msg") != "Encountered exception: Expecting value: line 1 column 1 (char 0)" {
			t.Errorf("absent person straight from Amundsen = %d %v", s2, b2)
		}
		s1, b1 = fe.do(http.MethodGet, "/api/metadata/v0/user?user_id="+url.QueryEscape(absent), nil)
		if s1 != http.StatusOK || jsonAt(b1, "user", "display_name") != "Grace Hopper" {
			t.Errorf("absent person through usersvc = %d %v", s1, b1)
		}
	})
	// Deactivation as the frontend shows it: people the directory had
	// suspended or deprovisioned before usersvc first saw them, and a
	// person deactivated after her first visit, once `usersvc sync` has
	// run. Last, since the sync writes the whole directory into the graph.
	t.Run("a deactivated person is shown as inactive", func(t *testing.T) {
		fe.t = t
		profile := func(who string) map[string]any {
			t.Helper()
			status, body := fe.do(http.MethodGet, "/api/metadata/v0/user?user_id="+url.QueryEscape(who), nil)
			if status != http.StatusOK || jsonAt(body, "msg") != "Success" {
				t.Fatalf("GET /api/metadata/v0/user for %s = %d %v", who, status, body)
			}
			return jsonAt(body, "user").(map[string]any)
		}
		for who, name := range map[string]string{"hedy.lamarr@example.com": "Hedy Lamarr", "john.vonneumann@example.com": "John von Neumann"} {
			if u := profile(who); u["is_active"] != false || u["display_name"] != name {
				t.Errorf("%s (not active in the directory) shown as %v", who, u)
			}
		}
		const leaver = "marie.curie@example.com"
		if u := profile(leaver); u["is_active"] != true {
			t.Fatalf("%s before leaving: %v", leaver, u)
		}
		dir := deprovisionedCopy(t, exampleDirectory(t), leaver)
		// The graph holds a handful of people, so one leaver is past the
		// mass-change guard's default share (10%).
		stdout, stderr, code := runBinary(t, append(proxyEnv(srv, boltAddr(srv)), "DIRECTORY_FILE="+dir, "SYNC_MAX_DEACTIVATE_PERCENT=100"), "sync")
		if code != 0 {
			t.Fatalf("usersvc sync = %d\n%s\n%s", code, stdout, stderr)
		}
		if u := profile(leaver); u["is_active"] != false || u["display_name"] != "Marie Curie" {
			t.Fatalf("%s after the directory deprovisioned her and the sync ran: %v", leaver, u)
		}
		// Amundsen's own metadata service reads her node the same way.
		resp, err := http.Get(m.URL + "/user/" + leaver)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var straight map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&straight); err != nil || resp.StatusCode != http.StatusOK || straight["is_active"] != false {
			t.Fatalf("Amundsen's GET /user/%s = %d %v (%v), want is_active false", leaver, resp.StatusCode, straight, err)
		}
	})
	t.Logf("whole test: %s", time.Since(started).Round(time.Millisecond))
}

// deprovisionedCopy writes a copy of the directory file at path in which
// the person whose login is login is DEPROVISIONED, changed now (Okta's
// status and lastUpdated, as the Users API reports a deactivation).
func deprovisionedCopy(t *testing.T, path, login string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var people []map[string]any
	if err := json.Unmarshal(b, &people); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	found := false
	for _, p := range people {
		if p["profile"].(map[string]any)["login"] == login {
			p["status"], p["statusChanged"], p["lastUpdated"] = "DEPROVISIONED", now, now
			found = true
		}
	}
	if !found {
		t.Fatalf("no %s in %s", login, path)
	}
	out := filepath.Join(t.TempDir(), "directory.json")
	if b, err = json.Marshal(people); err == nil {
		err = os.WriteFile(out, b, 0o600)
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// routesTo is the requests Amundsen's metadata service has seen whose path
// starts with prefix.
func routesTo(t *testing.T, m *amundsen.Metadata, prefix string) []amundsen.Route {
	t.Helper()
	all, err := m.Routes()
	if err != nil {
		t.Fatal(err)
	}
	var out []amundsen.Route
	for _, r := range all {
		if strings.HasPrefix(r.Path, prefix) {
			out = append(out, r)
		}
	}
	return out
}

// usersvc401s is usersvc's usersvc_http_requests_total with status 401,
// all routes and methods.
func usersvc401s(t *testing.T, metricsAddr string) int {
	t.Helper()
	families, _ := scrape(t, metricsAddr)
	n := 0.0
	if f, ok := families["usersvc_http_requests_total"]; ok {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if l.GetName() == "status" && l.GetValue() == "401" {
					n += m.Counter.GetValue()
				}
			}
		}
	}
	return int(n)
}
