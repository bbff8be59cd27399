package entraapi

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
)

// serveToken is POST /{tenant}/oauth2/v2.0/token for the client
// credentials grant with a shared secret ("Microsoft identity platform
// and the OAuth 2.0 client credentials flow", "First case: Access token
// request with a shared secret"): the form carries client_id, scope
// ({resource}/.default), client_secret and grant_type=client_credentials.
// The successful answer is {token_type: Bearer, expires_in, ext_expires_in,
// access_token}; errors are {error, error_description, error_codes,
// timestamp, trace_id, correlation_id}, with the AADSTS codes of Microsoft
// Entra authentication and authorization error codes:
//
//   - AADSTS90002: tenant not found (400 invalid_request)
//   - AADSTS700016: application not found in the tenant (400 unauthorized_client)
//   - AADSTS7000215: invalid client secret (401 invalid_client)
//   - AADSTS7000218: the request body must contain client_assertion or client_secret (401 invalid_client)
//   - AADSTS1002012: scope is not valid (400 invalid_scope)
//   - AADSTS70003: unsupported grant type (400 unsupported_grant_type)
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	tenant, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/oauth2/v2.0/token")
	if !ok || strings.Contains(tenant, "/") {
		s.writeTokenError(w, http.StatusNotFound, "invalid_request", 900561, "The endpoint only accepts POST requests at /{tenant}/oauth2/v2.0/token.")
		return
	}
	if r.Method != http.MethodPost {
		s.writeTokenError(w, http.StatusMethodNotAllowed, "invalid_request", 900561, "The endpoint only accepts POST, OPTIONS requests.")
		return
	}
	if err := r.ParseForm(); err != nil {
		s.writeTokenError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	form := r.PostForm // the body only: credentials never travel in the query
	if !strings.EqualFold(tenant, s.tenant) {
		s.writeTokenError(w, http.StatusBadRequest, "invalid_request", 90002,
			fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant))
		return
	}
	if form.Get("grant_type") != "client_credentials" {
		s.writeTokenError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
		return
	}
	clientID := form.Get("client_id")
	if clientID == "" {
		// A client_secret_basic client sends its id in the Authorization
		// header; the identity platform documents the form parameters.
		clientID, _, _ = r.BasicAuth()
	}
	if !strings.EqualFold(clientID, s.clientID) {
		s.writeTokenError(w, http.StatusBadRequest, "unauthorized_client", 700016,
			fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.", clientID, tenant))
		return
	}
	secret := form.Get("client_secret")
	if secret == "" {
		_, secret, _ = r.BasicAuth()
	}
	s.mu.Lock()
	want := s.secret
	s.mu.Unlock()
	if secret == "" {
		s.writeTokenError(w, http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(want)) != 1 {
		s.writeTokenError(w, http.StatusUnauthorized, "invalid_client", 7000215,
			fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", s.clientID))
		return
	}
	if scope := form.Get("scope"); scope != s.GraphURL()+"/.default" {
		// The client credentials flow takes exactly {resource}/.default.
		s.writeTokenError(w, http.StatusBadRequest, "invalid_scope", 1002012,
			fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", scope))
		return
	}
	token := "eyJ0eXAiOiJKV1QiLCJub25jZSI6." + newID() + "." + newID()
	s.mu.Lock()
	s.tokens[token] = s.now().Add(s.lifetime)
	s.mu.Unlock()
	secs := int(s.lifetime.Seconds())
	w.Header().Set("Cache-Control", "no-store, no-cache")
	s.writeJSON(w, http.StatusOK, map[string]any{
		"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": token,
	})
}

// writeTokenError answers with the identity platform's error shape.
func (s *Server) writeTokenError(w http.ResponseWriter, status int, code string, aadsts int, description string) {
	trace, corr := guid(), guid()
	ts := s.now().UTC().Format("2006-01-02 15:04:05Z")
	s.writeJSON(w, status, map[string]any{
		"error": code,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s",
			aadsts, description, trace, corr, ts),
		"error_codes":    []int{aadsts},
		"timestamp":      ts,
		"trace_id":       trace,
		"correlation_id": corr,
		"error_uri":      "https://login.microsoftonline.com/error?code=" + fmt.Sprint(aadsts),
	})
}
