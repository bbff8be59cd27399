package oktaapi

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// The subset of the SCIM filter grammar Okta's `search` parameter accepts
// that usersvc and its tests rely on:
//
//	expr    := and ("or" and)*
//	and     := term ("and" term)*
//	term    := "(" expr ")" | attr "pr" | attr op value
//	op      := eq | ne | sw | co | gt | ge | lt | le
//	value   := "string" (with \" and \\ escapes) | true | false | null | number
//	attr    := profile.<name> | status | id | created | lastUpdated | statusChanged | type.id
//
// String comparisons are case-insensitive, as Okta's are; timestamps compare
// as times.

// Filter is a parsed search expression.
type Filter interface {
	Match(u User) bool
	matches(a attributed) bool
}

// attributed is what a filter reads: a user, or a System Log event.
type attributed interface {
	attribute(path string) (any, bool)
}

type orFilter []Filter
type andFilter []Filter

type compare struct {
	attr  string
	op    string
	value any // string, bool, float64 or nil
}

func (f orFilter) Match(u User) bool  { return f.matches(u) }
func (f andFilter) Match(u User) bool { return f.matches(u) }
func (c compare) Match(u User) bool   { return c.matches(u) }

func (f orFilter) matches(a attributed) bool {
	for _, c := range f {
		if c.matches(a) {
			return true
		}
	}
	return false
}

func (f andFilter) matches(a attributed) bool {
	for _, c := range f {
		if !c.matches(a) {
			return false
		}
	}
	return true
}

func (c compare) matches(a attributed) bool {
	got, present := a.attribute(c.attr)
	if c.op == "pr" {
		return present && got != nil && got != ""
	}
	switch want := c.value.(type) {
	case nil:
		return c.op == "eq" && !present || c.op == "ne" && present
	case bool:
		b, ok := got.(bool)
		return ok && (c.op == "eq" && b == want || c.op == "ne" && b != want)
	case float64:
		f, ok := toFloat(got)
		return ok && compareOrdered(c.op, f, want)
	case string:
		s, ok := got.(string)
		if !ok {
			return c.op == "ne"
		}
		if isTimeAttr(c.attr) {
			gt, err1 := time.Parse(time.RFC3339Nano, s)
			wt, err2 := time.Parse(time.RFC3339Nano, want)
			if err1 != nil || err2 != nil {
				return false
			}
			return compareOrdered(c.op, float64(gt.UnixNano()), float64(wt.UnixNano()))
		}
		s, want = strings.ToLower(s), strings.ToLower(want)
		switch c.op {
		case "eq":
			return s == want
		case "ne":
			return s != want
		case "sw":
			return strings.HasPrefix(s, want)
		case "co":
			return strings.Contains(s, want)
		default:
			return compareOrdered(c.op, float64(strings.Compare(s, want)), 0)
		}
	}
	return false
}

func compareOrdered(op string, a, b float64) bool {
	switch op {
	case "eq":
		return a == b
	case "ne":
		return a != b
	case "gt":
		return a > b
	case "ge":
		return a >= b
	case "lt":
		return a < b
	case "le":
		return a <= b
	}
	return false
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
}

func isTimeAttr(attr string) bool {
	switch attr {
	case "created", "lastUpdated", "statusChanged", "activated", "lastLogin", "passwordChanged", "published":
		return true
	}
	return false
}

var operators = map[string]bool{"eq": true, "ne": true, "sw": true, "co": true, "gt": true, "ge": true, "lt": true, "le": true, "pr": true}

// ParseFilter parses a search expression; errors mean Okta would answer
// E0000031 "Invalid search criteria".
func ParseFilter(s string) (Filter, error) {
	return parseFilter(s, validAttr)
}

// parseFilter parses an expression on the attributes valid accepts.
func parseFilter(s string, valid func(string) bool) (Filter, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, valid: valid}
	f, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.toks) {
		return nil, fmt.Errorf("unexpected %q", p.toks[p.pos].text)
	}
	return f, nil
}

type token struct {
	text   string
	quoted bool
}

