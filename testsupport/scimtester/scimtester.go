// Package scimtester runs scim2-tester 0.5.2 (PyPI; python-scim's SCIM
// RFC 7643/7644 compliance checker) against a SCIM endpoint on loopback and
// returns its results. The interpreter is the virtualenv of
// amundsen.EnsureSCIMTesterVenv (testsupport/amundsen/requirements-scim.txt).
// run_checks.py, embedded here, builds scim2-client's httpx2 engine on the
// base URL with an "Authorization: Bearer" header and calls
// scim2_tester.check_server with no tag or resource type filter, so every
// check runs, those that create, replace, patch and delete resources too.
//
// # What scim2-tester 0.5.2 checks
//
// Read from its source. Check.Title is the checker's function name; one
// checker may report several results (one per HTTP method, schema, resource
// type or attribute), each with its own status. Every request goes through
// scim2-client, which fails the check (ERROR, the exception's text as the
// reason) when a response with a body has a Content-Type other than
// application/scim+json or application/json; when a non-2xx response
// carries no SCIM Error (schemas exactly
// ["urn:ietf:params:scim:api:messages:2.0:Error"]); when the status code is
// not one the operation allows; or when the body does not validate as the
// SCIM object expected: "schemas" names its type, so every body needs it; a
// resource needs its "id" (returned "always"); an attribute returned
// "never" (password) must be absent; a ListResponse needs totalResults.
//
// Discovery, no ResourceType, in the order run:
//   - service_provider_config_endpoint: GET /ServiceProviderConfig answers
//     200 with a ServiceProviderConfig (no feature block is required).
//   - service_provider_config_endpoint_methods: POST, PUT, PATCH and DELETE
//     on /ServiceProviderConfig answer 405 (the status alone; one result per
//     method).
//   - query_all_resource_types: GET /ResourceTypes answers 200 with a
//     non-empty ListResponse of ResourceType.
//   - query_resource_type_by_id, one per resource type: GET
//     /ResourceTypes/{id} answers 200.
//   - resource_types_schema_validation, one per resource type: GET
//     /Schemas/{its core schema URN} answers 200.
//   - access_invalid_resource_type: GET /ResourceTypes/{random uuid}
//     answers a SCIM Error with status 404.
//   - resource_types_endpoint_methods: as for /ServiceProviderConfig, on
//     /ResourceTypes.
//   - query_all_schemas: GET /Schemas answers 200 with a non-empty
//     ListResponse of Schema.
//   - access_schema_by_id, one per schema: GET /Schemas/{id} answers 200.
//   - access_invalid_schema: GET /Schemas/{random uuid} answers a SCIM Error
//     with status 404.
//   - schemas_endpoint_methods: as for /ServiceProviderConfig, on /Schemas.
//   - service_description: only ever ERROR, when the published schemas and
//     resource types do not compose into resource models (a resource type
//     naming a schema that /Schemas does not publish, say).
//
// The run stops there when GET /ServiceProviderConfig, /ResourceTypes or
// /Schemas failed. Otherwise:
//   - random_url (misc): GET /{random uuid} answers a SCIM Error with status
//     404.
//
// Then, for each resource type that /ResourceTypes publishes and only
// those: a server without a Group resource type gets no Group check at
// all, so nothing to fail. The model checked is built from what the server
// publishes on /Schemas (and the resource type's schemaExtensions), so the
// attributes exercised are the published ones, with the published
// mutability, required and returned characteristics, plus the common
// attribute externalId (readWrite), which every resource model has whether
// /Schemas lists it or not (RFC 7643 schemas do not). Resources are created
// with random values in their required attributes, or in every writable
// one ("all filled" below); what a check creates is deleted afterwards,
// best effort.
//   - object_creation (crud:create): POST /{endpoint} answers 201 with the
//     resource.
//   - object_query (crud:read): GET /{endpoint}/{id} answers 200.
//   - object_query_without_id (crud:read): GET /{endpoint}, without filter,
//     startIndex or count, answers a ListResponse whose (first) page holds
//     the resource just created.
//   - object_query_with_attributes, object_list_with_attributes,
//     search_with_attributes (crud:read:attributes): the model's first two
//     attributes that are returned "default", not readOnly and not required
//     (A and B: externalId, then the first such published attribute, in
//     /Schemas order; B is left out when there is none) are asked for on a
//     resource created
//     all filled, with GET /{endpoint}/{id}, GET /{endpoint}, and POST
//     /.search at the server root (all resource types): once with
//     attributes=A (A must be in the resource), once with
//     excludedAttributes=B (B must not be); in a list the resource must be
//     found by id. SKIPPED when the model has no such attribute;
//     search_with_attributes is SKIPPED when POST /.search answers a SCIM
//     Error with status 501 (404 or anything else is an ERROR).
//   - object_replacement (crud:update): PUT /{endpoint}/{id}, every writable
//     attribute given a new random value (immutable ones kept), answers 200.
//   - object_deletion (crud:delete): DELETE /{endpoint}/{id} answers 204,
//     then GET /{endpoint}/{id} answers a SCIM Error with status 404.
//   - check_add_attribute (patch:add), check_remove_attribute
//     (patch:remove), check_replace_attribute (patch:replace): one PATCH,
//     and one result, per top-level attribute (no sub-attribute paths;
//     extension attributes by their URN path, and each extension as a
//     whole). add: the non-required readWrite, writeOnly and immutable
//     attributes of a minimal resource; remove: the non-required readWrite
//     and writeOnly ones of an all filled resource, less those its creation
//     answer came back without (no result for them: password, returned
//     "never", is never removed); replace: every readWrite and writeOnly
//     one, required ones (userName) too, of a minimal resource. SUCCESS
//     when the PATCH answer (200 with the resource; a 204 is not looked
//     into) and a following GET show exactly the value sent (remove:
//     absent, null or []); a writeOnly attribute (password) need only be
//     accepted. Each of the three reports a single SKIPPED instead when the
//     ServiceProviderConfig has patch.supported false.
//
// Of the ServiceProviderConfig, scim2-tester 0.5.2 reads patch.supported
// (above); scim2-client reads etag.supported, and when it is true sends
// If-Match with the resource's meta.version (or the ETag of the answer that
// created it) on object_replacement's PUT. bulk, filter, sort and
// changePassword are read by nothing: 0.5.2 has no filter, sort, paging,
// bulk, ETag or password-change check.
//
// # Statuses
//
// scim2_tester.Status has SUCCESS (the RFCs' MUSTs are met), COMPLIANT
// (their SHOULDs too), ACCEPTABLE (a MAY, or a reasonable robustness),
// DEVIATION (a SHOULD not followed, still within the RFCs), ERROR (a MUST
// violated), CRITICAL (a security risk or a fundamental protocol violation)
// and SKIPPED (not run: tag filtering, which Run never asks for, a feature
// the server declares or shows unsupported, or nothing to test). The 0.5.2
// checkers report only SUCCESS, ERROR and SKIPPED; an exception inside a
// checker is reported as ERROR. Status.Failed, and so Failures, counts
// ERROR, CRITICAL, DEVIATION and any other value as a failure, not SUCCESS,
// COMPLIANT, ACCEPTABLE or SKIPPED.
package scimtester

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

