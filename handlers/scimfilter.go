package handlers

import (
	"errors"
	"regexp"
	"strings"

	fp "github.com/scim2/filter-parser/v2"

	"github.com/usersvc/usersvc/schema"
)

// Filters on GET /Users (RFC 7644 §3.4.2.2): eq, joined by and, on
// userName, externalId and the work email — what Okta and Entra send to
// find a person before creating them. Okta: userName eq "..." ("SCIM 2.0
// protocol reference"); Entra: userName eq, externalId eq and
// emails[type eq "work"].value eq ("Tutorial: Develop and plan
// provisioning for a SCIM endpoint", learn.microsoft.com).

// valuePathCompare is Entra's attr[filter].sub eq "v", which RFC 7644's
// grammar (and so the parser) does not have: it means
// attr[filter and sub eq "v"].
var valuePathCompare = regexp.MustCompile(`^\s*([A-Za-z][\w-]*)\[([^\[\]]*)\]\.([A-Za-z][\w-]*)\s+([eE][qQ])\s+(.+?)\s*$`)

func parseSCIMFilter(raw string) (schema.ProvisionQuery, error) {
	if m := valuePathCompare.FindStringSubmatch(raw); m != nil {
		raw = m[1] + "[" + m[2] + " and " + m[3] + " eq " + m[5] + "]"
	}
	e, err := fp.ParseFilter([]byte(raw))
	if err != nil {
		return schema.ProvisionQuery{}, errors.New("the filter is not valid SCIM filter syntax")
	}
	var q schema.ProvisionQuery
	if err := collectFilter(e, &q); err != nil {
		return schema.ProvisionQuery{}, err
	}
	return q, nil
}

var errUnsupportedFilter = errors.New(`supported filters: eq on userName, externalId and emails[type eq "work"].value (or emails.value), joined by and`)

func collectFilter(e fp.Expression, q *schema.ProvisionQuery) error {
	switch e := e.(type) {
	case *fp.LogicalExpression:
		if e.Operator != fp.AND {
			return errUnsupportedFilter
		}
		if err := collectFilter(e.Left, q); err != nil {
			return err
		}
		return collectFilter(e.Right, q)
	case *fp.AttributeExpression:
		v, ok := e.CompareValue.(string)
		if e.Operator != fp.EQ || !ok || v == "" || !corePrefix(e.AttributePath.URIPrefix) {
			return errUnsupportedFilter
		}
		name, sub := e.AttributePath.AttributeName, ""
		if e.AttributePath.SubAttribute != nil {
			sub = *e.AttributePath.SubAttribute
		}
		switch {
		case strings.EqualFold(name, "userName") && sub == "":
			return set(&q.UserName, v)
		case strings.EqualFold(name, "externalId") && sub == "":
			return set(&q.ExternalID, v)
		case strings.EqualFold(name, "emails") && strings.EqualFold(sub, "value"):
			return set(&q.Email, v)
		}
	case *fp.ValuePath:
		if !strings.EqualFold(e.AttributePath.AttributeName, "emails") || !corePrefix(e.AttributePath.URIPrefix) {
			return errUnsupportedFilter
		}
		eqs, ok := equalities(e.ValueFilter)
		if !ok {
			return errUnsupportedFilter
		}
		var value string
		for k, v := range eqs {
			s, isString := v.(string)
			switch {
			case strings.EqualFold(k, "value") && isString:
				value = s
			case strings.EqualFold(k, "type") && isString && strings.EqualFold(s, "work"):
			default:
				return errUnsupportedFilter
			}
		}
		if value == "" {
			return errUnsupportedFilter
		}
		return set(&q.Email, value)
	}
	return errUnsupportedFilter
}

func corePrefix(p *string) bool { return p == nil || strings.EqualFold(*p, scimUserURN) }

// set fills one field of the query; two different values for one
// attribute joined by and match nobody, which the query cannot say.
func set(dst *string, v string) error {
	if *dst != "" && !strings.EqualFold(*dst, v) {
		return errors.New("the filter asks for two values of one attribute")
	}
	*dst = v
	return nil
}
