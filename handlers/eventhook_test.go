package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usersvc/usersvc/handlers"
	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/oidcuser/file"
	"github.com/usersvc/usersvc/proxy/embedded"
	"github.com/usersvc/usersvc/schema"
)

// The payloads below follow Okta's Event Hooks documentation
// (https://developer.okta.com/docs/concepts/event-hooks/ and the guide
// "Event hook implementation"): a one-time GET carrying
// X-Okta-Verification-Challenge, answered {"verification": <value>}; then
// POSTs of {"eventType":"com.okta.event_hook", ..., "data":{"events":[...]}}
// whose events carry a uuid, an eventType and targets; the secret arrives
// in the header the hook is configured with ("Authentication field").

const hookSecret = "s3cret-hook-value-0123456789"

// refuseAll is an OIDC authenticator refusing every token: the hook route
// must not depend on it.
type refuseAll struct{}

func (refuseAll) Authenticate(context.Context, string) (schema.Principal, error) {
	return schema.Principal{}, schema.Errorf(schema.KindUnauthorized, "no")
}

// recordingSink records what the handler hands on.
type recordingSink struct {
	mu     sync.Mutex
	events [][]schema.HookEvent
	err    error
}

func (s *recordingSink) SubmitHookEvents(evs []schema.HookEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.events = append(s.events, evs)
	return nil
}

func (s *recordingSink) calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events)
}

func hookServer(t *testing.T, header string, sink handlers.EventSink) http.Handler {
	t.Helper()
	store, err := embedded.Open(filepath.Join(t.TempDir(), "usersvc.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return handlers.New(handlers.Deps{
		Users: oidcuser.NewResolver(store, oidcuser.ResolverConfig{}), Store: store,
		Auth:      handlers.AuthConfig{Authenticator: refuseAll{}},
		EventHook: &handlers.EventHookConfig{Header: header, Secret: hookSecret, Sink: sink},
	})
}

func hookCall(h http.Handler, method, body string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, handlers.EventHookPath, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// delivery builds an Okta event-hook payload; each event is
// uuid/eventType/target id.
func delivery(events ...[3]string) string {
	var evs []string
	for _, e := range events {
		evs = append(evs, fmt.Sprintf(`{"uuid":%q,"published":"2026-03-01T00:00:00.000Z","eventType":%q,"version":"0",
			"displayMessage":"x","severity":"INFO","actor":{"id":"00uadmin","type":"User"},
			"target":[{"id":%q,"type":"User","alternateId":"someone@example.com","displayName":"Some One"}]}`, e[0], e[1], e[2]))
	}
	return `{"eventType":"com.okta.event_hook","eventTypeVersion":"1.0","cloudEventsVersion":"0.1",
		"source":"https://example.okta.com/api/v1/eventHooks/who8","eventId":"GOsk2",
		"eventTime":"2026-03-01T00:00:01.000Z","contentType":"application/json",
		"data":{"events":[` + strings.Join(evs, ",") + `]}}`
}

func wantJSONStatus(t *testing.T, w *httptest.ResponseRecorder, status int) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status = %d %s, want %d", w.Code, w.Body, status)
	}
	if status >= 400 {
		var m map[string]string
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil || m["message"] == "" {
			t.Fatalf("error body %q is not {\"message\": ...}", w.Body)
		}
	}
}

