package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/usersvc/usersvc/schema"
)

// encodeSCIMUser is the SCIM representation of a provisioned person, with
// only the attributes scimUserAttrs and scimEnterpriseAttrs declare.
func encodeSCIMUser(base string, u schema.ProvisionedUser) map[string]any {
	m := deepCopy(u.Rest)
	m["schemas"] = []any{scimUserURN, scimEnterpriseURN}
	m["id"] = u.ID
	m["active"] = u.Active
	m["meta"] = map[string]any{"resourceType": "User", "location": base + "/Users/" + u.ID}
	for _, a := range scimStrings {
		if v := *a.field(&u); v != "" {
			o := m
			for _, name := range a.path[:len(a.path)-1] {
				o = child(o, name, true)
			}
			o[a.path[len(a.path)-1]] = v
		}
	}
	if len(u.Emails) > 0 {
		emails := make([]any, len(u.Emails))
		for i, e := range u.Emails {
			o := map[string]any{"value": e.Value}
			if e.Type != "" {
				o["type"] = e.Type
			}
			if e.Primary != nil {
				o["primary"] = *e.Primary
			}
			emails[i] = o
		}
		m["emails"] = emails
	}
	return m
}

// field finds an attribute by name, case-insensitively (RFC 7643 §2.1).
func field(m map[string]any, name string) (any, bool) {
	if v, ok := m[name]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

func invalidValue(format string, args ...any) error {
	return schema.Errorf(schema.KindInvalid, format, args...)
}

// stringAttr reads a string attribute; null and absent are "".
func stringAttr(m map[string]any, name, path string) (string, error) {
	v, ok := field(m, name)
	if !ok || v == nil {
		return "", nil
	}
	s, isString := v.(string)
	if !isString {
		return "", invalidValue("%s must be a string", path)
	}
	return s, nil
}

// boolAttr reads a boolean attribute; Microsoft Entra ID sends booleans as
// the strings "True" and "False" ("Known issues and resolutions with SCIM
// 2.0 protocol compliance", learn.microsoft.com), so those are accepted in
// any case.
func boolAttr(m map[string]any, name, path string, absent bool) (bool, error) {
	v, ok := field(m, name)
	if !ok || v == nil {
		return absent, nil
	}
	switch b := v.(type) {
	case bool:
		return b, nil
	case string:
		if strings.EqualFold(b, "true") {
			return true, nil
		}
		if strings.EqualFold(b, "false") {
			return false, nil
		}
	}
	return false, invalidValue("%s must be a boolean", path)
}

func objectAttr(m map[string]any, name, path string) (map[string]any, error) {
	v, ok := field(m, name)
	if !ok || v == nil {
		return nil, nil
	}
	o, isObject := v.(map[string]any)
	if !isObject {
		return nil, invalidValue("%s must be an object", path)
	}
	return o, nil
}

// scimStrings ties each string attribute the User resource maps (by its
// path of nested objects) to its field: the one list decoding reads.
var scimStrings = []struct {
	path  []string
	field func(*schema.ProvisionedUser) *string
}{
	{[]string{"userName"}, func(u *schema.ProvisionedUser) *string { return &u.UserName }},
	{[]string{"externalId"}, func(u *schema.ProvisionedUser) *string { return &u.ExternalID }},
	{[]string{"title"}, func(u *schema.ProvisionedUser) *string { return &u.Title }},
	{[]string{"name", "givenName"}, func(u *schema.ProvisionedUser) *string { return &u.GivenName }},
	{[]string{"name", "familyName"}, func(u *schema.ProvisionedUser) *string { return &u.FamilyName }},
	{[]string{scimEnterpriseURN, "department"}, func(u *schema.ProvisionedUser) *string { return &u.Department }},
	{[]string{scimEnterpriseURN, "manager", "value"}, func(u *schema.ProvisionedUser) *string { return &u.ManagerID }},
	{[]string{scimEnterpriseURN, "manager", "displayName"}, func(u *schema.ProvisionedUser) *string { return &u.ManagerName }},
}

// stringAt reads the string at path through nested objects; absent or
// null anywhere on the way is "".
func stringAt(m map[string]any, path []string) (string, error) {
	for i, name := range path[:len(path)-1] {
		o, err := objectAttr(m, name, strings.Join(path[:i+1], "."))
		if err != nil || o == nil {
			return "", err
		}
		m = o
	}
	return stringAttr(m, path[len(path)-1], strings.Join(path, "."))
}

// decodeSCIMUser maps a User resource onto a provisioned person: what
// scimUserAttrs and scimEnterpriseAttrs declare into its fields, the rest
// (Entra's default mappings send phoneNumbers, addresses and more) into
// Rest, kept as sent. id and meta are the server's and ignored.
func decodeSCIMUser(m map[string]any) (schema.ProvisionedUser, error) {
	var u schema.ProvisionedUser
	var err error
	if v, ok := field(m, "schemas"); ok {
		list, isList := v.([]any)
		if !isList {
			return u, invalidValue("schemas must be a list of URNs")
		}
		for _, s := range list {
			if _, isString := s.(string); !isString {
				return u, invalidValue("schemas must be a list of URNs")
			}
		}
	}
	// Entra sends manager as a plain string (its id) in PATCH values.
	if ent, err := objectAttr(m, scimEnterpriseURN, scimEnterpriseURN); err == nil && ent != nil {
		if v, ok := field(ent, "manager"); ok {
			if id, isString := v.(string); isString {
				ent[key(ent, "manager")] = map[string]any{"value": id}
			}
		}
	}
	for _, a := range scimStrings {
		if *a.field(&u), err = stringAt(m, a.path); err != nil {
			return u, err
		}
	}
	if strings.TrimSpace(u.UserName) == "" {
		return u, invalidValue("userName is required")
	}
	if u.Active, err = boolAttr(m, "active", "active", true); err != nil {
		return u, err
	}
	if u.Emails, u.Email, err = decodeEmails(m); err != nil {
		return u, err
	}
	u.Rest = unmapped(m)
	return u, nil
}

// unmapped is what of m no field of ProvisionedUser holds: a copy without
// the server's attributes (schemas, id, meta), the mapped ones, and
// objects that held mapped attributes only.
func unmapped(m map[string]any) map[string]any {
	rest := deepCopy(m)
	for _, name := range []string{"schemas", "id", "meta", "active", "emails"} {
		delete(rest, key(rest, name))
	}
	for _, a := range scimStrings {
		o := rest
		var parents []map[string]any
		for _, name := range a.path[:len(a.path)-1] {
			if o = child(o, name, false); o == nil {
				break
			}
			parents = append(parents, o)
		}
		if o == nil {
			continue
		}
		delete(o, key(o, a.path[len(a.path)-1]))
		for i := len(parents) - 1; i >= 0; i-- { // drop what is left empty
			up := rest
			if i > 0 {
				up = parents[i-1]
			}
			if len(parents[i]) == 0 {
				delete(up, key(up, a.path[i]))
			}
		}
	}
	if len(rest) == 0 {
		return nil
	}
	return rest
}

// deepCopy copies a decoded JSON object, so a change to the copy never
// reaches the original.
func deepCopy(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = copyValue(v)
	}
	return out
}

func copyValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return deepCopy(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = copyValue(e)
		}
		return out
	}
	return v
}

// decodeEmails reads emails and picks the node's email: the primary one,
// else the work one, else the first (RFC 7643 §2.4: at most one is
// primary). Values without an address are dropped.
func decodeEmails(m map[string]any) ([]schema.ProvisionedEmail, string, error) {
	v, ok := field(m, "emails")
	if !ok || v == nil {
		return nil, "", nil
	}
	list, isList := v.([]any)
	if !isList {
		return nil, "", invalidValue("emails must be a list")
	}
	var emails []schema.ProvisionedEmail
	var work, primary string
	for _, e := range list {
		o, isObject := e.(map[string]any)
		if !isObject {
			return nil, "", invalidValue("each of emails must be an object")
		}
		var pe schema.ProvisionedEmail
		var err error
		if pe.Value, err = stringAttr(o, "value", "emails.value"); err != nil {
			return nil, "", err
		}
		if pe.Type, err = stringAttr(o, "type", "emails.type"); err != nil {
			return nil, "", err
		}
		isPrimary, err := boolAttr(o, "primary", "emails.primary", false)
		if err != nil {
			return nil, "", err
		}
		if p, present := field(o, "primary"); present && p != nil {
			pe.Primary = &isPrimary
		}
		if pe.Value == "" {
			continue
		}
		if isPrimary {
			if primary != "" {
				return nil, "", invalidValue("at most one of emails may be primary")
			}
			primary = pe.Value
		}
		if work == "" && strings.EqualFold(pe.Type, "work") {
			work = pe.Value
		}
		emails = append(emails, pe)
	}
	switch {
	case len(emails) == 0:
		return nil, "", nil
	case primary != "":
		return emails, primary, nil
	case work != "":
		return emails, work, nil
	}
	return emails, emails[0].Value, nil
}

