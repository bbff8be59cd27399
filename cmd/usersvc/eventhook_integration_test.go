package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/usersvc/usersvc/testsupport/oktaapi"
	"github.com/usersvc/usersvc/testsupport/syncbuffer"
)

// hookDelivery is an Okta event-hook POST body in the shape Okta's Event
// Hooks docs give (https://developer.okta.com/docs/concepts/event-hooks/,
// guide "Event hook implementation"): the envelope, then data.events, each
// with a uuid, published, eventType and User targets by Okta id.
func hookDelivery(uuid, eventType, published, oktaID, login string) string {
	return fmt.Sprintf(`{"eventType":"com.okta.event_hook","eventTypeVersion":"1.0","cloudEventsVersion":"0.1",
		"source":"https://example.okta.com/api/v1/eventHooks/whoql0HfiLGPWc8Jx0g3","eventId":"evt-%s",
		"eventTime":%q,"contentType":"application/json",
		"data":{"events":[{"uuid":%q,"published":%q,"eventType":%q,"version":"0","severity":"INFO",
			"displayMessage":"lifecycle change","actor":{"id":"00uadmin","type":"User","alternateId":"admin@example.com"},
			"target":[{"id":%q,"type":"User","alternateId":%q,"displayName":"Someone"}]}]}}`,
		uuid, published, uuid, published, eventType, oktaID, login)
}

