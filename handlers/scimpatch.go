package handlers

import (
	"fmt"
	"strings"

	fp "github.com/scim2/filter-parser/v2"
)

// SCIM PATCH (RFC 7644 §3.5.2) in both dialects the big clients speak:
//   - Okta ("SCIM 2.0 protocol reference", developer.okta.com): lowercase
//     ops, and {"op":"replace","value":{"active":false}} with no path for
//     deactivation;
//   - Microsoft Entra ID ("Tutorial: Develop and plan provisioning for a
//     SCIM endpoint" and "Known issues and resolutions with SCIM 2.0
//     protocol compliance", learn.microsoft.com): Add/Replace/Remove in
//     any case, booleans as "True"/"False", paths such as name.givenName,
//     emails[type eq "work"].value and attributes of the enterprise
//     extension by their full URN, path-less values whose keys are paths,
//     and manager as a plain string.
// Paths and value filters are parsed by github.com/scim2/filter-parser/v2.

// patchError carries the scimType of a refused PATCH.
type patchError struct{ scimType, detail string }

func (e *patchError) Error() string { return e.detail }

func patchErrorf(scimType, format string, args ...any) error {
	return &patchError{scimType: scimType, detail: fmt.Sprintf(format, args...)}
}

type patchOp struct {
	op    string // add, remove, replace
	path  *patchPath
	value any
}

// patchPath is a resolved attribute path: in the core schema or in the
// enterprise extension (ext), an attribute, an optional value filter of a
// multi-valued attribute and an optional sub-attribute. attr "" in ext is
// the whole extension.
type patchPath struct {
	ext    bool
	attr   string
	filter fp.Expression
	sub    string
}

func parsePatch(m map[string]any) ([]patchOp, error) {
	schemas, _ := field(m, "schemas")
	list, _ := schemas.([]any)
	found := false
	for _, s := range list {
		if str, ok := s.(string); ok && strings.EqualFold(str, scimPatchURN) {
			found = true
		}
	}
	if !found {
		return nil, patchErrorf("invalidValue", "schemas must be [%q]", scimPatchURN)
	}
	raw, _ := field(m, "Operations")
	items, ok := raw.([]any)
	if !ok || len(items) == 0 {
		return nil, patchErrorf("invalidValue", "Operations must be a list of one or more operations")
	}
	ops := make([]patchOp, 0, len(items))
	for i, item := range items {
		o, ok := item.(map[string]any)
		if !ok {
			return nil, patchErrorf("invalidSyntax", "Operations[%d] must be an object", i)
		}
		name, err := stringAttr(o, "op", "op")
		if err != nil {
			return nil, patchErrorf("invalidSyntax", "Operations[%d].op must be a string", i)
		}
		op := patchOp{op: strings.ToLower(name)}
		if op.op != "add" && op.op != "remove" && op.op != "replace" {
			return nil, patchErrorf("invalidSyntax", "Operations[%d].op must be add, remove or replace", i)
		}
		rawPath, err := stringAttr(o, "path", "path")
		if err != nil {
			return nil, patchErrorf("invalidPath", "Operations[%d].path must be a string", i)
		}
		if rawPath != "" {
			p, err := resolvePath(rawPath)
			if err != nil {
				return nil, err
			}
			op.path = &p
		}
		value, hasValue := field(o, "value")
		switch {
		case op.op == "remove" && op.path == nil:
			return nil, patchErrorf("noTarget", "Operations[%d]: remove needs a path", i)
		case op.op != "remove" && !hasValue:
			return nil, patchErrorf("invalidValue", "Operations[%d]: %s needs a value", i, op.op)
		case op.op != "remove" && op.path == nil:
			if _, ok := value.(map[string]any); !ok {
				return nil, patchErrorf("invalidValue", "Operations[%d]: without a path the value must be an object of attributes", i)
			}
		}
		op.value = value
		ops = append(ops, op)
	}
	return ops, nil
}