func tokenize(s string) ([]token, error) {
	var toks []token
	rs := []rune(s)
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case unicode.IsSpace(r):
			i++
		case r == '(' || r == ')':
			toks = append(toks, token{text: string(r)})
			i++
		case r == '"':
			var b strings.Builder
			i++
			closed := false
			for i < len(rs) {
				c := rs[i]
				if c == '\\' {
					if i+1 >= len(rs) || (rs[i+1] != '"' && rs[i+1] != '\\') {
						return nil, fmt.Errorf("bad escape at %d", i)
					}
					b.WriteRune(rs[i+1])
					i += 2
					continue
				}
				if c == '"' {
					closed = true
					i++
					break
				}
				if unicode.IsControl(c) {
					return nil, fmt.Errorf("control character in string")
				}
				b.WriteRune(c)
				i++
			}
			if !closed {
				return nil, fmt.Errorf("unterminated string")
			}
			toks = append(toks, token{text: b.String(), quoted: true})
		default:
			start := i
			for i < len(rs) && !unicode.IsSpace(rs[i]) && rs[i] != '(' && rs[i] != ')' && rs[i] != '"' {
				i++
			}
			toks = append(toks, token{text: string(rs[start:i])})
		}
	}
	return toks, nil
}

type parser struct {
	toks  []token
	pos   int
	valid func(string) bool
}

func (p *parser) peekWord(w string) bool {
	return p.pos < len(p.toks) && !p.toks[p.pos].quoted && strings.EqualFold(p.toks[p.pos].text, w)
}

// or and and are the grammar's two precedence levels: or binds looser.
func (p *parser) or() (Filter, error) {
	parts, err := p.joined("or", p.and)
	if err != nil || len(parts) == 1 {
		return first(parts), err
	}
	return orFilter(parts), nil
}

func (p *parser) and() (Filter, error) {
	parts, err := p.joined("and", p.term)
	if err != nil || len(parts) == 1 {
		return first(parts), err
	}
	return andFilter(parts), nil
}

// joined parses operand (word operand)*.
func (p *parser) joined(word string, operand func() (Filter, error)) ([]Filter, error) {
	var parts []Filter
	for {
		next, err := operand()
		if err != nil {
			return nil, err
		}
		parts = append(parts, next)
		if !p.peekWord(word) {
			return parts, nil
		}
		p.pos++
	}
}

func first(parts []Filter) Filter {
	if len(parts) == 0 {
		return nil
	}
	return parts[0]
}

func (p *parser) term() (Filter, error) {
	if p.pos >= len(p.toks) {
		return nil, fmt.Errorf("unexpected end of expression")
	}
	if t := p.toks[p.pos]; !t.quoted && t.text == "(" {
		p.pos++
		f, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.pos >= len(p.toks) || p.toks[p.pos].text != ")" || p.toks[p.pos].quoted {
			return nil, fmt.Errorf("missing )")
		}
		p.pos++
		return f, nil
	}
	attr := p.toks[p.pos]
	if attr.quoted || !p.valid(attr.text) {
		return nil, fmt.Errorf("bad attribute %q", attr.text)
	}
	p.pos++
	if p.pos >= len(p.toks) || p.toks[p.pos].quoted || !operators[strings.ToLower(p.toks[p.pos].text)] {
		return nil, fmt.Errorf("missing operator after %s", attr.text)
	}
	op := strings.ToLower(p.toks[p.pos].text)
	p.pos++
	if op == "pr" {
		return compare{attr: attr.text, op: op}, nil
	}
	if p.pos >= len(p.toks) {
		return nil, fmt.Errorf("missing value after %s %s", attr.text, op)
	}
	v := p.toks[p.pos]
	p.pos++
	c := compare{attr: attr.text, op: op}
	switch {
	case v.quoted:
		c.value = v.text
	case v.text == "true" || v.text == "false":
		c.value = v.text == "true"
	case v.text == "null":
		c.value = nil
	default:
		f, err := strconv.ParseFloat(v.text, 64)
		if err != nil {
			return nil, fmt.Errorf("bad value %q", v.text)
		}
		c.value = f
	}
	return c, nil
}

func validAttr(s string) bool {
	switch s {
	case "status", "id", "created", "lastUpdated", "statusChanged", "activated", "lastLogin", "passwordChanged", "type.id":
		return true
	}
	name, ok := strings.CutPrefix(s, "profile.")
	if !ok || name == "" {
		return false
	}
	for _, r := range name {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_') {
			return false
		}
	}
	return true
}

// ParseEquality parses `attr eq "value"` and returns the attribute and the
// string value as a SCIM parser reads it (escapes undone).
func ParseEquality(expr string) (attr, value string, err error) {
	f, err := ParseFilter(expr)
	if err != nil {
		return "", "", err
	}
	c, ok := f.(compare)
	if !ok || c.op != "eq" {
		return "", "", fmt.Errorf("not a single eq comparison")
	}
	s, ok := c.value.(string)
	if !ok {
		return "", "", fmt.Errorf("value is not a string")
	}
	return c.attr, s, nil
}