//go:embed run_checks.py
var runner []byte

// Status is a scim2_tester.Status name.
type Status string

// The statuses of scim2_tester.Status (see the package doc).
const (
	Success    Status = "SUCCESS"
	Compliant  Status = "COMPLIANT"
	Acceptable Status = "ACCEPTABLE"
	Deviation  Status = "DEVIATION"
	Error      Status = "ERROR"
	Critical   Status = "CRITICAL"
	Skipped    Status = "SKIPPED"
)

// Failed tells whether a result with this status is a failure: anything but
// SUCCESS, COMPLIANT, ACCEPTABLE and SKIPPED. DEVIATION (a SHOULD not
// followed) counts as one, so that it is either fixed or listed with a
// reason; an unknown status too. SKIPPED does not: with Run's unfiltered
// run it means a feature the server declares unsupported (PATCH), a search
// of several resource types answered 501, or a model with nothing to
// test, which a test that depends on it must assert itself.
func (s Status) Failed() bool {
	switch s {
	case Success, Compliant, Acceptable, Skipped:
		return false
	}
	return true
}

// Check is one result of scim2-tester.
type Check struct {
	// Title is the checker's name, such as "object_creation".
	Title  string `json:"title"`
	Status Status `json:"status"`
	// Reason says why it failed or how it succeeded (may be empty).
	Reason string `json:"reason"`
	// Description is the first line of the checker's docstring.
	Description string `json:"description"`
	// ResourceType names the resource type the check ran on ("User"), empty
	// for discovery and misc checks.
	ResourceType string   `json:"resource_type"`
	Tags         []string `json:"tags"`
	// Data is what scim2-tester attached for debugging, made JSON-safe:
	// SCIM objects as JSON, HTTP responses as {"status_code", "body"},
	// exceptions as {"exception", "message"}, anything else as its repr.
	// JSON null when there was none.
	Data json.RawMessage `json:"data"`
}

// Key is Title, prefixed with "ResourceType/" when the check ran on a
// resource type: "User/check_add_attribute".
func (c Check) Key() string {
	if c.ResourceType == "" {
		return c.Title
	}
	return c.ResourceType + "/" + c.Title
}

func (c Check) String() string {
	s := c.Key() + " " + string(c.Status)
	if c.Reason != "" {
		s += ": " + c.Reason
	}
	return s
}