func postHook(t *testing.T, addr, secret, body string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/okta/event-hooks", strings.NewReader(body))
	req.Header.Set("Authorization", secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// isActive reads the user's is_active through GET /user/<id>.
func isActive(t *testing.T, addr, id string) bool {
	t.Helper()
	return userAs[struct {
		IsActive bool `json:"is_active"`
	}](t, "http://"+addr, id).IsActive
}

// TestBinaryOktaEventHooks: the org deactivates a person already in the
// graph and Okta delivers the event (twice: delivery is at least once); the
// directory's first answer fails. The node becomes inactive, the event is
// applied once. Then deliveries arrive out of order (Okta does not
// guarantee order): a deactivate published before an activate arrives
// after it, and the node ends as the directory has the person now.
func TestBinaryOktaEventHooks(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	const secret = "hook-secret-for-the-binary-test"
	org := oktaapi.New(t, oktaapi.WithSSWSToken("00ssws"))
	ada := oktaapi.NewUser("00uada", "ada@example.com", "ada@example.com", "Ada", "Lovelace", "ACTIVE")
	bob := oktaapi.NewUser("00ubob", "bob@example.com", "bob@example.com", "Bob", "Kahn", "ACTIVE")
	org.AddUsers(ada, bob)
	logs := &syncbuffer.Buffer{}
	metricsAddr := freePort(t)
	env := append([]string{"AUTH_DISABLED=true", "EMBEDDED_DB_PATH=" + filepath.Join(t.TempDir(), "usersvc.db"),
		"METRICS_ADDR=" + metricsAddr, "OKTA_EVENT_HOOK_SECRET=" + secret}, oktaEnv(org)...)
	addr := startLoggedBinary(t, logs, env...)

	// Both are in the graph, active.
	if !isActive(t, addr, "ada@example.com") || !isActive(t, addr, "bob@example.com") {
		t.Fatal("people not active at first")
	}
	byID := func(id string) func(oktaapi.Request) bool {
		return func(r oktaapi.Request) bool { return r.Method == http.MethodGet && r.Path == "/api/v1/users/"+id }
	}

	// Verification handshake, and a wrong secret.
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/okta/event-hooks", nil)
	req.Header.Set("Authorization", secret)
	req.Header.Set("X-Okta-Verification-Challenge", "chal-123")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&v)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || v["verification"] != "chal-123" {
		t.Fatalf("verification = %d %v", resp.StatusCode, v)
	}
	if code := postHook(t, addr, "wrong", hookDelivery("u-0", "user.lifecycle.deactivate", "2026-03-01T10:00:00.000Z", "00uada", "ada@example.com")); code != http.StatusUnauthorized {
		t.Fatalf("wrong secret = %d, want 401", code)
	}

	// Ada is deactivated in Okta; Okta's next answer fails (5xx).
	ada.Status = "DEPROVISIONED"
	org.AddUsers(ada)
	org.FailNext(1, http.StatusInternalServerError)
	deactivate := hookDelivery("u-1", "user.lifecycle.deactivate", "2026-03-01T10:00:00.000Z", "00uada", "ada@example.com")
	for range 2 {
		if code := postHook(t, addr, secret, deactivate); code != http.StatusOK {
			t.Fatalf("delivery = %d, want 200", code)
		}
	}
	waitUntil(t, "ada inactive", func() bool { return !isActive(t, addr, "ada@example.com") })
	if n := org.Count(byID("00uada")); n != 2 {
		t.Fatalf("reads of ada by id = %d, want 2 (the failed one, then its retry; the duplicate none)", n)
	}
	families, _ := scrape(t, metricsAddr)
	labels := func(outcome string) map[string]string {
		return map[string]string{"event_type": "user.lifecycle.deactivate", "outcome": outcome}
	}
	if a, d := value(families, "usersvc_okta_event_hook_events_total", labels("applied")), value(families, "usersvc_okta_event_hook_events_total", labels("duplicate")); a != 1 || d != 1 {
		t.Fatalf("applied %v, duplicate %v; want 1 and 1", a, d)
	}
	waitUntil(t, "the hook's audit record", func() bool {
		return strings.Contains(logs.String(), `"event":"user_deactivated"`) && strings.Contains(logs.String(), `"source":"hook"`)
	})
	if strings.Contains(logs.String(), secret) {
		t.Fatal("the hook secret reached the logs")
	}

	// Bob was suspended, then unsuspended: Okta has him ACTIVE now. The
	// unsuspend is delivered first, the suspend (published earlier) after.
	before := org.Count(byID("00ubob"))
	if code := postHook(t, addr, secret, hookDelivery("u-3", "user.lifecycle.unsuspend", "2026-03-01T11:00:05.000Z", "00ubob", "bob@example.com")); code != http.StatusOK {
		t.Fatalf("delivery = %d", code)
	}
	if code := postHook(t, addr, secret, hookDelivery("u-2", "user.lifecycle.suspend", "2026-03-01T11:00:00.000Z", "00ubob", "bob@example.com")); code != http.StatusOK {
		t.Fatalf("delivery = %d", code)
	}
	waitUntil(t, "both of bob's events handled", func() bool {
		f, _ := scrape(t, metricsAddr)
		n := 0.0
		for _, typ := range []string{"user.lifecycle.suspend", "user.lifecycle.unsuspend"} {
			for _, o := range []string{"applied", "unchanged", "failed"} {
				n += value(f, "usersvc_okta_event_hook_events_total", map[string]string{"event_type": typ, "outcome": o})
			}
		}
		return n == 2
	})
	if org.Count(byID("00ubob"))-before != 2 {
		t.Fatal("each of bob's events should re-read him once")
	}
	if !isActive(t, addr, "bob@example.com") {
		t.Fatal("bob ended inactive; the directory has him ACTIVE")
	}

	// Deleted from Okta: the node is deactivated, never deleted.
	org.DeleteUsers("00ubob")
	if code := postHook(t, addr, secret, hookDelivery("u-4", "user.lifecycle.delete.initiated", "2026-03-01T12:00:00.000Z", "00ubob", "bob@example.com")); code != http.StatusOK {
		t.Fatalf("delivery = %d", code)
	}
	waitUntil(t, "bob inactive after deletion", func() bool { return !isActive(t, addr, "bob@example.com") })
}

// waitUntil polls cond for at most 20 s (a loaded 2-core machine).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
