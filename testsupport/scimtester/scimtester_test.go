package scimtester

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usersvc/usersvc/testsupport/amundsen"
)

// venvPython builds (once) the scim2-tester virtualenv. Only a machine with
// no python3 at all skips; a failed build fails the test.
func venvPython(t *testing.T) string {
	t.Helper()
	if _, err := amundsen.Python(); errors.Is(err, amundsen.ErrNoPython) {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	python, err := amundsen.EnsureSCIMTesterVenv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return python
}

const (
	userSchema = "urn:ietf:params:scim:schemas:core:2.0:User"
	errSchema  = "urn:ietf:params:scim:api:messages:2.0:Error"
	listSchema = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
)

// discoveryServer is the least SCIM service that passes scim2-tester's
// discovery checks: a ServiceProviderConfig (PATCH unsupported), one
// ResourceType (User) and its Schema (userName, displayName), 405 for
// writes to those three, a SCIM 404 for anything else (so every /Users
// check fails). Every request must carry "Authorization: Bearer <token>";
// a 401 echoes the presented credentials in its detail, so that the
// runner's redaction is exercised.
type discoveryServer struct {
	*httptest.Server
	token string

	mu     sync.Mutex
	auths  []string // the Authorization header of every request, in order
	denied int
}

func newDiscoveryServer(t *testing.T, token string) *discoveryServer {
	s := &discoveryServer{token: token}
	resourceType := map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:ResourceType"},
		"id":       "User",
		"name":     "User",
		"endpoint": "/Users",
		"schema":   userSchema,
		"meta":     map[string]any{"resourceType": "ResourceType"},
	}
	attr := func(name string, required bool) map[string]any {
		return map[string]any{
			"name": name, "type": "string", "multiValued": false, "required": required,
			"caseExact": false, "mutability": "readWrite", "returned": "default", "uniqueness": "none",
		}
	}
	schema := map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:schemas:core:2.0:Schema"},
		"id":         userSchema,
		"name":       "User",
		"attributes": []any{attr("userName", true), attr("displayName", false)},
		"meta":       map[string]any{"resourceType": "Schema"},
	}
	list := func(items ...any) map[string]any {
		return map[string]any{"schemas": []string{listSchema}, "totalResults": len(items), "Resources": items}
	}
	routes := map[string]any{
		"/scim/v2/ServiceProviderConfig": map[string]any{
			"schemas":        []string{"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"},
			"patch":          map[string]any{"supported": false},
			"bulk":           map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
			"filter":         map[string]any{"supported": false, "maxResults": 0},
			"changePassword": map[string]any{"supported": false},
			"sort":           map[string]any{"supported": false},
			"etag":           map[string]any{"supported": false},
		},
		"/scim/v2/ResourceTypes":         list(resourceType),
		"/scim/v2/ResourceTypes/User":    resourceType,
		"/scim/v2/Schemas":               list(schema),
		"/scim/v2/Schemas/" + userSchema: schema,
	}
	write := func(w http.ResponseWriter, status int, body any) {
		w.Header().Set("Content-Type", "application/scim+json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	}
	scimError := func(w http.ResponseWriter, status int, detail string) {
		write(w, status, map[string]any{"schemas": []string{errSchema}, "status": strconv.Itoa(status), "detail": detail})
	}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		s.mu.Lock()
		s.auths = append(s.auths, auth)
		ok := auth == "Bearer "+s.token
		if !ok {
			s.denied++
		}
		s.mu.Unlock()
		if !ok {
			scimError(w, http.StatusUnauthorized, "not allowed with "+auth)
			return
		}
		body, found := routes[r.URL.Path]
		switch {
		case !found:
			scimError(w, http.StatusNotFound, "no such resource")
		case r.Method != http.MethodGet:
			scimError(w, http.StatusMethodNotAllowed, "read only")
		default:
			write(w, http.StatusOK, body)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *discoveryServer) seen() (auths []string, denied int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.auths), s.denied
}

// results indexes checks by Key, each with the statuses of its results.
func results(checks []Check) map[string][]Status {
	m := map[string][]Status{}
	for _, c := range checks {
		m[c.Key()] = append(m[c.Key()], c.Status)
	}
	return m
}

// TestRunDiscovery runs the real scim2-tester against discoveryServer: the
// bearer token reaches every request, the discovery checks pass, the
// /Users checks are reported as failures (the server has no users), and
// Failures excuses exactly what an exception list names.
func TestRunDiscovery(t *testing.T) {
	python := venvPython(t)
	const token = "t0ken-Discovery-7c1f"
	srv := newDiscoveryServer(t, token)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	checks, err := Run(ctx, python, srv.URL+"/scim/v2", token)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range checks {
		t.Log(c)
	}

	auths, denied := srv.seen()
	if len(auths) == 0 || denied != 0 {
		t.Fatalf("server saw %d requests, %d without the bearer token: %q", len(auths), denied, auths)
	}

	got := results(checks)
	for key, want := range map[string]int{ // results expected, all SUCCESS
		"service_provider_config_endpoint":         1,
		"service_provider_config_endpoint_methods": 4,
		"query_all_resource_types":                 1,
		"query_resource_type_by_id":                1,
		"resource_types_schema_validation":         1,
		"access_invalid_resource_type":             1,
		"resource_types_endpoint_methods":          4,
		"query_all_schemas":                        1,
		"access_schema_by_id":                      1,
		"access_invalid_schema":                    1,
		"schemas_endpoint_methods":                 4,
		"random_url":                               1,
	} {
		if st := got[key]; len(st) != want || slices.ContainsFunc(st, func(s Status) bool { return s != Success }) {
			t.Errorf("%s: got %v, want %d × SUCCESS", key, st, want)
		}
	}
	// PATCH is declared unsupported: skipped, and not a failure.
	for _, key := range []string{"User/check_add_attribute", "User/check_remove_attribute", "User/check_replace_attribute"} {
		if st := got[key]; !slices.Equal(st, []Status{Skipped}) {
			t.Errorf("%s: got %v, want [SKIPPED]", key, st)
		}
	}
	// Every /Users operation answers 404: failures, each with a reason.
	userCRUD := []string{"object_creation", "object_query", "object_query_without_id",
		"object_query_with_attributes", "object_list_with_attributes", "search_with_attributes",
		"object_replacement", "object_deletion"}
	failures := Failures(checks, nil)
	var failed []string
	for _, c := range failures {
		if c.ResourceType != "User" || c.Reason == "" {
			t.Errorf("unexpected failure %v", c)
		}
		if !slices.Contains(failed, c.Title) {
			failed = append(failed, c.Title)
		}
	}
	slices.Sort(failed)
	slices.Sort(userCRUD)
	if !slices.Equal(failed, userCRUD) {
		t.Errorf("failed checks %v, want %v", failed, userCRUD)
	}
	for _, c := range failures {
		if c.Description == "" || len(c.Tags) == 0 {
			t.Errorf("failure without description or tags: %+v", c)
		}
	}

	// An exception list, by Key or by Title, excuses exactly what it names.
	allowed := map[string]string{}
	for i, title := range userCRUD {
		if i%2 == 0 {
			allowed["User/"+title] = "no users in this server"
		} else {
			allowed[title] = "no users in this server"
		}
	}
	if left := Failures(checks, allowed); len(left) != 0 {
		t.Errorf("Failures with every failing check allowed: %v", left)
	}
	delete(allowed, "User/object_creation")
	if left := Failures(checks, allowed); len(left) != 1 || left[0].Key() != "User/object_creation" {
		t.Errorf("Failures without object_creation allowed: %v", left)
	}
	delete(allowed, "object_query")
	allowed["Group/object_query"] = "another resource type"
	if left := Failures(checks, allowed); len(left) != 2 {
		t.Errorf("Failures with object_query allowed for Group only: %v", left)
	}

	b, _ := json.Marshal(checks)
	if strings.Contains(string(b), token) {
		t.Error("the results hold the token")
	}
}

// TestRunWrongToken: with a token the server refuses, nothing passes, the
// server saw that token as a bearer token, and the results, which hold the
// server's 401 echoing it, show it only redacted.
func TestRunWrongToken(t *testing.T) {
	python := venvPython(t)
	srv := newDiscoveryServer(t, "the-right-one")
	const wrong = `wrong-t0ken-"quoted"`
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	checks, err := Run(ctx, python, srv.URL+"/scim/v2", wrong)
	if err != nil {
		t.Fatal(err)
	}
	auths, denied := srv.seen()
	if len(auths) == 0 || denied != len(auths) {
		t.Fatalf("server saw %d requests, %d refused", len(auths), denied)
	}
	for _, a := range auths {
		if a != "Bearer "+wrong {
			t.Fatalf("server saw Authorization %q", a)
		}
	}
	for _, c := range checks {
		if c.Status == Success {
			t.Errorf("passed with a refused token: %v", c)
		}
	}
	got := results(checks)
	if st := got["service_provider_config_endpoint"]; !slices.Equal(st, []Status{Error}) {
		t.Errorf("service_provider_config_endpoint: %v, want [ERROR]", st)
	}
	if len(Failures(checks, nil)) == 0 {
		t.Error("no failures with a refused token")
	}
	var all strings.Builder
	for _, c := range checks {
		all.WriteString(c.Title + c.Reason + c.Description + string(c.Data) + "\n")
	}
	s := all.String()
	if strings.Contains(s, "wrong-t0ken") {
		t.Errorf("the results hold the token: %s", s)
	}
	if !strings.Contains(s, "not allowed with Bearer <redacted>") {
		t.Errorf("the server's 401 detail is not in the results, redacted: %s", s)
	}
}

// TestRunKilledWithContext: a server that never answers holds the runner
// until ctx ends; Run then kills it and returns promptly with ctx's error.
func TestRunKilledWithContext(t *testing.T) {
	python := venvPython(t)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	checks, err := Run(ctx, python, srv.URL+"/scim/v2", "tok")
	elapsed := time.Since(start)
	if err == nil {
		t.Fatalf("Run returned %d checks, no error", len(checks))
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error is not the context's: %v", err)
	}
	// The runner's own HTTP timeout is 30s: returning well before it means
	// the process was killed.
	if elapsed > 15*time.Second {
		t.Errorf("Run took %s after a 3s context", elapsed)
	}
}

func TestRunRefusesOtherHosts(t *testing.T) {
	for _, u := range []string{
		"http://192.0.2.1/scim/v2", "https://example.com/scim/v2", "http://10.0.0.1:8080",
		"http://127.0.0.1.example.com/", "ftp://127.0.0.1/", "http://user:pw@127.0.0.1/", "127.0.0.1:80",
	} {
		if _, err := Run(context.Background(), "/nonexistent/python", u, "tok"); err == nil || !strings.Contains(err.Error(), "scimtester:") {
			t.Errorf("%s: %v", u, err)
		}
	}
	for _, u := range []string{"http://127.0.0.1:1/scim/v2", "http://[::1]:8080/", "https://localhost/scim/v2", "http://127.3.4.5/"} {
		if err := loopback(u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	if _, err := Run(context.Background(), "/nonexistent/python", "http://127.0.0.1:1/", "two\nlines"); err == nil {
		t.Error("a token with a newline was accepted")
	}
}

func TestStatusFailed(t *testing.T) {
	for s, want := range map[Status]bool{
		Success: false, Compliant: false, Acceptable: false, Skipped: false,
		Deviation: true, Error: true, Critical: true, "SOMETHING_NEW": true, "": true,
	} {
		if got := s.Failed(); got != want {
			t.Errorf("%q.Failed() = %v, want %v", s, got, want)
		}
	}
}

func TestTailRedacted(t *testing.T) {
	const secret = "s3cr3t-token"
	tl := &tail{max: 64}
	_, _ = tl.Write([]byte("short " + secret + " line\n"))
	if got := tl.redacted(secret); got != "short <redacted> line\n" {
		t.Errorf("got %q", got)
	}
	// Long output: only the tail is kept, and no piece of a secret that the
	// cut split survives.
	for i := 0; i < 50; i++ {
		_, _ = tl.Write([]byte(secret + "."))
	}
	got := tl.redacted(secret)
	if !strings.HasPrefix(got, "...") || len(got) > 3+64 {
		t.Errorf("got %q", got)
	}
	if rest := strings.NewReplacer("<redacted>", "", ".", "").Replace(got); rest != "" {
		t.Errorf("a piece of the secret is left: %q in %q", rest, got)
	}
	if !strings.HasSuffix(got, "<redacted>.") {
		t.Errorf("tail lost: %q", got)
	}
	// Every cut position: nothing of the secret survives.
	for n := 1; n < 40; n++ {
		tl := &tail{max: 16}
		_, _ = tl.Write([]byte(strings.Repeat("x", n)))
		for i := 0; i < 4; i++ {
			_, _ = tl.Write([]byte(secret + "."))
		}
		got := tl.redacted(secret)
		for i := 0; i+3 <= len(secret); i++ {
			if piece := secret[i : i+3]; strings.Contains(got, piece) {
				t.Errorf("n=%d: a piece of the secret is left: %q in %q", n, piece, got)
			}
		}
	}
}
