package schema_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/usersvc/usersvc/schema"
)

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func TestUserKey(t *testing.T) {
	tests := map[string]string{
		"Alice@Example.COM": "alice@example.com",
		"  bob@x.com\t":     "bob@x.com",
		"a.b+c@x.com":       "a.b+c@x.com",
		"0012345":           "0012345",
		"ÉLODIE@Exemple.fr": "élodie@exemple.fr",
		"hive://gold.s/t":   "hive://gold.s/t",
		"":                  "",
	}
	for in, want := range tests {
		if got := schema.UserKey(in); got != want {
			t.Errorf("UserKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckID(t *testing.T) {
	tests := []struct {
		id      string
		problem string // "" = valid
	}{
		{"alice@example.com", ""},
		{"a.b+c@x.com", ""},
		{"hive://gold.schema/table", ""},
		{strings.Repeat("x", schema.MaxIDBytes), ""},
		{strings.Repeat("x", schema.MaxIDBytes+1), "must be at most 4096 bytes"},
		{"", "must not be blank"},
		{"   ", "must not be blank"},
		{"a\x00b", "must not contain control characters"},
		{"a\nb", "must not contain control characters"},
		{"a\x7fb", "must not contain control characters"},
		{"a\u009bb", "must not contain control characters"},
		{"a\xffb", "must be valid UTF-8"},
	}
	for _, tt := range tests {
		err := schema.CheckID("user_id", tt.id)
		switch {
		case tt.problem == "" && err != nil:
			t.Errorf("CheckID(%.20q) = %v, want valid", tt.id, err)
		case tt.problem != "" && (err == nil || err.Error() != "user_id "+tt.problem):
			t.Errorf("CheckID(%.20q) = %v, want %q", tt.id, err, "user_id "+tt.problem)
		case tt.problem != "" && schema.KindOf(err) != schema.KindInvalid:
			t.Errorf("CheckID(%.20q) kind = %v, want invalid", tt.id, schema.KindOf(err))
		}
	}
}

func TestParseResourceType(t *testing.T) {
	for in, want := range map[string]schema.ResourceType{
		"table": schema.Table, "TABLE": schema.Table, "Dashboard": schema.Dashboard, "feature": schema.Feature,
	} {
		if got, err := schema.ParseResourceType(in); err != nil || got != want {
			t.Errorf("ParseResourceType(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "tables", "user", "column"} {
		if _, err := schema.ParseResourceType(in); schema.KindOf(err) != schema.KindInvalid {
			t.Errorf("ParseResourceType(%q) error = %v, want invalid", in, err)
		}
	}
}

func TestDashboardSummaryProduct(t *testing.T) {
	d := schema.DashboardRecord{Key: "mode_dashboard://gold.g/d", Name: "d"}.Summary()
	if d.Product != "mode" || d.URI != "mode_dashboard://gold.g/d" || d.URL != "" {
		t.Fatalf("summary = %+v", d)
	}
}
