package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
)

// MaxTokenBytes bounds the credential after "Bearer " (DESIGN §2): larger
// ones are refused before any parsing or signature work.
const MaxTokenBytes = 8 << 10

// allowedAlgorithms are the asymmetric JWS families; "none" and HMAC (whose
// "key" an attacker could take from the public JWKS) never verify.
var allowedAlgorithms = []string{
	"RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512",
}

func algorithmAllowed(alg string) bool {
	for _, a := range allowedAlgorithms {
		if a == alg {
			return true
		}
	}
	return false
}

// amundsenToken is the session token dict the Amundsen frontend serialises
// into the Authorization header. Only access_token carries authority; the
// unsigned expires_at is client-side bookkeeping and is not trusted either
// way: the JWT's own signed exp decides.
type amundsenToken struct {
	AccessToken *string          `json:"access_token"`
	ExpiresAt   *json.RawMessage `json:"expires_at"`
}

// ExtractJWT returns the JWT carried by an Authorization header value, in
// either form: "Bearer <JWT>" or "Bearer {"access_token":"<JWT>",...}".
// A header that is absent or not a Bearer credential is ReasonMissing.
func ExtractJWT(header string) (string, error) {
	scheme, cred, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", refuse(ReasonMissing, nil)
	}
	cred = strings.TrimSpace(cred)
	if cred == "" {
		return "", refuse(ReasonMissing, nil)
	}
	if len(cred) > MaxTokenBytes {
		return "", refuse(ReasonTooLarge, nil)
	}
	if cred[0] != '{' {
		return cred, nil
	}
	dec := json.NewDecoder(strings.NewReader(cred))
	var tok amundsenToken
	if err := dec.Decode(&tok); err != nil || dec.More() {
		return "", refuse(ReasonMalformed, err)
	}
	if tok.AccessToken == nil || *tok.AccessToken == "" {
		return "", refuse(ReasonMalformed, nil)
	}
	if tok.ExpiresAt != nil {
		var n json.Number
		if err := json.Unmarshal(*tok.ExpiresAt, &n); err != nil && string(*tok.ExpiresAt) != "null" {
			return "", refuse(ReasonMalformed, err)
		}
	}
	return *tok.AccessToken, nil
}

type jwtHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

// looksLikeJWT: three segments whose first decodes to a JSON object naming
// an algorithm. Anything else is an opaque token (RFC 7519 §7.2 steps 1-5).
func looksLikeJWT(tok string) bool {
	headerPart, rest, ok := strings.Cut(tok, ".")
	if !ok || strings.Count(rest, ".") != 1 {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(headerPart)
	if err != nil {
		return false
	}
	var h jwtHeader
	return json.Unmarshal(raw, &h) == nil && h.Alg != ""
}

// precheck refuses tokens that cannot be ours before any signature work:
// not three base64url segments, no kid (go-oidc would otherwise try every
// key), or an algorithm outside the RS/PS/ES families.
func precheck(jwt string) error {
	headerPart, rest, ok := strings.Cut(jwt, ".")
	if !ok || strings.Count(rest, ".") != 1 {
		return refuse(ReasonMalformed, nil)
	}
	raw, err := base64.RawURLEncoding.DecodeString(headerPart)
	if err != nil {
		return refuse(ReasonMalformed, err)
	}
	var h jwtHeader
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&h); err != nil {
		return refuse(ReasonMalformed, err)
	}
	if !algorithmAllowed(h.Alg) {
		return refuse(ReasonBadAlgorithm, nil)
	}
	if h.Kid == "" {
		return refuse(ReasonNoKeyID, nil)
	}
	return nil
}
