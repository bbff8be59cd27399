// Package issuer is an in-process OpenID provider for tests: discovery and
// JWKS over a loopback httptest server, token signing with RSA and ECDSA
// keys, key rotation, fetch counters and an outage switch.
package issuer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Default audience of tokens, as an Okta custom authorization server uses.
const Audience = "api://default"

// Key is a signing key known to the issuer.
type Key struct {
	ID        string
	Algorithm jose.SignatureAlgorithm
	Private   crypto.Signer
}

// Issuer serves discovery and keys and signs tokens.
type Issuer struct {
	srv *httptest.Server

	mu        sync.Mutex
	published []Key // in the JWKS
	down      bool

	discoveryFetches atomic.Int64
	jwksFetches      atomic.Int64
}

// Start serves an issuer on loopback with an RSA key "rsa-1" and an EC key
// "ec-1"; t.Cleanup stops it.
func Start(t testing.TB) *Issuer {
	t.Helper()
	iss, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(iss.Close)
	return iss
}

// New is Start for programs that are not tests (the load harness); Close
// stops it.
func New() (*Issuer, error) {
	rsaKey, err := GenerateRSAKey("rsa-1")
	if err != nil {
		return nil, err
	}
	ecKey, err := GenerateECKey("ec-1")
	if err != nil {
		return nil, err
	}
	iss := &Issuer{published: []Key{rsaKey, ecKey}}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", iss.serveDiscovery)
	mux.HandleFunc("/keys", iss.serveKeys)
	// Unstarted first, so handlers never read srv before it is assigned.
	iss.srv = httptest.NewUnstartedServer(mux)
	iss.srv.Start()
	return iss, nil
}

// Close stops the server.
func (i *Issuer) Close() { i.srv.Close() }

// GenerateRSAKey generates an RS256 key.
func GenerateRSAKey(id string) (Key, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	return Key{ID: id, Algorithm: jose.RS256, Private: k}, err
}

// GenerateECKey generates an ES256 key.
func GenerateECKey(id string) (Key, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	return Key{ID: id, Algorithm: jose.ES256, Private: k}, err
}

// NewRSAKey generates an RS256 key or fails the test.
func NewRSAKey(t testing.TB, id string) Key {
	t.Helper()
	k, err := GenerateRSAKey(id)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// NewECKey generates an ES256 key or fails the test.
func NewECKey(t testing.TB, id string) Key {
	t.Helper()
	k, err := GenerateECKey(id)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// URL is the issuer identifier (the server's base URL).
func (i *Issuer) URL() string { return i.srv.URL }

// DiscoveryURL is the OpenID discovery document's address.
func (i *Issuer) DiscoveryURL() string { return i.srv.URL + "/.well-known/openid-configuration" }

// Keys returns the published keys; Keys()[0] is the RSA key.
func (i *Issuer) Keys() []Key {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]Key(nil), i.published...)
}

// Publish replaces the JWKS content (key rotation).
func (i *Issuer) Publish(keys ...Key) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.published = append([]Key(nil), keys...)
}

// SetDown makes every endpoint answer 503 (true) or serve again (false).
func (i *Issuer) SetDown(down bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.down = down
}

// DiscoveryFetches and JWKSFetches count requests served or refused.
func (i *Issuer) DiscoveryFetches() int64 { return i.discoveryFetches.Load() }
func (i *Issuer) JWKSFetches() int64      { return i.jwksFetches.Load() }

func (i *Issuer) isDown() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.down
}

func (i *Issuer) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	i.discoveryFetches.Add(1)
	if i.isDown() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	writeJSON(w, map[string]any{
		"issuer":                                i.srv.URL,
		"jwks_uri":                              i.srv.URL + "/keys",
		"authorization_endpoint":                i.srv.URL + "/authorize",
		"token_endpoint":                        i.srv.URL + "/token",
		"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
	})
}

func (i *Issuer) serveKeys(w http.ResponseWriter, r *http.Request) {
	i.jwksFetches.Add(1)
	if i.isDown() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	set := jose.JSONWebKeySet{}
	for _, k := range i.Keys() {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.Private.Public(), KeyID: k.ID, Algorithm: string(k.Algorithm), Use: "sig"})
	}
	writeJSON(w, set)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// Claims returns valid access-token claims for subject/email at now,
// expiring in 5 minutes. Callers adjust the map before signing.
func (i *Issuer) Claims(now time.Time, email string) map[string]any {
	return map[string]any{
		"iss":    i.srv.URL,
		"aud":    Audience,
		"sub":    "00u" + email,
		"email":  email,
		"cid":    "frontend",
		"scp":    []string{"openid", "email", "profile"},
		"groups": []string{"Everyone"},
		"iat":    now.Unix(),
		"exp":    now.Add(5 * time.Minute).Unix(),
	}
}

// Sign signs claims with key, putting key.ID in the header as kid (no kid
// when kid is false), or fails the test.
func Sign(t testing.TB, key Key, claims map[string]any, kid bool) string {
	t.Helper()
	tok, err := SignToken(key, claims, kid)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// SignToken is Sign for programs that are not tests.
func SignToken(key Key, claims map[string]any, kid bool) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	var sk jose.SigningKey
	if kid {
		sk = jose.SigningKey{Algorithm: key.Algorithm, Key: jose.JSONWebKey{Key: key.Private, KeyID: key.ID}}
	} else {
		sk = jose.SigningKey{Algorithm: key.Algorithm, Key: key.Private}
	}
	signer, err := jose.NewSigner(sk, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// Token signs claims with the issuer's RSA key.
func (i *Issuer) Token(t testing.TB, claims map[string]any) string {
	return Sign(t, i.Keys()[0], claims, true)
}

// Forged tokens for attack tests.

func b64JSON(v any) string {
	data, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(data)
}

// ForgeNone is an unsigned token (alg "none") naming a published kid.
func ForgeNone(kid string, claims map[string]any) string {
	return b64JSON(map[string]string{"alg": "none", "kid": kid}) + "." + b64JSON(claims) + "."
}

// ForgeHS256 is the key-confusion attack: HMAC "signed" with the RSA public
// key the JWKS publishes, under that key's kid.
func ForgeHS256(t testing.TB, key Key, claims map[string]any) string {
	t.Helper()
	pub, err := x509.MarshalPKIXPublicKey(key.Private.Public())
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: jose.JSONWebKey{Key: pub, KeyID: key.ID}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := jws.CompactSerialize()
	return tok
}

// Tamper replaces the payload of a signed token, keeping its signature.
func Tamper(token string, claims map[string]any) string {
	parts := strings.SplitN(token, ".", 3)
	return parts[0] + "." + b64JSON(claims) + "." + parts[2]
}

// UnknownKid is a well-formed token header with a kid no key set holds.
func UnknownKid(kid string, claims map[string]any) string {
	return b64JSON(map[string]string{"alg": "RS256", "kid": kid}) + "." + b64JSON(claims) + ".c2ln"
}
