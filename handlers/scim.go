package handlers

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/usersvc/usersvc/schema"
)

// SCIMPath is where the SCIM 2.0 service provider (RFC 7644) is served:
// the base URL a provisioning client (Okta, Microsoft Entra ID) is given.
const SCIMPath = "/scim/v2"

// scimRoute is the catch-all under SCIMPath; scimRoutes dispatches on it.
const scimRoute = SCIMPath + "/*path"

// SCIMUsers is the Users resource over the graph (oidcuser.Provisioner).
type SCIMUsers interface {
	Create(ctx context.Context, u schema.ProvisionedUser) (schema.ProvisionedUser, error)
	Get(ctx context.Context, id string) (schema.ProvisionedUser, error)
	Replace(ctx context.Context, id string, u schema.ProvisionedUser) (schema.ProvisionedUser, error)
	// Modify replaces the person by what change makes of their current
	// state (PATCH); change's error comes back as it is.
	Modify(ctx context.Context, id string, change func(schema.ProvisionedUser) (schema.ProvisionedUser, error)) (schema.ProvisionedUser, error)
	Delete(ctx context.Context, id string) error
	Find(ctx context.Context, q schema.ProvisionQuery) ([]schema.ProvisionedUser, error)
	List(ctx context.Context, offset, limit int) ([]schema.ProvisionedUser, int, error)
}

// SCIMConfig turns the SCIM endpoint on. It sits outside the OIDC
// middleware: a provisioning client authenticates with a bearer token of
// its own. Two tokens may be accepted at once, so one can be rotated.
type SCIMConfig struct {
	Tokens []string
	Users  SCIMUsers
}

// The SCIM messages' and schemas' URNs (RFC 7643 §8.7, RFC 7644 §3.12).
const (
	scimErrorURN       = "urn:ietf:params:scim:api:messages:2.0:Error"
	scimListURN        = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	scimPatchURN       = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	scimUserURN        = "urn:ietf:params:scim:schemas:core:2.0:User"
	scimEnterpriseURN  = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	scimContentType    = "application/scim+json"
	maxSCIMBody        = 1 << 20
	scimMaxResults     = 200
	scimDefaultPerPage = 100
)

// scimServer serves SCIMPath.
type scimServer struct {
	digests [][sha256.Size]byte
	users   SCIMUsers
}

func newSCIMServer(cfg *SCIMConfig) *scimServer {
	if cfg == nil || cfg.Users == nil || len(cfg.Tokens) == 0 {
		return nil
	}
	s := &scimServer{users: cfg.Users}
	for _, t := range cfg.Tokens {
		if t != "" {
			s.digests = append(s.digests, sha256.Sum256([]byte(t)))
		}
	}
	if len(s.digests) == 0 {
		return nil
	}
	return s
}

// authorized compares the bearer token with every configured one in
// constant time (hashed first, so no length leaks, and every token is
// compared whichever matches). The token is never logged.
func (s *scimServer) authorized(r *http.Request) bool {
	values := r.Header.Values("Authorization")
	if len(values) != 1 {
		return false
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return false
	}
	got := sha256.Sum256([]byte(token))
	match := 0
	for _, d := range s.digests {
		match |= subtle.ConstantTimeCompare(got[:], d[:])
	}
	return match == 1
}

// isSCIM reports whether the request is for the SCIM endpoint, which
// authenticates on its own.
func (s *server) isSCIM(c *gin.Context) bool {
	return s.scim != nil && (c.FullPath() == scimRoute || c.FullPath() == SCIMPath)
}

// scimError is RFC 7644 §3.12's error response; status is a string there.
type scimError struct {
	Schemas  []string `json:"schemas"`
	Status   string   `json:"status"`
	ScimType string   `json:"scimType,omitempty"`
	Detail   string   `json:"detail,omitempty"`
}