// readSCIMBody reads a JSON object body, at most maxSCIMBody.
func readSCIMBody(c *gin.Context) (map[string]any, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxSCIMBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			abortSCIM(c, http.StatusRequestEntityTooLarge, "", "the request body is larger than 1 MiB")
			return nil, false
		}
		abortSCIM(c, http.StatusBadRequest, "invalidSyntax", "could not read the request body")
		return nil, false
	}
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(body))
	if err := d.Decode(&m); err != nil || m == nil || d.More() {
		abortSCIM(c, http.StatusBadRequest, "invalidSyntax", "the request body is not a JSON object")
		return nil, false
	}
	return m, true
}

func (s *server) scimCreateUser(c *gin.Context) {
	s.scimWriteUser(c, http.StatusCreated, s.scim.users.Create)
}

// scimWriteUser decodes the request's User resource, writes it with write
// and answers the person as stored, with status.
func (s *server) scimWriteUser(c *gin.Context, status int, write func(context.Context, schema.ProvisionedUser) (schema.ProvisionedUser, error)) {
	m, ok := readSCIMBody(c)
	if !ok {
		return
	}
	in, err := decodeSCIMUser(m)
	if err != nil {
		s.respondSCIMError(c, err)
		return
	}
	u, err := write(c.Request.Context(), in)
	if err != nil {
		s.respondSCIMError(c, err)
		return
	}
	s.scimResource(c, status, u)
}

// scimResource answers one resource, with the attributes and
// excludedAttributes parameters applied (RFC 7644 §3.9).
func (s *server) scimResource(c *gin.Context, status int, u schema.ProvisionedUser) {
	doc := encodeSCIMUser(scimBase(c), u)
	c.Header("Location", doc["meta"].(map[string]any)["location"].(string))
	scimJSON(c, status, project(doc, splitAttrList(c.Query("attributes")), splitAttrList(c.Query("excludedAttributes"))))
}

func (s *server) scimGetUser(c *gin.Context, id string) {
	u, err := s.scim.users.Get(c.Request.Context(), id)
	if err != nil {
		s.respondSCIMError(c, err)
		return
	}
	s.scimResource(c, http.StatusOK, u)
}

func (s *server) scimReplaceUser(c *gin.Context, id string) {
	s.scimWriteUser(c, http.StatusOK, func(ctx context.Context, in schema.ProvisionedUser) (schema.ProvisionedUser, error) {
		return s.scim.users.Replace(ctx, id, in)
	})
}

