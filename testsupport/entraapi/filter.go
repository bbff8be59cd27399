package entraapi

import (
	"errors"
	"strings"
	"unicode"
)

// Filter is a parsed $filter: one equality of a user property with a
// literal, the one shape usersvc sends (mail eq, the address in quotes,
// each quote inside written twice).
// Graph itself understands far more (startswith, any, and/or...); this
// server answers every other expression 400, as Graph answers filters it
// does not support, so a client that strays from the one shape is caught.
type Filter struct {
	Property string // canonical spelling, e.g. "mail"
	Value    string // the literal, quotes undoubled
	Bool     *bool  // for accountEnabled eq true|false
}

// ErrUnsupportedFilter is a well-formed filter the server does not serve
// (Graph: 400 Request_UnsupportedQuery); any other parse error is a
// syntax error (Graph: 400 BadRequest).
var ErrUnsupportedFilter = errors.New("unsupported filter")

// filterable are the properties an eq filter may name.
var filterable = []string{"id", "mail", "userPrincipalName", "givenName", "surname", "displayName", "jobTitle", "department", "accountEnabled"}

// ParseFilter parses `property eq 'literal'`. In an OData string literal a
// single quote is written as two ("Escaping single quotes": "For requests
// that use single quotes, if any parameter values also contain single
// quotes, they must be double escaped", Microsoft Graph, "Use query
// parameters"; OData ABNF: SQUOTE-in-string = SQUOTE SQUOTE).
func ParseFilter(expr string) (Filter, error) {
	rest := strings.TrimLeftFunc(expr, unicode.IsSpace)
	end := strings.IndexFunc(rest, unicode.IsSpace)
	if end < 0 {
		end = len(rest)
	}
	name := rest[:end]
	if strings.ContainsAny(name, "()/,'") {
		// A function call (startswith(...)), a lambda (otherMails/any) or
		// anything else the server does not implement.
		return Filter{}, ErrUnsupportedFilter
	}
	if name == "" || end == len(rest) {
		return Filter{}, errors.New("syntax error: expected `property eq value`")
	}
	var prop string
	for _, p := range filterable {
		if strings.EqualFold(p, name) {
			prop = p
		}
	}
	rest = strings.TrimLeftFunc(rest[end:], unicode.IsSpace)
	op, after, ok := strings.Cut(rest, " ")
	if !ok {
		return Filter{}, errors.New("syntax error: expected an operator")
	}
	switch op {
	case "eq":
	case "ne", "gt", "ge", "lt", "le", "in", "has":
		return Filter{}, ErrUnsupportedFilter
	default:
		return Filter{}, errors.New("syntax error: unknown operator " + op)
	}
	rest = strings.TrimLeftFunc(after, unicode.IsSpace)
	if prop == "" {
		return Filter{}, ErrUnsupportedFilter
	}
	if prop == "accountEnabled" {
		word, tail, _ := strings.Cut(rest, " ")
		if strings.TrimSpace(tail) != "" {
			return Filter{}, ErrUnsupportedFilter
		}
		switch word {
		case "true", "false":
			b := word == "true"
			return Filter{Property: prop, Bool: &b}, nil
		}
		return Filter{}, errors.New("syntax error: accountEnabled compares with true or false")
	}
	value, tail, err := parseLiteral(rest)
	if err != nil {
		return Filter{}, err
	}
	if strings.TrimSpace(tail) != "" {
		// `... and ...`, `... or ...`: not served here.
		return Filter{}, ErrUnsupportedFilter
	}
	return Filter{Property: prop, Value: value}, nil
}

// parseLiteral reads a quoted OData string literal at the start of s and
// returns its value and what follows it.
func parseLiteral(s string) (string, string, error) {
	if !strings.HasPrefix(s, "'") {
		return "", "", errors.New("syntax error: expected a quoted string")
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] != '\'' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '\'' {
			b.WriteByte('\'')
			i++
			continue
		}
		return b.String(), s[i+1:], nil
	}
	return "", "", errors.New("syntax error: unterminated string literal")
}

// Match reports whether u satisfies the filter. Directory string
// comparisons are case-insensitive.
func (f Filter) Match(u User) bool {
	if f.Bool != nil {
		return u.AccountEnabled == *f.Bool
	}
	v, _ := u.stringProperty(f.Property)
	return v != "" && strings.EqualFold(v, f.Value)
}

// Quote renders s as an OData string literal (quotes doubled): what a
// client must send.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
