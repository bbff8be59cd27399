package ldap

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/schema"
)

// flavor is where a schema keeps what usersvc maps.
type flavor struct {
	name          string
	defaultFilter string
	// logins are the attributes a person is looked up by besides mail;
	// the first one's value is their login (user_id).
	logins  []string
	team    string // team_name
	changed string // lastUpdated, and the listing's >= filter
	// timeFormat writes a generalized time for a filter on changed.
	timeFormat string
	// id is the stable directory id attribute; binaryID says it holds
	// AD's 16 GUID bytes rather than a UUID string.
	id       string
	binaryID bool
	// inactive reports whether an entry is a deactivated account.
	inactive func(*goldap.Entry) bool
	extra    []string // further attributes inactive reads
}

// openLDAP is inetOrgPerson (RFC 2798) with OpenLDAP's operational
// attributes: entryUUID (RFC 4530) as the id, modifyTimestamp (RFC 4512)
// as lastUpdated. A person is inactive while their account is locked by
// the password policy (OpenLDAP's ppolicy overlay, draft-behera-ldap-
// password-policy): pwdAccountLockedTime present. An administrator locks
// an account for good with the value 000001010000Z; a lockout after
// failed binds sets the time of the lock and reads inactive until it is
// lifted.
var openLDAP = flavor{
	name:          FlavorOpenLDAP,
	defaultFilter: DefaultUserFilter,
	logins:        []string{"uid"},
	team:          "departmentNumber",
	changed:       "modifyTimestamp",
	timeFormat:    "20060102150405Z",
	id:            "entryUUID",
	inactive:      func(e *goldap.Entry) bool { return e.GetAttributeValue("pwdAccountLockedTime") != "" },
	extra:         []string{"pwdAccountLockedTime"},
}

// activeDirectory is AD's user class: sAMAccountName is the login
// (userPrincipalName is accepted too), objectGUID the id, whenChanged
// lastUpdated; the ACCOUNTDISABLE bit (0x2) of userAccountControl marks a
// disabled account (Microsoft: "Use the UserAccountControl flags to
// manipulate user account properties").
var activeDirectory = flavor{
	name:          FlavorAD,
	defaultFilter: DefaultADUserFilter,
	logins:        []string{"sAMAccountName", "userPrincipalName"},
	team:          "department",
	changed:       "whenChanged",
	timeFormat:    "20060102150405.0Z",
	id:            "objectGUID",
	binaryID:      true,
	inactive: func(e *goldap.Entry) bool {
		uac, err := strconv.ParseInt(e.GetAttributeValue("userAccountControl"), 10, 64)
		return err == nil && uac&uacAccountDisable != 0
	},
	extra: []string{"userAccountControl"},
}

// uacAccountDisable is userAccountControl's ACCOUNTDISABLE flag.
const uacAccountDisable = 0x2

// attributes are what a search for people asks for.
func (f *flavor) attributes() []string {
	a := append([]string{}, f.logins...)
	a = append(a, "mail", "givenName", "sn", "cn", "displayName", "title", f.team, "manager", f.id, f.changed)
	return append(a, f.extra...)
}

// managerAttributes are what a read of a manager's entry asks for.
var managerAttributes = []string{"givenName", "sn", "displayName", "cn", "mail"}

// candidate is a person as an entry holds them, with what a lookup
// matches on beyond the shared rule.
type candidate struct {
	oidcuser.Person
	aliases   []string // every value of every login attribute
	managerDN string
}

// person maps an entry. ok is false for entries usersvc cannot hold: no
// login or no usable id.
func (f *flavor) person(e *goldap.Entry) (candidate, bool) {
	var c candidate
	c.ID = f.entryID(e)
	for _, attr := range f.logins {
		c.aliases = append(c.aliases, e.GetEqualFoldAttributeValues(attr)...)
	}
	c.Login = f.login(e)
	if c.ID == "" || c.Login == "" {
		return candidate{}, false
	}
	c.Email = first(e, "mail")
	c.LastUpdated, _ = parseGeneralizedTime(first(e, f.changed))
	c.managerDN = first(e, "manager")
	u := schema.User{
		UserID:      c.Login,
		Email:       c.Email,
		FirstName:   first(e, "givenName"),
		LastName:    first(e, "sn"),
		FullName:    fullName(e),
		DisplayName: first(e, "displayName"),
		RoleName:    first(e, "title"),
		TeamName:    first(e, f.team),
		IsActive:    !f.inactive(e),
		OtherKeyValues: map[string]string{
			schema.DirectoryIDProperty: c.ID,
		},
	}
	u.Normalize()
	c.User = u
	return c, true
}

// login is the first login attribute's value; when an entry holds
// several (uid is multi-valued), the one in its RDN.
func (f *flavor) login(e *goldap.Entry) string {
	values := e.GetEqualFoldAttributeValues(f.logins[0])
	if len(values) > 1 {
		if dn, err := goldap.ParseDN(e.DN); err == nil && len(dn.RDNs) > 0 {
			for _, a := range dn.RDNs[0].Attributes {
				if strings.EqualFold(a.Type, f.logins[0]) {
					return strings.TrimSpace(a.Value)
				}
			}
		}
	}
	if len(values) == 0 {
		return ""
	}
	return strings.TrimSpace(values[0])
}