func scimJSON(c *gin.Context, status int, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"schemas":["`+scimErrorURN+`"],"status":"500"}`)
	}
	c.Data(status, scimContentType, b)
}

func abortSCIM(c *gin.Context, status int, scimType, detail string) {
	scimJSON(c, status, scimError{Schemas: []string{scimErrorURN}, Status: strconv.Itoa(status), ScimType: scimType, Detail: detail})
	c.Abort()
}

// respondSCIMError maps an error to its SCIM error response: a refused
// PATCH with its scimType, else through the one kind-to-status mapping
// (statusOf) the rest of the API uses.
func (s *server) respondSCIMError(c *gin.Context, err error) {
	var pe *patchError
	if errors.As(err, &pe) {
		abortSCIM(c, http.StatusBadRequest, pe.scimType, pe.detail)
		return
	}
	var e *schema.Error
	if !errors.As(err, &e) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			e = schema.Unavailable("the request could not be completed in time", 0, err)
		} else {
			s.log.ErrorContext(c.Request.Context(), "SCIM request failed", "error", err, "request_id", requestID(c))
			abortSCIM(c, http.StatusInternalServerError, "", "internal server error")
			return
		}
	}
	status := statusOf(e.Kind)
	scimType := ""
	switch e.Kind {
	case schema.KindConflict:
		scimType = "uniqueness"
	case schema.KindInvalid:
		scimType = "invalidValue"
	case schema.KindUnavailable:
		c.Header("Retry-After", strconv.Itoa(retryAfterSeconds(e)))
		s.log.WarnContext(c.Request.Context(), "dependency failure", "error", err, "kind", e.Kind.String(), "request_id", requestID(c))
	}
	abortSCIM(c, status, scimType, e.Message)
}

// scimRoutes dispatches every request under SCIMPath (RFC 7644 §3.2's
// endpoints); Groups and Bulk are declared unsupported in the discovery
// documents and answer 501.
func (s *server) scimRoutes(c *gin.Context) {
	if !s.scim.authorized(c.Request) {
		c.Header("WWW-Authenticate", `Bearer realm="usersvc-scim"`)
		abortSCIM(c, http.StatusUnauthorized, "", "a valid SCIM bearer token is required")
		return
	}
	path := strings.TrimSuffix(c.Param("path"), "/")
	first, rest, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	method := c.Request.Method
	switch {
	case (first == ".search" && rest == "") || (first == "Users" && rest == ".search"):
		if method != http.MethodPost {
			abortSCIM(c, http.StatusMethodNotAllowed, "", "method not allowed")
			return
		}
		s.scimSearchPost(c)
	case first == "Users" && rest == "" && method == http.MethodGet:
		s.scimListUsers(c)
	case first == "Users" && rest == "" && method == http.MethodPost:
		s.scimCreateUser(c)
	case first == "Users" && rest != "" && !strings.Contains(rest, "/"):
		switch method {
		case http.MethodGet:
			s.scimGetUser(c, rest)
		case http.MethodPut:
			s.scimReplaceUser(c, rest)
		case http.MethodPatch:
			s.scimPatchUser(c, rest)
		case http.MethodDelete:
			s.scimDeleteUser(c, rest)
		default:
			abortSCIM(c, http.StatusMethodNotAllowed, "", "method not allowed")
		}
	case first == "Users":
		abortSCIM(c, http.StatusMethodNotAllowed, "", "method not allowed")
	case first == "ServiceProviderConfig" || first == "ResourceTypes" || first == "Schemas":
		if method != http.MethodGet {
			abortSCIM(c, http.StatusMethodNotAllowed, "", "method not allowed")
			return
		}
		s.scimDiscovery(c, first, rest)
	case first == "Groups" || first == "Bulk" || first == "Me":
		abortSCIM(c, http.StatusNotImplemented, "", first+" is not supported by this service provider (see /ServiceProviderConfig and /ResourceTypes)")
	default:
		abortSCIM(c, http.StatusNotFound, "", "no such SCIM endpoint")
	}
}
