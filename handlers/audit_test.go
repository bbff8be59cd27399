package handlers_test

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"

	"github.com/usersvc/usersvc/handlers"
	"github.com/usersvc/usersvc/proxy/proxytest"
)

// audits returns the audit records logged so far, without time and level.
func audits(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["audit"] != true {
			continue
		}
		delete(rec, "time")
		delete(rec, "level")
		out = append(out, rec)
	}
	return out
}

func TestAuditRecords(t *testing.T) {
	e := newAuthEnv(t, handlers.AuthConfig{WriteGroups: []string{"data-stewards"}}, true)
	ada := "Bearer " + e.token(t, "ada@example.com")
	steps := []struct {
		method, target, body string
		status               int
		want                 map[string]any // nil: no audit record
	}{
		{"PUT", "/user", `{"email":"Ada@Example.com","display_name":"Ada"}`, 201,
			map[string]any{"event": "user_created", "key": "ada@example.com", "outcome": "ok"}},
		{"PUT", "/user", `{"email":"ada@example.com","team_name":"Data"}`, 200,
			map[string]any{"event": "user_updated", "key": "ada@example.com", "outcome": "ok"}},
		{"PUT", "/user/ada@example.com/follow/table/" + proxytest.TableOrders, "", 200,
			map[string]any{"event": "follow_added", "key": "ada@example.com", "outcome": "ok", "resource_type": "table", "resource_key": proxytest.TableOrders}},
		{"DELETE", "/user/ada@example.com/follow/table/" + proxytest.TableOrders, "", 200,
			map[string]any{"event": "follow_deleted", "key": "ada@example.com", "outcome": "ok", "resource_type": "table", "resource_key": proxytest.TableOrders}},
		{"PUT", "/user/ada@example.com/own/dashboard/" + proxytest.DashboardOps, "", 200,
			map[string]any{"event": "own_added", "key": "ada@example.com", "outcome": "ok", "resource_type": "dashboard", "resource_key": proxytest.DashboardOps}},
		{"PUT", "/user/ada@example.com/own/table/hive://no.such/table", "", 404,
			map[string]any{"event": "own_added", "key": "ada@example.com", "outcome": "not_found", "resource_type": "table", "resource_key": "hive://no.such/table"}},
		{"PUT", "/user/bob@example.com/follow/table/" + proxytest.TableOrders, "", 403,
			map[string]any{"event": "write_denied", "key": "bob@example.com", "outcome": "forbidden", "route": "/user/:id/follow/:type/*key"}},
		{"GET", "/user/ada@example.com", "", 200, nil},
	}
	for i, st := range steps {
		before := len(audits(t, e.logs.String()))
		w := e.do(t, st.method, st.target, st.body, "Authorization", ada, "X-Request-Id", "req-"+string(rune('a'+i)))
		wantStatus(t, w, st.status)
		recs := audits(t, e.logs.String())[before:]
		if st.want == nil {
			if len(recs) != 0 {
				t.Fatalf("%s %s wrote audit records: %v", st.method, st.target, recs)
			}
			continue
		}
		want := maps.Clone(st.want)
		want["audit"], want["msg"], want["source"] = true, "audit", "api"
		want["actor"], want["request_id"] = "00uada@example.com", "req-"+string(rune('a'+i))
		if len(recs) != 1 {
			t.Fatalf("%s %s: %d audit records, want 1: %v", st.method, st.target, len(recs), recs)
		}
		got, _ := json.Marshal(recs[0])
		exp, _ := json.Marshal(want)
		if string(got) != string(exp) {
			t.Fatalf("%s %s audit:\n got %s\nwant %s", st.method, st.target, got, exp)
		}
	}
	// A PUT /user the store fails is audited as user_write with the failure
	// kind (README, audit records).
	_ = e.store.Close()
	before := len(audits(t, e.logs.String()))
	w := e.do(t, "PUT", "/user", `{"email":"ada@example.com","team_name":"Data"}`, "Authorization", ada, "X-Request-Id", "req-fail")
	wantStatus(t, w, 503)
	recs := audits(t, e.logs.String())[before:]
	want := map[string]any{"event": "user_write", "key": "ada@example.com", "outcome": "unavailable", "audit": true, "msg": "audit",
		"source": "api", "actor": "00uada@example.com", "request_id": "req-fail"}
	if got, _ := json.Marshal(recs); len(recs) != 1 || !maps.Equal(recs[0], want) {
		t.Fatalf("PUT /user with the store down: audit %s, want one record %v", got, want)
	}
	if strings.Contains(e.logs.String(), strings.TrimPrefix(ada, "Bearer ")[:40]) {
		t.Fatal("a token reached the logs")
	}
}
