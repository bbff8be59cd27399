package oktaapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/usersvc/usersvc/testsupport/oktaapi"
)

// logsCall is one GET of pathQuery on the test org's System Log.
type logsCall struct {
	status int
	events []map[string]any
	next   string // path and query of rel="next"; "" without one
	header http.Header
}

func getLogs(t *testing.T, org *oktaapi.Server, pathQuery string) logsCall {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, org.URL()+pathQuery, nil)
	req.Header.Set("Authorization", "SSWS t")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	c := logsCall{status: resp.StatusCode, header: resp.Header}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &c.events); err != nil {
			t.Fatalf("body %s: %v", body, err)
		}
	}
	for _, l := range resp.Header.Values("Link") {
		if strings.HasSuffix(l, `rel="next"`) {
			u, err := url.Parse(strings.TrimSuffix(strings.TrimPrefix(strings.Split(l, ";")[0], "<"), ">"))
			if err != nil {
				t.Fatal(err)
			}
			c.next = u.RequestURI()
		}
	}
	return c
}

func uuids(events []map[string]any) []string {
	var out []string
	for _, e := range events {
		out = append(out, e["uuid"].(string))
	}
	return out
}

// TestLogsPollingRequests follows Okta's "Polling requests"
// (https://developer.okta.com/docs/reference/api/system-log/): without
// `until`, in ASCENDING order, every answer has a next link, an empty page
// included, and following it yields the events persisted since, in
// persistence order, each once.
func TestLogsPollingRequests(t *testing.T) {
	org := oktaapi.New(t, oktaapi.WithSSWSToken("t"))
	org.AddUsers(oktaapi.NewUser("00u1", "ada@example.com", "ada@example.com", "Ada", "Lovelace", "ACTIVE"))
	early := org.Publish("user.lifecycle.create", "00u1")
	time.Sleep(5 * time.Millisecond) // persisted strictly before since
	since := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	var published []string
	for range 5 {
		published = append(published, org.Publish("user.lifecycle.deactivate", "00u1").UUID)
	}
	org.Publish("user.session.start", "00u1") // filtered out

	q := url.Values{"since": {since}, "sortOrder": {"ASCENDING"}, "limit": {"2"},
		"filter": {`eventType eq "user.lifecycle.deactivate" or eventType eq "user.lifecycle.create"`}}
	c := getLogs(t, org, "/api/v1/logs?"+q.Encode())
	var got []string
	for range 10 {
		if c.status != http.StatusOK || c.next == "" {
			t.Fatalf("polling answer: status %d, next %q", c.status, c.next)
		}
		if len(c.events) == 0 {
			break
		}
		got = append(got, uuids(c.events)...)
		c = getLogs(t, org, c.next)
	}
	if strings.Join(got, ",") != strings.Join(published, ",") {
		t.Fatalf("polled %v, want %v (not %s, persisted before since)", got, published, early.UUID)
	}
	// Caught up: the empty page's next link is where the next event appears.
	caughtUp := getLogs(t, org, c.next)
	if len(caughtUp.events) != 0 || caughtUp.next == "" {
		t.Fatalf("caught-up answer: %d events, next %q", len(caughtUp.events), caughtUp.next)
	}
	later := org.Publish("user.lifecycle.create", "00u1")
	if c := getLogs(t, org, caughtUp.next); len(c.events) != 1 || c.events[0]["uuid"] != later.UUID {
		t.Fatalf("after a new event: %v", uuids(c.events))
	}
	// The LogEvent shape: User targets with their id.
	ev := getLogs(t, org, "/api/v1/logs?sortOrder=ASCENDING&limit=1&since="+url.QueryEscape(since)).events[0]
	target := ev["target"].([]any)[0].(map[string]any)
	if target["id"] != "00u1" || target["type"] != "User" || ev["eventType"] != "user.lifecycle.deactivate" || ev["published"] == nil {
		t.Fatalf("event %v", ev)
	}
}

// TestLogsBoundedRequestsAndValidation: with `until`, the last page has no
// next link; limit is 1 to 1000; a bad filter or cursor is refused.
func TestLogsBoundedRequestsAndValidation(t *testing.T) {
	org := oktaapi.New(t, oktaapi.WithSSWSToken("t"))
	for range 3 {
		org.Publish("user.lifecycle.create", "00u1")
	}
	until := time.Now().Add(time.Minute).UTC().Format(time.RFC3339)
	c := getLogs(t, org, "/api/v1/logs?limit=2&until="+until)
	if len(c.events) != 2 || c.next == "" {
		t.Fatalf("first bounded page: %d events, next %q", len(c.events), c.next)
	}
	if c = getLogs(t, org, c.next); len(c.events) != 1 || c.next != "" {
		t.Fatalf("last bounded page: %d events, next %q", len(c.events), c.next)
	}
	for _, bad := range []string{"limit=0", "limit=1001", "sortOrder=UP", "after=nonsense", "since=yesterday", "filter=" + url.QueryEscape(`eventType eq`)} {
		if c := getLogs(t, org, "/api/v1/logs?"+bad); c.status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", bad, c.status)
		}
	}
}

// TestLogsRateLimitAndFaults: the /logs bucket counts calls with Okta's
// headers; FailLogsCall breaks a chosen call with a 429 whose Reset is in
// the future, or a body cut short by a reset connection.
func TestLogsRateLimitAndFaults(t *testing.T) {
	org := oktaapi.New(t, oktaapi.WithSSWSToken("t"), oktaapi.WithLogsRateLimit(3), oktaapi.WithWindow(time.Hour))
	org.Publish("user.lifecycle.create", "00u1")
	c := getLogs(t, org, "/api/v1/logs")
	if c.header.Get("X-Rate-Limit-Limit") != "3" || c.header.Get("X-Rate-Limit-Remaining") != "2" || c.header.Get("X-Rate-Limit-Reset") == "" {
		t.Fatalf("rate headers %v", c.header)
	}
	org.FailLogsCall(1, oktaapi.LogRateLimited)
	c = getLogs(t, org, "/api/v1/logs")
	reset, _ := strconv.ParseInt(c.header.Get("X-Rate-Limit-Reset"), 10, 64)
	if c.status != http.StatusTooManyRequests || c.header.Get("X-Rate-Limit-Remaining") != "0" || !time.Unix(reset, 0).After(time.Now()) {
		t.Fatalf("injected 429: status %d, headers %v", c.status, c.header)
	}
	org.FailLogsCall(1, oktaapi.LogTruncated)
	req, _ := http.NewRequest(http.MethodGet, org.URL()+"/api/v1/logs", nil)
	req.Header.Set("Authorization", "SSWS t")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(resp.Body); err == nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("truncated page: status %d, read error %v", resp.StatusCode, err)
	}
	_ = resp.Body.Close()
	for range 3 {
		getLogs(t, org, "/api/v1/logs")
	}
	if c := getLogs(t, org, "/api/v1/logs"); c.status != http.StatusTooManyRequests {
		t.Fatalf("a spent bucket answered %d", c.status)
	}
	org.SetLogsForbidden(true)
	if c := getLogs(t, org, "/api/v1/logs"); c.status != http.StatusForbidden {
		t.Fatalf("forbidden: %d", c.status)
	}
}
