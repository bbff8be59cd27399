package googleapi

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// The JWT bearer grant, as "Using OAuth 2.0 for Server to Server
// Applications" describes it: the client POSTs grant_type
// urn:ietf:params:oauth:grant-type:jwt-bearer and an RS256-signed
// assertion whose claims are iss (the service account's email), scope
// (space-delimited), aud (the token endpoint), exp and iat (at most an hour
// apart) and, for domain-wide delegation, sub (the user impersonated).
// The answer is {"access_token", "expires_in", "token_type": "Bearer"};
// refusals are OAuth error bodies {"error", "error_description"}.
const jwtBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// tokenLifetime is how long an access token lasts (Google's last an hour).
const tokenLifetime = time.Hour

// ServiceAccount is a service account of the test project: its key, and
// where it gets tokens (the server's token endpoint).
type ServiceAccount struct {
	ClientEmail  string
	ClientID     string // the numeric id an admin grants domain-wide delegation to
	PrivateKeyID string
	ProjectID    string
	Key          *rsa.PrivateKey
	TokenURI     string
}

// account is what the server knows of a service account: its public key
// and the scopes domain-wide delegation grants it.
type account struct {
	clientID  string
	keyID     string
	pub       *rsa.PublicKey
	delegated []string
}

type issuedToken struct {
	subject string
	scopes  []string
	expires time.Time
}

// NewServiceAccount makes a service account with a fresh RSA key, registers
// it, and grants it domain-wide delegation for scopes (default: the users
// read-only scope). Its JSON key's token_uri is the server.
func (s *Server) NewServiceAccount(t testing.TB, scopes ...string) *ServiceAccount {
	t.Helper()
	sa := NewUnregisteredServiceAccount(t, s.TokenURL())
	s.Register(sa, scopes...)
	return sa
}

// NewUnregisteredServiceAccount makes a service account the server does not
// know (a deleted key, another project's account): its tokens are refused.
func NewUnregisteredServiceAccount(t testing.TB, tokenURI string) *ServiceAccount {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	id := randomID("")
	return &ServiceAccount{
		ClientEmail:  "usersvc-" + id[:8] + "@test-project.iam.gserviceaccount.com",
		ClientID:     fmt.Sprintf("1%020d", time.Now().UnixNano()%1e18),
		PrivateKeyID: id,
		ProjectID:    "test-project",
		Key:          key,
		TokenURI:     tokenURI,
	}
}

// Register makes the server know sa (by its email) with sa's current public
// key, and grants it domain-wide delegation for scopes (default: the users
// read-only scope).
func (s *Server) Register(sa *ServiceAccount, scopes ...string) {
	if len(scopes) == 0 {
		scopes = []string{ScopeUserReadonly}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accounts[sa.ClientEmail] = &account{clientID: sa.ClientID, keyID: sa.PrivateKeyID, pub: &sa.Key.PublicKey, delegated: slices.Clone(scopes)}
}

// SetDelegation grants (true, the default) or withdraws domain-wide
// delegation for every service account: withdrawn, the token endpoint
// refuses delegated grants with unauthorized_client, as Google does for a
// client id the Admin console has not authorized for the scopes asked.
func (s *Server) SetDelegation(granted bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delegation = granted
}

// RevokeTokens forgets every access token issued: API calls bearing them
// are answered 401 until the client fetches a new one.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.issued = map[string]issuedToken{}
}

// JSON is the key file the Cloud console downloads for the account.
func (sa *ServiceAccount) JSON() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(sa.Key)
	if err != nil {
		panic(err) // an RSA key always marshals
	}
	b, _ := json.MarshalIndent(map[string]string{
		"type":                        "service_account",
		"project_id":                  sa.ProjectID,
		"private_key_id":              sa.PrivateKeyID,
		"private_key":                 string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":                sa.ClientEmail,
		"client_id":                   sa.ClientID,
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   sa.TokenURI,
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
		"client_x509_cert_url":        "https://www.googleapis.com/robot/v1/metadata/x509/" + sa.ClientEmail,
		"universe_domain":             "googleapis.com",
	}, "", "  ")
	return b
}

// tokenError answers an OAuth error body.
func tokenError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": description})
}

// serveToken is the token endpoint's JWT bearer grant.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		tokenError(w, http.StatusMethodNotAllowed, "invalid_request", "the token endpoint takes POST")
		return
	}
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", "unreadable form")
		return
	}
	if r.PostForm.Get("grant_type") != jwtBearerGrant {
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be "+jwtBearerGrant)
		return
	}
	jws, err := jose.ParseSignedCompact(r.PostForm.Get("assertion"), []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(jws.Signatures) != 1 {
		tokenError(w, http.StatusBadRequest, "invalid_grant", "the assertion is not an RS256 JWT")
		return
	}
	var claims struct {
		Iss   string          `json:"iss"`
		Sub   string          `json:"sub"`
		Scope string          `json:"scope"`
		Aud   json.RawMessage `json:"aud"`
		Exp   int64           `json:"exp"`
		Iat   int64           `json:"iat"`
	}
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_grant", "the assertion's claims are unreadable")
		return
	}
	s.mu.Lock()
	acct, known := s.accounts[claims.Iss]
	delegation := s.delegation
	s.mu.Unlock()
	if !known {
		tokenError(w, http.StatusBadRequest, "invalid_grant", "no such service account")
		return
	}
	if kid := jws.Signatures[0].Header.KeyID; kid != "" && kid != acct.keyID {
		tokenError(w, http.StatusBadRequest, "invalid_grant", "the assertion names a key the account does not have")
		return
	}
	if _, err := jws.Verify(acct.pub); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_grant", "the assertion's signature does not verify")
		return
	}
	var aud string
	if json.Unmarshal(claims.Aud, &aud) != nil || aud != s.TokenURL() {
		tokenError(w, http.StatusBadRequest, "invalid_grant", "the assertion's aud must be the token endpoint")
		return
	}
	now := s.now()
	if claims.Exp <= now.Unix() || claims.Iat > now.Add(5*time.Minute).Unix() || claims.Exp-claims.Iat > int64(tokenLifetime.Seconds()) {
		tokenError(w, http.StatusBadRequest, "invalid_grant", "the assertion's iat and exp must bound at most an hour around now")
		return
	}
	scopes := strings.Fields(claims.Scope)
	if len(scopes) == 0 {
		tokenError(w, http.StatusBadRequest, "invalid_scope", "no scope requested")
		return
	}
	if claims.Sub != "" {
		granted := delegation
		for _, sc := range scopes {
			granted = granted && slices.Contains(acct.delegated, sc)
		}
		if !granted {
			tokenError(w, http.StatusUnauthorized, "unauthorized_client",
				"domain-wide delegation is not granted to client "+acct.clientID+" for the scopes requested")
			return
		}
		if _, ok := s.find(claims.Sub); !ok || strings.Contains(claims.Sub, "/") {
			tokenError(w, http.StatusBadRequest, "invalid_grant", "the subject is not a user of the customer")
			return
		}
	}
	token := randomID("ya29.test-")
	s.mu.Lock()
	s.issued[token] = issuedToken{subject: claims.Sub, scopes: scopes, expires: now.Add(tokenLifetime)}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": token, "expires_in": int(tokenLifetime.Seconds()) - 1, "token_type": "Bearer",
	})
}

// bearer returns the live token an API request carries.
func (s *Server) bearer(r *http.Request) (issuedToken, bool) {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return issuedToken{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tok, ok := s.issued[raw]
	if !ok || !s.now().Before(tok.expires) {
		return issuedToken{}, false
	}
	return tok, true
}