func TestEventHookAuthentication(t *testing.T) {
	sink := &recordingSink{}
	h := hookServer(t, "X-Okta-Hook-Secret", sink)
	body := delivery([3]string{"e1", "user.lifecycle.deactivate", "00u1"})
	refused := map[string][]string{
		"missing":               nil,
		"wrong":                 {"X-Okta-Hook-Secret", "nope"},
		"last byte differs":     {"X-Okta-Hook-Secret", hookSecret[:len(hookSecret)-1] + "X"},
		"prefix":                {"X-Okta-Hook-Secret", hookSecret[:5]},
		"longer":                {"X-Okta-Hook-Secret", hookSecret + "x"},
		"in another header":     {"Authorization", hookSecret},
		"bearer of the secret":  {"X-Okta-Hook-Secret", "Bearer " + hookSecret},
		"sent twice":            {"X-Okta-Hook-Secret", hookSecret, "X-Okta-Hook-Secret", hookSecret},
		"empty":                 {"X-Okta-Hook-Secret", ""},
		"case of value differs": {"X-Okta-Hook-Secret", strings.ToUpper(hookSecret)},
	}
	for name, hdr := range refused {
		t.Run(name, func(t *testing.T) {
			wantJSONStatus(t, hookCall(h, http.MethodPost, body, hdr...), http.StatusUnauthorized)
			wantJSONStatus(t, hookCall(h, http.MethodGet, "", append(hdr, "X-Okta-Verification-Challenge", "c")...), http.StatusUnauthorized)
		})
	}
	if n := sink.calls(); n != 0 {
		t.Fatalf("refused deliveries reached the queue %d times", n)
	}
	// The right secret, whatever the header name's case; OIDC (refusing
	// everything here) is not consulted.
	wantJSONStatus(t, hookCall(h, http.MethodPost, body, "x-okta-hook-secret", hookSecret), http.StatusOK)
	if n := sink.calls(); n != 1 {
		t.Fatalf("accepted delivery queued %d times, want 1", n)
	}
	// Every other route still needs a bearer token.
	wantJSONStatus(t, hookCall(h, http.MethodGet, ""), http.StatusUnauthorized)
	req := httptest.NewRequest(http.MethodGet, "/user", nil)
	req.Header.Set("X-Okta-Hook-Secret", hookSecret)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	wantJSONStatus(t, w, http.StatusUnauthorized)
}

func TestEventHookVerification(t *testing.T) {
	h := hookServer(t, "", &recordingSink{}) // default header: Authorization
	w := hookCall(h, http.MethodGet, "", "Authorization", hookSecret, "X-Okta-Verification-Challenge", "2ZvtlNMiGm4CgCrU6QFhc1z5JUxjKCtc")
	wantJSONStatus(t, w, http.StatusOK)
	if got := strings.TrimSpace(w.Body.String()); got != `{"verification":"2ZvtlNMiGm4CgCrU6QFhc1z5JUxjKCtc"}` {
		t.Fatalf("verification body = %s", got)
	}
	wantJSONStatus(t, hookCall(h, http.MethodGet, "", "Authorization", hookSecret), http.StatusBadRequest)
}

func TestEventHookPayloadValidation(t *testing.T) {
	sink := &recordingSink{}
	h := hookServer(t, "", sink)
	bad := map[string]string{
		"not JSON":         `{"eventType":`,
		"trailing garbage": delivery() + `x`,
		"no data":          `{"eventType":"com.okta.event_hook"}`,
		"events not array": `{"data":{"events":{}}}`,
		"event no uuid":    `{"data":{"events":[{"eventType":"user.lifecycle.activate","target":[]}]}}`,
		"target no id":     `{"data":{"events":[{"uuid":"u","eventType":"user.lifecycle.activate","target":[{"type":"User"}]}]}}`,
		"control in id":    `{"data":{"events":[{"uuid":"u","eventType":"user.lifecycle.activate","target":[{"id":"00u\u0001","type":"User"}]}]}}`,
	}
	for name, body := range bad {
		t.Run(name, func(t *testing.T) {
			wantJSONStatus(t, hookCall(h, http.MethodPost, body, "Authorization", hookSecret), http.StatusBadRequest)
		})
	}
	if n := sink.calls(); n != 0 {
		t.Fatalf("refused payloads reached the queue %d times", n)
	}
	// Targets that are not users are left out; the event itself goes on.
	body := `{"data":{"events":[{"uuid":"g1","eventType":"group.user_membership.add","target":[{"id":"00g1","type":"UserGroup"},{"id":"00u9","type":"User"}]}]}}`
	wantJSONStatus(t, hookCall(h, http.MethodPost, body, "Authorization", hookSecret), http.StatusOK)
	if got := sink.events[0][0]; got.Type != "group.user_membership.add" || len(got.UserIDs) != 1 || got.UserIDs[0] != "00u9" {
		t.Fatalf("event = %+v", got)
	}
	// The queue's refusal is a 503 with Retry-After.
	sink.err = oidcuser.ErrHooksBusy
	w := hookCall(h, http.MethodPost, delivery([3]string{"e2", "user.lifecycle.activate", "00u1"}), "Authorization", hookSecret)
	wantJSONStatus(t, w, http.StatusServiceUnavailable)
	if w.Header().Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
}

// countingDir counts reads by id over a file directory.
type countingDir struct {
	inner oidcuser.IDLookup
	reads atomic.Int64
}

func (d *countingDir) LookupByID(ctx context.Context, id string) (schema.User, error) {
	d.reads.Add(1)
	return d.inner.LookupByID(ctx, id)
}

