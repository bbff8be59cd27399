package oidcuser_test

import (
	"testing"
	"unicode/utf8"

	"github.com/usersvc/usersvc/oidcuser/okta"
	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/oktaapi"
)

// FuzzSearchEqual: whatever the value, the escaped search expression parses
// back (with an independent SCIM parser) to exactly one equality on
// profile.email with exactly that value: no filter injection.
func FuzzSearchEqual(f *testing.F) {
	for _, s := range []string{"ada@example.com", `a"b`, `a\b`, `x" or status eq "ACTIVE`, `\"`, `"`, `\`, "élodie@exemple.fr", "", " ", "(", ")"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		expr, err := okta.SearchEqual("profile.email", value)
		if schema.HasControl(value) || !utf8.ValidString(value) {
			if err == nil {
				t.Fatalf("%q accepted: control characters and invalid UTF-8 must be refused", value)
			}
			return
		}
		if err != nil {
			t.Fatalf("SearchEqual(%q): %v", value, err)
		}
		attr, got, err := oktaapi.ParseEquality(expr)
		if err != nil {
			t.Fatalf("%q escaped to %s, which does not parse: %v", value, expr, err)
		}
		if attr != "profile.email" || got != value {
			t.Fatalf("%q escaped to %s, which reads back as %s eq %q", value, expr, attr, got)
		}
	})
}
