package schema

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxIDBytes bounds user ids and resource keys. Anything longer is refused
// before any store or directory call (DESIGN §2, input limits).
const MaxIDBytes = 4096

// UserKey is the one normalisation of a user id or email into the graph key
// of a (:User) node: trimmed and lowercased, as Amundsen's databuilder writes
// it. Every lookup and write goes through it.
func UserKey(id string) string {
	return strings.ToLower(strings.TrimSpace(id))
}

// IsBlank reports whether s is empty or only whitespace.
func IsBlank(s string) bool { return strings.TrimSpace(s) == "" }

// CheckID validates an identifier taken from a request (a user id or a
// resource key). what names it in the error message.
func CheckID(what, id string) error {
	if msg := idProblem(id); msg != "" {
		return Errorf(KindInvalid, "%s %s", what, msg)
	}
	return nil
}

// idProblem returns why id is unacceptable, or "" when it is fine.
func idProblem(id string) string {
	switch {
	case IsBlank(id):
		return "must not be blank"
	case len(id) > MaxIDBytes:
		return "must be at most 4096 bytes"
	case !utf8.ValidString(id):
		return "must be valid UTF-8"
	case HasControl(id):
		return "must not contain control characters"
	}
	return ""
}

// HasControl reports whether s holds any Unicode control character (C0, DEL
// or C1). Such characters have no place in ids and keys and would corrupt
// logs, search filters and key separators.
func HasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}