// resolvePath parses an attribute path (RFC 7644 §3.5.2's PATH grammar).
func resolvePath(raw string) (patchPath, error) {
	if strings.EqualFold(raw, scimEnterpriseURN) {
		return patchPath{ext: true}, nil
	}
	p, err := fp.ParsePath([]byte(raw))
	if err != nil {
		return patchPath{}, patchErrorf("invalidPath", "path %q is not a SCIM attribute path", raw)
	}
	out := patchPath{attr: p.AttributePath.AttributeName, filter: p.ValueExpression}
	if pre := p.AttributePath.URIPrefix; pre != nil {
		switch {
		case strings.EqualFold(*pre, scimEnterpriseURN):
			out.ext = true
		case !strings.EqualFold(*pre, scimUserURN):
			return patchPath{}, patchErrorf("invalidPath", "path %q names a schema this service provider does not know", raw)
		}
	}
	if sa := p.AttributePath.SubAttribute; sa != nil {
		out.sub = *sa
	}
	if p.SubAttribute != nil {
		out.sub = *p.SubAttribute
	}
	return out, nil
}

// apply runs the operation on the resource's representation doc.
func (op patchOp) apply(doc map[string]any) error {
	if op.path != nil {
		return applyAt(doc, op.op, *op.path, op.value)
	}
	// No path: each attribute of the value is added or replaced; Entra
	// also puts paths (name.givenName, URN-prefixed names) in the keys.
	for k, v := range op.value.(map[string]any) {
		p, err := resolvePath(k)
		if err != nil {
			return err
		}
		if err := applyAt(doc, op.op, p, v); err != nil {
			return err
		}
	}
	return nil
}

// key is the spelling of name present in m, else name.
func key(m map[string]any, name string) string {
	for k := range m {
		if strings.EqualFold(k, name) {
			return k
		}
	}
	return name
}

// child is the object under name in m, created when create is set.
func child(m map[string]any, name string, create bool) map[string]any {
	k := key(m, name)
	if o, ok := m[k].(map[string]any); ok {
		return o
	}
	if !create {
		return nil
	}
	o := map[string]any{}
	m[k] = o
	return o
}

func applyAt(doc map[string]any, op string, p patchPath, value any) error {
	// is_active is a boolean every node has: there is no "unassigned" to
	// remove it to, and a removal read as true or false would be a guess.
	if op == "remove" && !p.ext && strings.EqualFold(p.attr, "active") {
		return patchErrorf("mutability", "active cannot be removed: replace it with false to deactivate")
	}
	container := doc
	if p.ext {
		if container = child(doc, scimEnterpriseURN, op != "remove"); container == nil {
			return nil
		}
		if p.attr == "" {
			return applyWhole(container, op, value)
		}
	}
	k := key(container, p.attr)
	switch {
	case p.filter != nil:
		return applyFiltered(container, k, op, p, value)
	case p.sub != "":
		if _, multi := container[k].([]any); multi {
			return patchErrorf("invalidPath", "%s.%s needs a value filter, such as %s[type eq \"work\"].%s", p.attr, p.sub, p.attr, p.sub)
		}
		parent := child(container, k, op != "remove")
		if parent == nil {
			return nil
		}
		if op == "remove" {
			delete(parent, key(parent, p.sub))
		} else {
			parent[key(parent, p.sub)] = value
		}
	case op == "remove":
		delete(container, k)
	case op == "add":
		add(container, k, value)
	default:
		replace(container, k, value)
	}
	return nil
}

// replace is RFC 7644 §3.5.2.3: a complex attribute takes the given
// sub-attributes and keeps the others; anything else is set whole.
func replace(m map[string]any, k string, value any) {
	cur, isObject := m[k].(map[string]any)
	v, valueIsObject := value.(map[string]any)
	if !isObject || !valueIsObject {
		m[k] = value
		return
	}
	for vk, vv := range v {
		cur[key(cur, vk)] = vv
	}
}

// applyWhole adds or replaces the enterprise extension's attributes from an
// object value, or removes the extension.
func applyWhole(ext map[string]any, op string, value any) error {
	if op == "remove" {
		clear(ext)
		return nil
	}
	o, ok := value.(map[string]any)
	if !ok {
		return patchErrorf("invalidValue", "the value of %s must be an object", scimEnterpriseURN)
	}
	for k, v := range o {
		if op == "add" {
			add(ext, key(ext, k), v)
		} else {
			replace(ext, key(ext, k), v)
		}
	}
	return nil
}

// add is RFC 7644 §3.5.2.1: values are appended to a multi-valued
// attribute (a new primary value takes primary from the others), merged
// into a complex one, and set otherwise.
func add(m map[string]any, k string, value any) {
	switch cur := m[k].(type) {
	case []any:
		more, ok := value.([]any)
		if !ok {
			more = []any{value}
		}
		if anyPrimary(more) {
			for _, e := range cur {
				if o, ok := e.(map[string]any); ok {
					delete(o, key(o, "primary"))
				}
			}
		}
		m[k] = append(cur, more...)
	case map[string]any:
		if o, ok := value.(map[string]any); ok {
			for vk, vv := range o {
				cur[key(cur, vk)] = vv
			}
			return
		}
		m[k] = value
	default:
		m[k] = value
	}
}

