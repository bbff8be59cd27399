package oktaapi

import (
	"testing"
	"time"
)

func TestFilterGrammar(t *testing.T) {
	ada := NewUser("00u1", "ada@x.com", "Ada@X.com", "Ada", "Lovelace", "ACTIVE").With(map[string]any{"department": "Data"})
	ada.LastUpdated = time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		expr  string
		match bool
	}{
		{`profile.email eq "ada@x.com"`, true},
		{`profile.email eq "ADA@x.COM"`, true},
		{`profile.email eq "bob@x.com"`, false},
		{`profile.login sw "ada"`, true},
		{`profile.firstName co "d"`, true},
		{`status eq "ACTIVE" and profile.department eq "Data"`, true},
		{`status eq "SUSPENDED" or profile.department eq "Data"`, true},
		{`(status eq "SUSPENDED" or status eq "DEPROVISIONED") and profile.department eq "Data"`, false},
		{`lastUpdated gt "2026-04-30T00:00:00.000Z"`, true},
		{`lastUpdated gt "2026-05-01T00:00:00.000Z"`, false},
		{`lastUpdated ge "2026-05-01T00:00:00.000Z"`, true},
		{`profile.title pr`, false},
		{`profile.department pr`, true},
		{`profile.email eq "x\" or status eq \"ACTIVE"`, false},
		{`id eq "00u1"`, true},
	}
	for _, tt := range tests {
		f, err := ParseFilter(tt.expr)
		if err != nil {
			t.Errorf("ParseFilter(%s): %v", tt.expr, err)
			continue
		}
		if got := f.Match(ada); got != tt.match {
			t.Errorf("%s matched %v, want %v", tt.expr, got, tt.match)
		}
	}
	for _, bad := range []string{
		``, `profile.email`, `profile.email eq`, `profile.email eq "unterminated`, `email eq "a"`,
		`profile.email eq "a" and`, `(profile.email eq "a"`, `profile.email zz "a"`, `profile.email eq "bad \q escape"`,
		`profile.email eq "a") or (status eq "ACTIVE"`,
	} {
		if _, err := ParseFilter(bad); err == nil {
			t.Errorf("ParseFilter(%q) accepted an invalid filter", bad)
		}
	}
}
