package oktaapi

import (
	"encoding/json"
	"net/http"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// serveToken is the org authorization server's token endpoint for OAuth 2.0
// client credentials with a private-key JWT client assertion. Parameters are
// read from the form or the query (the SDK sends them in the query).
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "invalid_request"})
		return
	}
	_ = r.ParseForm() // r.Form holds query and body parameters
	refuse := func(desc string) {
		s.writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": desc})
	}
	if r.Form.Get("grant_type") != "client_credentials" {
		s.writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	if r.Form.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		refuse("client_assertion_type is missing or wrong")
		return
	}
	jws, err := jose.ParseSignedCompact(r.Form.Get("client_assertion"), []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384})
	if err != nil {
		refuse("client_assertion is not a signed JWT")
		return
	}
	var claims struct {
		Iss string          `json:"iss"`
		Sub string          `json:"sub"`
		Aud json.RawMessage `json:"aud"`
		Exp int64           `json:"exp"`
	}
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims); err != nil {
		refuse("client_assertion claims are unreadable")
		return
	}
	s.mu.Lock()
	pub, known := s.clients[claims.Iss]
	s.mu.Unlock()
	if !known || claims.Sub != claims.Iss {
		refuse("unknown client or iss/sub mismatch")
		return
	}
	if _, err := jws.Verify(pub); err != nil {
		refuse("client_assertion signature does not verify")
		return
	}
	wantAud := s.URL() + "/oauth2/v1/token"
	var aud string
	if json.Unmarshal(claims.Aud, &aud) != nil {
		var auds []string
		if json.Unmarshal(claims.Aud, &auds) == nil && len(auds) == 1 {
			aud = auds[0]
		}
	}
	if aud != wantAud {
		refuse("client_assertion audience must be " + wantAud)
		return
	}
	if claims.Exp <= s.now().Unix() {
		refuse("client_assertion is expired")
		return
	}
	token := randomID("at.")
	s.mu.Lock()
	s.issued[token] = true
	s.mu.Unlock()
	s.writeJSON(w, http.StatusOK, map[string]any{
		"token_type": "Bearer", "expires_in": int(time.Hour.Seconds()), "access_token": token, "scope": r.Form.Get("scope"),
	})
}