type hookCounts struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *hookCounts) HookEvent(eventType, outcome string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[eventType+" "+outcome]++
}

func (c *hookCounts) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[k]
}

// processorEnv is the handler over the real processor and a file
// directory holding one deprovisioned person.
func processorEnv(t *testing.T, queue int, run bool) (http.Handler, *embedded.Store, *countingDir, *hookCounts, *oidcuser.EventHooks) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "people.json")
	people := `[{"id":"00u1","status":"DEPROVISIONED","lastUpdated":"2026-03-01T00:00:00.000Z",
		"profile":{"login":"ada@example.com","email":"ada@example.com","firstName":"Ada","lastName":"Lovelace"}}]`
	if err := os.WriteFile(path, []byte(people), 0o600); err != nil {
		t.Fatal(err)
	}
	file, err := file.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	store, err := embedded.Open(filepath.Join(t.TempDir(), "usersvc.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	dir := &countingDir{inner: file}
	counts := &hookCounts{n: map[string]int{}}
	hooks := oidcuser.NewEventHooks(dir, store, oidcuser.EventHooksConfig{QueueSize: queue, Observer: counts})
	if run {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); hooks.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	h := handlers.New(handlers.Deps{
		Users: oidcuser.NewResolver(store, oidcuser.ResolverConfig{}), Store: store,
		EventHook: &handlers.EventHookConfig{Secret: hookSecret, Sink: hooks},
	})
	return h, store, dir, counts, hooks
}

// waitFor polls cond for at most 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestEventHookDedupeAndIgnoredTypes(t *testing.T) {
	h, store, dir, counts, _ := processorEnv(t, 10, true)
	body := delivery([3]string{"dup-1", "user.lifecycle.deactivate", "00u1"}, [3]string{"x-1", "user.session.start", "00u1"})
	for range 2 {
		wantJSONStatus(t, hookCall(h, http.MethodPost, body, "Authorization", hookSecret), http.StatusOK)
	}
	waitFor(t, "the event applied", func() bool { return counts.get("user.lifecycle.deactivate applied") == 1 })
	if n := dir.reads.Load(); n != 1 {
		t.Fatalf("directory reads = %d, want 1 (the second delivery is a duplicate)", n)
	}
	if counts.get("user.lifecycle.deactivate duplicate") != 1 || counts.get("other ignored") != 2 {
		t.Fatalf("counts = %v", counts.n)
	}
	u, err := store.GetUser(context.Background(), "ada@example.com")
	if err != nil || u.IsActive || u.OtherKeyValues["okta_id"] != "00u1" {
		t.Fatalf("node = %+v, %v; want inactive, okta_id 00u1", u, err)
	}
}

func TestEventHookQueueFullAnswers503AndForgetsNothing(t *testing.T) {
	h, _, dir, counts, hooks := processorEnv(t, 1, false)
	// The worker is not running: the queue holds one event.
	two := delivery([3]string{"q-1", "user.lifecycle.activate", "00u1"}, [3]string{"q-2", "user.lifecycle.suspend", "00u1"})
	w := hookCall(h, http.MethodPost, two, "Authorization", hookSecret)
	wantJSONStatus(t, w, http.StatusServiceUnavailable)
	if w.Header().Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	if counts.get("user.lifecycle.activate rejected") != 1 || counts.get("user.lifecycle.suspend rejected") != 1 {
		t.Fatalf("counts = %v", counts.n)
	}
	// Nothing of the refused delivery was queued or remembered: one of its
	// events fits now and is accepted (not a duplicate).
	one := delivery([3]string{"q-1", "user.lifecycle.activate", "00u1"})
	wantJSONStatus(t, hookCall(h, http.MethodPost, one, "Authorization", hookSecret), http.StatusOK)
	if counts.get("user.lifecycle.activate duplicate") != 0 {
		t.Fatal("a refused event's uuid was remembered")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hooks.Close()
	hooks.Run(ctx) // drains the one event, then returns
	if n := dir.reads.Load(); n != 1 {
		t.Fatalf("directory reads = %d, want 1", n)
	}
	// Closed: deliveries are refused, for Okta to retry.
	wantJSONStatus(t, hookCall(h, http.MethodPost, delivery([3]string{"q-3", "user.lifecycle.activate", "00u1"}), "Authorization", hookSecret), http.StatusServiceUnavailable)
}
