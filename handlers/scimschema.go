package handlers

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// scimAttr is one attribute definition of RFC 7643 §7. The tables below
// are the one statement of what the Users resource holds: the Schemas
// document is rendered from them, and only what they declare is mapped
// onto the graph (scimusers.go), so a client reading discovery is never
// promised an attribute that is dropped.
type scimAttr struct {
	name, typ, description string
	multi, required, exact bool
	uniqueness             string
	canonical              []string
	sub                    []scimAttr
}

func str(name, description string) scimAttr {
	return scimAttr{name: name, typ: "string", description: description}
}

// scimUserAttrs is the core User schema (RFC 7643 §4.1) as far as the
// graph's (:User) node has a place for it.
var scimUserAttrs = []scimAttr{
	{name: "userName", typ: "string", required: true, uniqueness: "server",
		description: "The directory login; the node's user_id (stored lowercased, answered as sent)."},
	{name: "name", typ: "complex", description: "The person's name.", sub: []scimAttr{
		str("givenName", "first_name"),
		str("familyName", "last_name"),
	}},
	str("displayName", "The name to show: display_name (else derived from the name or the email)."),
	str("title", "role_name"),
	{name: "active", typ: "boolean", description: "is_active; false hides the person in Amundsen."},
	{name: "emails", typ: "complex", multi: true,
		description: "Email addresses; the primary one (else the work one, else the first) is the node's email and, by the keying rule, its key.",
		sub: []scimAttr{
			str("value", "The address."),
			{name: "type", typ: "string", canonical: []string{"work", "home", "other"}, description: "work, home or other."},
			{name: "primary", typ: "boolean", description: "The address that is the node's email."},
		}},
}

// scimEnterpriseAttrs is the enterprise extension (RFC 7643 §4.3) as mapped.
var scimEnterpriseAttrs = []scimAttr{
	str("department", "team_name"),
	{name: "manager", typ: "complex", description: "The person's manager.", sub: []scimAttr{
		str("value", "The manager's id in the provisioning client (manager_id)."),
		str("displayName", "The manager's name (manager_fullname)."),
	}},
}

func (a scimAttr) render() gin.H {
	m := gin.H{
		"name": a.name, "type": a.typ, "multiValued": a.multi, "description": a.description,
		"required": a.required, "caseExact": a.exact, "mutability": "readWrite", "returned": "default",
		"uniqueness": "none",
	}
	if a.uniqueness != "" {
		m["uniqueness"] = a.uniqueness
	}
	if len(a.canonical) > 0 {
		m["canonicalValues"] = a.canonical
	}
	if len(a.sub) > 0 {
		subs := make([]gin.H, len(a.sub))
		for i, s := range a.sub {
			subs[i] = s.render()
		}
		m["subAttributes"] = subs
	}
	return m
}

// scimSchemaDoc renders one Schema resource (RFC 7643 §7).
func scimSchemaDoc(base, id, name, description string, attrs []scimAttr) gin.H {
	rendered := make([]gin.H, len(attrs))
	for i, a := range attrs {
		rendered[i] = a.render()
	}
	return gin.H{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Schema"}, "id": id, "name": name,
		"description": description, "attributes": rendered,
		"meta": gin.H{"resourceType": "Schema", "location": base + "/Schemas/" + id},
	}
}

func scimSchemas(base string) []gin.H {
	return []gin.H{
		scimSchemaDoc(base, scimUserURN, "User", "A person in the metadata graph: a (:User) node.", scimUserAttrs),
		scimSchemaDoc(base, scimEnterpriseURN, "EnterpriseUser", "Enterprise attributes of a person.", scimEnterpriseAttrs),
	}
}

// scimResourceTypes lists User only: Amundsen's model has no groups (teams
// are a property, team_name, fed by the enterprise department).
func scimResourceTypes(base string) []gin.H {
	return []gin.H{{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:ResourceType"},
		"id":      "User", "name": "User", "endpoint": "/Users", "description": "People in the metadata graph",
		"schema":           scimUserURN,
		"schemaExtensions": []gin.H{{"schema": scimEnterpriseURN, "required": false}},
		"meta":             gin.H{"resourceType": "ResourceType", "location": base + "/ResourceTypes/User"},
	}}
}

func scimServiceProviderConfig(base string) gin.H {
	return gin.H{
		"schemas":          []string{"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"},
		"documentationUri": "https://github.com/usersvc/usersvc/blob/main/docs/scim.md",
		"patch":            gin.H{"supported": true},
		"bulk":             gin.H{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":           gin.H{"supported": true, "maxResults": scimMaxResults},
		"changePassword":   gin.H{"supported": false},
		"sort":             gin.H{"supported": false},
		"etag":             gin.H{"supported": false},
		"authenticationSchemes": []gin.H{{
			"type": "oauthbearertoken", "name": "Bearer token", "primary": true,
			"description": "The token configured in SCIM_TOKEN or SCIM_TOKEN_FILE, as Authorization: Bearer <token>.",
		}},
		"meta": gin.H{"resourceType": "ServiceProviderConfig", "location": base + "/ServiceProviderConfig"},
	}
}

// scimBase is the absolute SCIM base URL of the request, for locations.
func scimBase(c *gin.Context) string {
	scheme := "http"
	if c.Request.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + c.Request.Host + SCIMPath
}

func scimList(resources []gin.H, total, startIndex int) gin.H {
	if resources == nil {
		resources = []gin.H{}
	}
	return gin.H{"schemas": []string{scimListURN}, "totalResults": total, "itemsPerPage": len(resources),
		"startIndex": startIndex, "Resources": resources}
}

// scimDiscovery serves ServiceProviderConfig, ResourceTypes and Schemas
// (RFC 7644 §4), with one resource by id under the latter two.
func (s *server) scimDiscovery(c *gin.Context, endpoint, id string) {
	base := scimBase(c)
	var all []gin.H
	switch endpoint {
	case "ServiceProviderConfig":
		if id != "" {
			abortSCIM(c, http.StatusNotFound, "", "no such SCIM endpoint")
			return
		}
		scimJSON(c, http.StatusOK, scimServiceProviderConfig(base))
		return
	case "ResourceTypes":
		all = scimResourceTypes(base)
	default:
		all = scimSchemas(base)
	}
	if id == "" {
		scimJSON(c, http.StatusOK, scimList(all, len(all), 1))
		return
	}
	for _, r := range all {
		if r["id"] == id {
			scimJSON(c, http.StatusOK, r)
			return
		}
	}
	abortSCIM(c, http.StatusNotFound, "", endpoint+" "+id+" not found")
}
