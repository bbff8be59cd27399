package handlers

import (
	"strings"
)

// The attributes and excludedAttributes parameters (RFC 7644 §3.9): which
// attributes a resource in an answer carries. id and schemas are returned
// always (RFC 7643 §7 "returned": "always"), and meta with them.

func splitAttrList(raw string) []string {
	var out []string
	for _, a := range strings.Split(raw, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// project applies the parameters to one encoded resource; a path that
// does not parse or names nothing is ignored, as attributes the resource
// lacks are.
func project(doc map[string]any, attributes, excluded []string) map[string]any {
	if len(attributes) > 0 {
		out := map[string]any{}
		for _, k := range []string{"id", "schemas", "meta"} {
			if v, ok := doc[k]; ok {
				out[k] = v
			}
		}
		for _, a := range attributes {
			if p, err := resolvePath(a); err == nil {
				copyPath(out, doc, p)
			}
		}
		doc = out
	}
	for _, a := range excluded {
		p, err := resolvePath(a)
		if err != nil || (!p.ext && (strings.EqualFold(p.attr, "id") || strings.EqualFold(p.attr, "schemas"))) {
			continue
		}
		if p.ext || p.sub != "" {
			_ = applyAt(doc, "remove", patchPath{ext: p.ext, attr: p.attr, sub: p.sub}, nil)
			continue
		}
		delete(doc, key(doc, p.attr))
	}
	return doc
}

// copyPath copies the attribute p names from src into dst.
func copyPath(dst, src map[string]any, p patchPath) {
	if p.ext {
		from, ok := src[scimEnterpriseURN].(map[string]any)
		if !ok {
			return
		}
		to := child(dst, scimEnterpriseURN, true)
		if p.attr == "" {
			for k, v := range from {
				to[k] = v
			}
			return
		}
		src, dst = from, to
	}
	k := key(src, p.attr)
	v, ok := src[k]
	if !ok {
		return
	}
	if p.sub == "" {
		dst[k] = v
		return
	}
	switch v := v.(type) {
	case map[string]any:
		if sv, ok := v[key(v, p.sub)]; ok {
			child(dst, k, true)[key(v, p.sub)] = sv
		}
	case []any:
		var values []any
		for _, e := range v {
			if o, ok := e.(map[string]any); ok {
				if sv, ok := o[key(o, p.sub)]; ok {
					values = append(values, map[string]any{key(o, p.sub): sv})
				}
			}
		}
		if values != nil {
			dst[k] = values
		}
	}
}