// Failures returns the checks whose status Failed and that allowed does not
// excuse. A key of allowed excuses every result of one checker: either its
// Title ("random_url", all resource types) or its Key ("User/check_add_attribute",
// one resource type). The values are the reasons, for the reader; they are
// not compared.
func Failures(checks []Check, allowed map[string]string) []Check {
	var out []Check
	for _, c := range checks {
		if !c.Status.Failed() {
			continue
		}
		if _, ok := allowed[c.Title]; ok {
			continue
		}
		if _, ok := allowed[c.Key()]; ok {
			continue
		}
		out = append(out, c)
	}
	return out
}

// maxStderr bounds the tail of the runner's standard error kept for an
// error.
const maxStderr = 16 << 10

// Run runs every check of scim2-tester against the SCIM service at baseURL
// (such as http://127.0.0.1:PORT/scim/v2; its host must be a loopback
// address or "localhost") with python, an interpreter with scim2-tester
// installed (amundsen.EnsureSCIMTesterVenv). The token goes to the runner
// on its standard input, never on its command line, and is sent as
// "Authorization: Bearer <token>"; the runner writes "<redacted>" wherever
// it would appear in its results, and Run does the same in an error's
// stderr. The run creates, changes and deletes resources on the service.
//
// The checker's failures are results, not errors: Run returns an error only
// when the runner could not run or report (its stderr then in the error).
// The runner is killed, with the process group it leads, when ctx ends.
func Run(ctx context.Context, python, baseURL, token string) ([]Check, error) {
	if err := loopback(baseURL); err != nil {
		return nil, err
	}
	if token == "" || strings.ContainsAny(token, "\r\n") {
		return nil, errors.New("scimtester: the token must be one non-empty line")
	}
	dir, err := os.MkdirTemp("", "scimtester-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "run_checks.py")
	if err := os.WriteFile(script, runner, 0o600); err != nil {
		return nil, err
	}

	// -I: no PYTHON* variables, user site-packages or script directory on
	// sys.path; only the virtualenv's packages are imported.
	cmd := exec.CommandContext(ctx, python, "-I", script, baseURL)
	cmd.Stdin = strings.NewReader(token + "\n")
	var stdout bytes.Buffer
	stderr := &tail{max: maxStderr}
	cmd.Stdout = &stdout
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	runErr := cmd.Run()
	redact := func(b []byte) string {
		return strings.ReplaceAll(string(b), token, "<redacted>")
	}
	if runErr != nil {
		if ctxErr := context.Cause(ctx); ctxErr != nil {
			runErr = fmt.Errorf("%w (%v)", ctxErr, runErr)
		}
		return nil, fmt.Errorf("scimtester: %s %s %s after %s: %w\nstderr:\n%s",
			python, script, baseURL, time.Since(start).Round(time.Millisecond), runErr, stderr.redacted(token))
	}

	var checks []Check
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var c Check
		if err := json.Unmarshal(line, &c); err != nil {
			return nil, fmt.Errorf("scimtester: runner printed a line that is not a check: %v: %.300s", err, redact(line))
		}
		if c.Title == "" || c.Status == "" {
			return nil, fmt.Errorf("scimtester: runner printed a check without title or status: %.300s", redact(line))
		}
		checks = append(checks, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("scimtester: reading the runner's output: %w", err)
	}
	if len(checks) == 0 {
		return nil, fmt.Errorf("scimtester: the runner reported no check\nstderr:\n%s", stderr.redacted(token))
	}
	return checks, nil
}

// loopback accepts only an http(s) URL whose host is a loopback IP address
// or "localhost".
func loopback(baseURL string) error {
	u, err := url.Parse(baseURL)
	if err != nil {
		return fmt.Errorf("scimtester: base URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scimtester: base URL %q: scheme must be http or https", baseURL)
	}
	if u.User != nil {
		return fmt.Errorf("scimtester: base URL must not carry credentials")
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("scimtester: base URL %q: host must be a loopback address", baseURL)
}

// tail keeps the last bytes written to it, at least max of them (a Python
// traceback ends with what matters).
type tail struct {
	max     int
	buf     []byte
	dropped bool
}

func (t *tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
		t.dropped = true
	}
	return len(p), nil
}

// redacted is the tail with secret replaced by "<redacted>", at most max
// bytes after a "..." that marks a cut. Where Write cut an occurrence of
// the secret in two, the piece left at the start goes too.
func (t *tail) redacted(secret string) string {
	s := string(t.buf)
	if secret != "" {
		s = strings.ReplaceAll(s, secret, "<redacted>")
	}
	cut := t.dropped
	if cut {
		s = s[min(len(secret), len(s)):]
	}
	if len(s) > t.max {
		s, cut = s[len(s)-t.max:], true
	}
	if cut {
		s = "..." + s
	}
	return s
}