func anyPrimary(values []any) bool {
	for _, v := range values {
		if o, ok := v.(map[string]any); ok {
			if b, err := boolAttr(o, "primary", "primary", false); err == nil && b {
				return true
			}
		}
	}
	return false
}

// applyFiltered handles attr[filter] and attr[filter].sub on a
// multi-valued attribute. An add or replace that matches nothing adds a
// value built from the filter's equalities (Entra's
// emails[type eq "work"].value on a person without one).
func applyFiltered(container map[string]any, k, op string, p patchPath, value any) error {
	list, _ := container[k].([]any)
	var kept []any
	matched := 0
	for _, e := range list {
		o, ok := e.(map[string]any)
		if !ok || !matchValue(p.filter, o) {
			kept = append(kept, e)
			continue
		}
		matched++
		switch {
		case op == "remove" && p.sub == "":
			continue // dropped
		case op == "remove":
			delete(o, key(o, p.sub))
		case p.sub != "":
			o[key(o, p.sub)] = value
		default:
			v, ok := value.(map[string]any)
			if !ok {
				return patchErrorf("invalidValue", "the value of %s[...] must be an object", p.attr)
			}
			for vk, vv := range v {
				o[key(o, vk)] = vv
			}
		}
		kept = append(kept, o)
	}
	if matched == 0 && op != "remove" {
		o, ok := equalities(p.filter)
		if !ok {
			return patchErrorf("noTarget", "no value of %s matches the filter", p.attr)
		}
		if p.sub != "" {
			o[p.sub] = value
		} else if v, isObject := value.(map[string]any); isObject {
			for vk, vv := range v {
				o[vk] = vv
			}
		}
		kept = append(kept, o)
	}
	if kept == nil {
		delete(container, k)
		return nil
	}
	container[k] = kept
	return nil
}

// matchValue evaluates a value filter on one value of a multi-valued
// attribute: eq, ne, pr, sw, ew, co, and, or, not; strings compared
// case-insensitively (the sub-attributes here are caseExact false).
func matchValue(e fp.Expression, o map[string]any) bool {
	switch e := e.(type) {
	case *fp.AttributeExpression:
		name := e.AttributePath.AttributeName
		if e.AttributePath.SubAttribute != nil {
			name = *e.AttributePath.SubAttribute
		}
		v, present := field(o, name)
		if e.Operator == fp.PR {
			return present && v != nil && v != ""
		}
		got, want := fmt.Sprint(v), fmt.Sprint(e.CompareValue)
		if !present {
			got = ""
		}
		switch e.Operator {
		case fp.EQ:
			return strings.EqualFold(got, want)
		case fp.NE:
			return !strings.EqualFold(got, want)
		case fp.SW:
			return strings.HasPrefix(strings.ToLower(got), strings.ToLower(want))
		case fp.EW:
			return strings.HasSuffix(strings.ToLower(got), strings.ToLower(want))
		case fp.CO:
			return strings.Contains(strings.ToLower(got), strings.ToLower(want))
		}
		return false
	case *fp.LogicalExpression:
		if e.Operator == fp.AND {
			return matchValue(e.Left, o) && matchValue(e.Right, o)
		}
		return matchValue(e.Left, o) || matchValue(e.Right, o)
	case *fp.NotExpression:
		return !matchValue(e.Expression, o)
	}
	return false
}

// equalities is the value a filter of eq joined by and describes.
func equalities(e fp.Expression) (map[string]any, bool) {
	switch e := e.(type) {
	case *fp.AttributeExpression:
		if e.Operator != fp.EQ {
			return nil, false
		}
		return map[string]any{e.AttributePath.AttributeName: e.CompareValue}, true
	case *fp.LogicalExpression:
		if e.Operator != fp.AND {
			return nil, false
		}
		l, ok := equalities(e.Left)
		if !ok {
			return nil, false
		}
		r, ok := equalities(e.Right)
		if !ok {
			return nil, false
		}
		for k, v := range r {
			l[k] = v
		}
		return l, true
	}
	return nil, false
}