func (s *server) scimDeleteUser(c *gin.Context, id string) {
	if err := s.scim.users.Delete(c.Request.Context(), id); err != nil {
		s.respondSCIMError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// scimPatchUser applies RFC 7644 §3.5.2's operations to the person's
// current representation and writes the result as a replace: one
// validation and one mapping for every way of changing a person.
func (s *server) scimPatchUser(c *gin.Context, id string) {
	m, ok := readSCIMBody(c)
	if !ok {
		return
	}
	ops, err := parsePatch(m)
	if err != nil {
		s.respondSCIMError(c, err)
		return
	}
	u, err := s.scim.users.Modify(c.Request.Context(), id, func(current schema.ProvisionedUser) (schema.ProvisionedUser, error) {
		doc := encodeSCIMUser("", current)
		for _, op := range ops {
			if err := op.apply(doc); err != nil {
				return schema.ProvisionedUser{}, err
			}
		}
		return decodeSCIMUser(doc)
	})
	if err != nil {
		s.respondSCIMError(c, err)
		return
	}
	s.scimResource(c, http.StatusOK, u)
}

// scimQuery is a list request: GET /Users's parameters or a POST
// .search body (RFC 7644 §3.4.2, §3.4.3).
type scimQuery struct {
	filter               string
	startIndex, count    int
	attributes, excluded []string
}

// scimListUsers is GET /Users.
func (s *server) scimListUsers(c *gin.Context) {
	startIndex, count, ok := scimPaging(c)
	if !ok {
		return
	}
	s.scimSearch(c, scimQuery{filter: c.Query("filter"), startIndex: startIndex, count: count,
		attributes: splitAttrList(c.Query("attributes")), excluded: splitAttrList(c.Query("excludedAttributes"))})
}

// scimSearchPost is POST /.search and POST /Users/.search: the query in
// the body. Users are the only resource type, so a search at the root is
// a search of Users.
func (s *server) scimSearchPost(c *gin.Context) {
	m, ok := readSCIMBody(c)
	if !ok {
		return
	}
	q := scimQuery{startIndex: 1, count: scimDefaultPerPage}
	var err error
	if q.filter, err = stringAttr(m, "filter", "filter"); err != nil {
		s.respondSCIMError(c, err)
		return
	}
	for _, p := range []struct {
		name string
		v    *int
	}{{"startIndex", &q.startIndex}, {"count", &q.count}} {
		v, present := field(m, p.name)
		if !present || v == nil {
			continue
		}
		n, isNumber := v.(float64)
		if !isNumber || n != float64(int(n)) {
			abortSCIM(c, http.StatusBadRequest, "invalidValue", p.name+" must be an integer")
			return
		}
		*p.v = int(n)
	}
	q.startIndex, q.count = max(q.startIndex, 1), min(max(q.count, 0), scimMaxResults)
	for _, p := range []struct {
		name string
		v    *[]string
	}{{"attributes", &q.attributes}, {"excludedAttributes", &q.excluded}} {
		v, present := field(m, p.name)
		if !present || v == nil {
			continue
		}
		list, isList := v.([]any)
		if !isList {
			abortSCIM(c, http.StatusBadRequest, "invalidValue", p.name+" must be a list of attribute names")
			return
		}
		for _, a := range list {
			name, isString := a.(string)
			if !isString {
				abortSCIM(c, http.StatusBadRequest, "invalidValue", p.name+" must be a list of attribute names")
				return
			}
			*p.v = append(*p.v, name)
		}
	}
	s.scimSearch(c, q)
}

// scimSearch answers a list request: a filter (scimfilter.go), or every
// provisioned person in a stable order, paged by startIndex and count
// (RFC 7644 §3.4.2.4).
func (s *server) scimSearch(c *gin.Context, q scimQuery) {
	ctx := c.Request.Context()
	var page []schema.ProvisionedUser
	var total int
	if f := strings.TrimSpace(q.filter); f != "" {
		query, err := parseSCIMFilter(f)
		if err != nil {
			abortSCIM(c, http.StatusBadRequest, "invalidFilter", err.Error())
			return
		}
		found, err := s.scim.users.Find(ctx, query)
		if err != nil {
			s.respondSCIMError(c, err)
			return
		}
		total = len(found)
		from := min(q.startIndex-1, len(found))
		page = found[from:min(from+q.count, len(found))]
	} else {
		var err error
		if page, total, err = s.scim.users.List(ctx, q.startIndex-1, q.count); err != nil {
			s.respondSCIMError(c, err)
			return
		}
	}
	base := scimBase(c)
	resources := make([]gin.H, len(page))
	for i, u := range page {
		resources[i] = project(encodeSCIMUser(base, u), q.attributes, q.excluded)
	}
	scimJSON(c, http.StatusOK, scimList(resources, total, q.startIndex))
}

// scimPaging reads startIndex (1-based; less than 1 is 1) and count
// (negative is 0; at most scimMaxResults), RFC 7644 §3.4.2.4.
func scimPaging(c *gin.Context) (startIndex, count int, ok bool) {
	startIndex, count = 1, scimDefaultPerPage
	for _, p := range []struct {
		name string
		v    *int
	}{{"startIndex", &startIndex}, {"count", &count}} {
		raw, present := c.GetQuery(p.name)
		if !present {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(raw))
		if err != nil {
			abortSCIM(c, http.StatusBadRequest, "invalidValue", p.name+" must be an integer")
			return 0, 0, false
		}
		*p.v = n
	}
	return max(startIndex, 1), min(max(count, 0), scimMaxResults), true
}