// entryID is the entry's stable id: entryUUID in lower case, or
// objectGUID in the canonical GUID form.
func (f *flavor) entryID(e *goldap.Entry) string {
	if !f.binaryID {
		return strings.ToLower(first(e, f.id))
	}
	raw := e.GetEqualFoldRawAttributeValue(f.id)
	if len(raw) != 16 {
		return ""
	}
	return formatGUID(raw)
}

// idFilter is the filter component matching id (as entryID writes it),
// every byte of an AD GUID escaped (RFC 4515 section 3); ok is false when
// id cannot be one.
func (f *flavor) idFilter(id string) (string, bool) {
	if f.binaryID {
		raw, ok := parseGUID(id)
		if !ok {
			return "", false
		}
		var b strings.Builder
		b.WriteString("(" + f.id + "=")
		for _, c := range raw {
			fmt.Fprintf(&b, `\%02x`, c)
		}
		b.WriteString(")")
		return b.String(), true
	}
	if !isUUID(id) {
		return "", false
	}
	return "(" + f.id + "=" + goldap.EscapeFilter(strings.ToLower(id)) + ")", true
}

// lookupFilter matches id as any login attribute or as the mail, every
// value escaped (RFC 4515): id is data, never filter syntax.
func (f *flavor) lookupFilter(userFilter, id string) string {
	v := goldap.EscapeFilter(id)
	var b strings.Builder
	b.WriteString("(&" + userFilter + "(|")
	for _, attr := range f.logins {
		b.WriteString("(" + attr + "=" + v + ")")
	}
	b.WriteString("(mail=" + v + ")))")
	return b.String()
}

func first(e *goldap.Entry, attr string) string {
	return strings.TrimSpace(e.GetEqualFoldAttributeValue(attr))
}

// fullName is "given family" when the entry has both, else its
// displayName, else its cn.
func fullName(e *goldap.Entry) string {
	if g, s := first(e, "givenName"), first(e, "sn"); g != "" && s != "" {
		return g + " " + s
	}
	if d := first(e, "displayName"); d != "" {
		return d
	}
	return first(e, "cn")
}

// manager is what a person's record says of their manager.
type manager struct {
	name, email string
}

func managerOf(e *goldap.Entry) manager {
	return manager{name: fullName(e), email: first(e, "mail")}
}

// withManager fills the manager fields of a person's user.
func withManager(p oidcuser.Person, m manager) oidcuser.Person {
	p.User.ManagerFullname = m.name
	p.User.ManagerEmail = m.email
	return p
}

// formatGUID writes AD's 16 objectGUID bytes as the GUID string Windows
// shows: the first three fields are little-endian in the bytes.
func formatGUID(b []byte) string {
	order := [16]int{3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15}
	var s strings.Builder
	for i, j := range order {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			s.WriteByte('-')
		}
		s.WriteString(hex.EncodeToString(b[j : j+1]))
	}
	return s.String()
}

// parseGUID reads a GUID string (braces optional, any case) back into
// AD's byte order.
func parseGUID(s string) ([]byte, bool) {
	if inner, ok := strings.CutPrefix(s, "{"); ok {
		if s, ok = strings.CutSuffix(inner, "}"); !ok {
			return nil, false
		}
	}
	if !isUUID(s) {
		return nil, false
	}
	h, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil {
		return nil, false
	}
	order := [16]int{3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15}
	b := make([]byte, 16)
	for i, j := range order {
		b[j] = h[i]
	}
	return b, true
}

// isUUID: 8-4-4-4-12 hex digits.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// parseGeneralizedTime reads an LDAP GeneralizedTime (RFC 4517 section
// 3.3.13): YYYYMMDDHH[MM[SS]][(.|,)fraction](Z|(+|-)HH[MM]), as OpenLDAP
// (20260102030405Z) and AD (20260102030405.0Z) write it.
func parseGeneralizedTime(s string) (time.Time, error) {
	bad := fmt.Errorf("not a generalized time: %q", s)
	num := func(i, n int) (int, bool) {
		if i+n > len(s) {
			return 0, false
		}
		v := 0
		for _, c := range s[i : i+n] {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(4, 2)
	day, ok3 := num(6, 2)
	hour, ok4 := num(8, 2)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return time.Time{}, bad
	}
	i := 10
	var minute, sec int
	var unit time.Duration = time.Hour // what a fraction is a fraction of
	if v, ok := num(i, 2); ok {
		minute, i, unit = v, i+2, time.Minute
		if v, ok := num(i, 2); ok {
			sec, i, unit = v, i+2, time.Second
		}
	}
	var frac time.Duration
	if i < len(s) && (s[i] == '.' || s[i] == ',') {
		i++
		start := i
		scale := unit
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			scale /= 10
			frac += time.Duration(s[i]-'0') * scale
			i++
		}
		if i == start {
			return time.Time{}, bad
		}
	}
	loc := time.UTC
	switch {
	case i < len(s) && s[i] == 'Z':
		i++
	case i < len(s) && (s[i] == '+' || s[i] == '-'):
		h, ok := num(i+1, 2)
		if !ok {
			return time.Time{}, bad
		}
		m, ok := num(i+3, 2)
		n := 3
		if ok {
			n = 5
		}
		off := h*3600 + m*60
		if s[i] == '-' {
			off = -off
		}
		loc = time.FixedZone("", off)
		i += n
	default:
		return time.Time{}, bad
	}
	if i != len(s) || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 60 {
		return time.Time{}, bad
	}
	t := time.Date(year, time.Month(month), day, hour, minute, min(sec, 59), 0, loc).Add(frac)
	return t.UTC(), nil
}
