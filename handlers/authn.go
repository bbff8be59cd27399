package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/usersvc/usersvc/handlers/auth"
	"github.com/usersvc/usersvc/schema"
)

// Authenticator verifies the value of an Authorization header.
type Authenticator interface {
	Authenticate(ctx context.Context, header string) (schema.Principal, error)
}

// AuthConfig protects the routes. A nil Authenticator turns auth off
// (AUTH_DISABLED=true).
type AuthConfig struct {
	Authenticator Authenticator
	// Allowlist holds FLASK_OIDC_WHITELISTED_ENDPOINTS entries: paths without
	// slashes ("healthcheck") or Amundsen endpoint names ("api.healthcheck").
	Allowlist []string
	// WriteGroups, when set, are the groups allowed to write another user's
	// data (OIDC_WRITE_GROUPS).
	WriteGroups []string
}

// realm names this service in WWW-Authenticate challenges.
const realm = "usersvc"

// alwaysOpen are the probe routes: kubelet calls them without a token.
var alwaysOpen = []string{"/livez", "/readyz"}

// endpointNames maps Amundsen's Flask endpoint names to our paths. Amundsen's
// docs say api.healthcheck while the real endpoint is api.healthcheckapi.
var endpointNames = map[string]string{
	"api.healthcheck":    "/healthcheck",
	"api.healthcheckapi": "/healthcheck",
	"healthcheckapi":     "/healthcheck",
}

// openTargets turns allowlist entries into the exact request targets that
// skip authentication.
func openTargets(entries []string) map[string]bool {
	open := make(map[string]bool, len(entries)+len(alwaysOpen))
	for _, p := range alwaysOpen {
		open[p] = true
	}
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if p, ok := endpointNames[strings.ToLower(e)]; ok {
			open[p] = true
		} else if e = strings.Trim(e, "/"); e != "" {
			open["/"+e] = true
		}
	}
	return open
}

// isOpen: only GET/HEAD whose raw request target is exactly an open path
// that usersvc serves itself: the allowlist never opens an upstream route.
// The raw target is used so that encodings (/%68ealthcheck), extra or
// trailing slashes, query strings and fragments never match, and headers
// such as X-Forwarded-Uri are never consulted.
func (s *server) isOpen(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead || !s.own.owns(r.URL.Path) {
		return false
	}
	return s.open[r.RequestURI]
}

// authenticate is the bearer-token middleware.
func (s *server) authenticate(c *gin.Context) {
	if s.auth.Authenticator == nil || s.isOpen(c.Request) || s.isEventHook(c) || s.isSCIM(c) {
		c.Next()
		return
	}
	var header string
	switch values := c.Request.Header["Authorization"]; len(values) { // canonical key: no canonicalising
	case 0:
	case 1:
		header = values[0]
	default:
		s.refuse(c, &auth.Error{Reason: auth.ReasonMalformed})
		return
	}
	st := stateOf(c)
	st.Caller.Addr = s.clientAddr(c)
	p, err := s.auth.Authenticator.Authenticate(c.Request.Context(), header)
	if err != nil {
		outcome := string(auth.ReasonOf(err))
		if outcome == "" {
			outcome = "unavailable"
		}
		s.obs.AuthOutcome(outcome)
		s.refuse(c, err)
		return
	}
	s.obs.AuthOutcome("ok")
	// The request's context is st: from here on it carries the principal.
	st.Caller.Principal, st.Caller.Authenticated = p, true
	c.Next()
}

// clientAddr is the client's address as gin's ClientIP names it. Without
// trusted proxies that is the peer, parsed here without ClientIP's
// allocations (it parses the trusted-proxy rules on every call); an address
// ClientIP would not accept as it stands takes ClientIP's path.
func (s *server) clientAddr(c *gin.Context) netip.Addr {
	if !s.trustsProxies {
		if ap, err := netip.ParseAddrPort(c.Request.RemoteAddr); err == nil && ap.Addr().Zone() == "" {
			return ap.Addr()
		}
	}
	addr, _ := netip.ParseAddr(c.ClientIP())
	return addr
}

// refuse answers a failed authentication: 401 with an RFC 6750 challenge for
// a refused credential, the mapped status (503) for a provider problem.
func (s *server) refuse(c *gin.Context, err error) {
	reason := auth.ReasonOf(err)
	if reason == "" {
		if schema.KindOf(err) == schema.KindUnavailable {
			// The authenticator logs its own failures, once per call it
			// makes; a line per answer would let a flood of new tokens
			// (503 beyond the introspection rate) flood the logs.
			s.log.DebugContext(c.Request.Context(), "authentication unavailable", "error", err, "request_id", requestID(c))
			respondError(c, slog.New(slog.DiscardHandler), err)
			return
		}
		respondError(c, s.log, err)
		return
	}
	s.log.DebugContext(c.Request.Context(), "bearer token refused", "reason", string(reason), "request_id", requestID(c))
	challenge := `Bearer realm="` + realm + `"`
	if reason != auth.ReasonMissing {
		code := "invalid_token"
		var scope string
		if reason == auth.ReasonInsufficientScope {
			code = "insufficient_scope"
			var ae *auth.Error
			if errors.As(err, &ae) {
				scope = strings.Join(ae.RequiredScopes, " ")
			}
		}
		challenge += `, error="` + code + `", error_description="` + err.Error() + `"`
		if scope != "" {
			challenge += `, scope="` + scope + `"`
		}
	}
	c.Header("WWW-Authenticate", challenge)
	abortJSON(c, http.StatusUnauthorized, err.Error())
}

// mayWrite enforces OIDC_WRITE_GROUPS: writing another user's data needs one
// of the groups; a caller may always write their own. false: the answer is
// written.
func (s *server) mayWrite(c *gin.Context, targetKey string) bool {
	if len(s.auth.WriteGroups) == 0 {
		return true
	}
	p, ok := schema.PrincipalFrom(c.Request.Context())
	if !ok {
		// Auth is off: there is nobody to check.
		return true
	}
	for _, g := range p.Groups {
		if slices.Contains(s.auth.WriteGroups, g) {
			return true
		}
	}
	own, err := s.isCallersNode(c.Request.Context(), p, targetKey)
	if err != nil {
		respondError(c, s.log, err)
		return false
	}
	if own {
		return true
	}
	abortJSON(c, http.StatusForbidden, "writing another user's data requires membership in one of the groups in OIDC_WRITE_GROUPS")
	s.audit(c, "write_denied", targetKey, "forbidden", slog.String("route", routeOf(c)))
	return false
}

// isCallersNode reports whether the node keyed targetKey is the caller's
// own. The caller's id is resolved to a node by the same rule as any id in a
// path: an introspected Okta token names the caller by login (ghopper), while
// their node is keyed by email.
func (s *server) isCallersNode(ctx context.Context, p schema.Principal, targetKey string) (bool, error) {
	id := schema.UserKey(p.UserID)
	// An email the provider calls unverified proves nothing: it does not
	// make the record the caller's own.
	if id == "" || p.EmailUnverified && p.Email != "" && schema.UserKey(p.Email) == id {
		return false, nil
	}
	if id == targetKey {
		return true, nil
	}
	key, err := s.users.NodeKey(ctx, id)
	if err != nil {
		return false, err
	}
	return key == targetKey, nil
}
