package auth

import "errors"

// Reason is why a credential was refused; it labels metrics and picks the
// fixed description callers see (never any text taken from the token).
type Reason string

const (
	ReasonMissing           Reason = "missing"
	ReasonTooLarge          Reason = "too_large"
	ReasonMalformed         Reason = "malformed"
	ReasonNoKeyID           Reason = "no_kid"
	ReasonBadAlgorithm      Reason = "bad_algorithm"
	ReasonUnknownKey        Reason = "unknown_kid"
	ReasonBadSignature      Reason = "bad_signature"
	ReasonExpired           Reason = "expired"
	ReasonNotYetValid       Reason = "not_yet_valid"
	ReasonWrongIssuer       Reason = "wrong_issuer"
	ReasonWrongAudience     Reason = "wrong_audience"
	ReasonClientNotAllowed  Reason = "client_not_allowed"
	ReasonInsufficientScope Reason = "insufficient_scope"
	ReasonInactive          Reason = "inactive"
	ReasonWrongTokenType    Reason = "wrong_token_type"
	ReasonInvalid           Reason = "invalid"
)

var descriptions = map[Reason]string{
	ReasonMissing:           "missing bearer token",
	ReasonTooLarge:          "token is too large",
	ReasonMalformed:         "token is malformed",
	ReasonNoKeyID:           "token header has no key id",
	ReasonBadAlgorithm:      "token signing algorithm is not allowed",
	ReasonUnknownKey:        "token is signed with an unknown key",
	ReasonBadSignature:      "token signature is invalid",
	ReasonExpired:           "token is expired",
	ReasonNotYetValid:       "token is not valid yet",
	ReasonWrongIssuer:       "token issuer is not trusted",
	ReasonWrongAudience:     "token audience is not accepted",
	ReasonClientNotAllowed:  "token client is not allowed",
	ReasonInsufficientScope: "token lacks a required scope",
	ReasonInactive:          "token is not active",
	ReasonWrongTokenType:    "token is not an access token",
	ReasonInvalid:           "token is invalid",
}

// Error is a refused credential. Its Error text is safe to return to the
// caller and to log.
type Error struct {
	Reason Reason
	// RequiredScopes is set with ReasonInsufficientScope, for the challenge.
	RequiredScopes []string
	// cause is for logs only (e.g. go-oidc's message), never for callers.
	cause error
}

func refuse(r Reason, cause error) *Error { return &Error{Reason: r, cause: cause} }

func (e *Error) Error() string { return e.Description() }

// Description is the fixed, caller-safe text for the reason.
func (e *Error) Description() string {
	if d, ok := descriptions[e.Reason]; ok {
		return d
	}
	return descriptions[ReasonInvalid]
}

// Cause is the underlying detail, for debug logs.
func (e *Error) Cause() error { return e.cause }

// ReasonOf returns the refusal reason in err's chain, or "" if err is not a
// refusal.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}
