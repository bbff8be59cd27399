package slapd

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// utf8MailCore writes a copy of the core schema at path into dir whose mail
// attribute (0.9.2342.19200300.100.1.3) is a Directory String compared
// case-insensitively, and returns the copy's path.
func utf8MailCore(dir, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := string(b)
	start := strings.Index(s, "\nattributetype ( 0.9.2342.19200300.100.1.3\n")
	if start < 0 {
		return "", fmt.Errorf("%s: no mail attribute type to change (WithUTF8Mail)", path)
	}
	// The definition ends with the ")" after its SYNTAX.
	syntax := strings.Index(s[start:], "SYNTAX ")
	end := -1
	if syntax >= 0 {
		if i := strings.Index(s[start+syntax:], ")"); i >= 0 {
			end = syntax + i + 1
		}
	}
	if end < 0 {
		return "", fmt.Errorf("%s: the mail attribute type does not end (WithUTF8Mail)", path)
	}
	block := s[start : start+end]
	changed := strings.NewReplacer(
		"caseIgnoreIA5SubstringsMatch", "caseIgnoreSubstringsMatch",
		"caseIgnoreIA5Match", "caseIgnoreMatch",
		"1.3.6.1.4.1.1466.115.121.1.26", "1.3.6.1.4.1.1466.115.121.1.15", // IA5 String -> Directory String
	).Replace(block)
	if changed == block || strings.Contains(changed, "IA5") {
		return "", fmt.Errorf("%s: unexpected mail attribute type (WithUTF8Mail):%s", path, block)
	}
	out := filepath.Join(dir, "core-utf8mail.schema")
	return out, os.WriteFile(out, []byte(s[:start]+changed+s[start+end:]), 0o644)
}

// adSchema gives test entries the Active Directory attributes and classes
// a directory reads. The OIDs are Microsoft's (AD schema); the syntaxes
// are the nearest standard ones: objectGUID is an octet string
// (1.3.6.1.4.1.1466.115.121.1.40) holding AD's 16 bytes, so a filter
// matches it by escaped bytes as on AD; whenChanged is a generalized time
// with an ordering rule, so >= filters work. user is structural under
// organizationalPerson (as in AD) and may hold the inetOrgPerson
// attributes AD's user has too; computer is a user (so a filter on
// objectClass=user alone also finds computers, as on AD).
const adSchema = `# testsupport/slapd: the part of Active Directory's schema a directory reads.
attributetype ( 1.2.840.113556.1.4.221 NAME 'sAMAccountName'
	EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
	SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.656 NAME 'userPrincipalName'
	EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
	SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl'
	EQUALITY integerMatch
	SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.2 NAME 'objectGUID'
	EQUALITY octetStringMatch
	SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.2.141 NAME 'department'
	EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
	SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.2.3 NAME 'whenChanged'
	EQUALITY generalizedTimeMatch ORDERING generalizedTimeOrderingMatch
	SYNTAX 1.3.6.1.4.1.1466.115.121.1.24 SINGLE-VALUE )
objectclass ( 1.2.840.113556.1.5.9 NAME 'user'
	SUP organizationalPerson STRUCTURAL
	MAY ( sAMAccountName $ userPrincipalName $ userAccountControl $ objectGUID $
		department $ whenChanged $ mail $ givenName $ displayName $ manager ) )
objectclass ( 1.2.840.113556.1.3.30 NAME 'computer'
	SUP user STRUCTURAL )
`
