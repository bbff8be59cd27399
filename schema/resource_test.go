package schema_test

import (
	"encoding/json"
	"testing"

	"github.com/usersvc/usersvc/schema"
)

// TestSummariesWithoutGraphValues pins the JSON of summaries whose graph
// nodes carry nothing optional. amundsen_common/models/popular_table.py
// (PopularTable: database, cluster, schema, name are `str = attr.ib()`) and
// models/dashboard.py (DashboardSummary: uri, cluster, group_name, group_url,
// product, name, url are `str = attr.ib()`; description Optional[str];
// last_successful_run_timestamp Optional[float]; chart_names a list, default
// []) make every non-optional str a string the frontend's schema load
// requires non-null.
func TestSummariesWithoutGraphValues(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"table", schema.TableRecord{Key: "k"}.Summary(),
			`{"database":"","cluster":"","schema":"","name":"","description":null}`},
		{"dashboard", schema.DashboardRecord{Key: "tableau_dashboard://gold.ops/incidents", Name: "Incidents"}.Summary(),
			`{"uri":"tableau_dashboard://gold.ops/incidents","cluster":"","group_name":"","group_url":"","product":"tableau","name":"Incidents","url":"","description":null,"last_successful_run_timestamp":null,"chart_names":[]}`},
		{"dashboard built by hand", schema.DashboardSummary{},
			`{"uri":"","cluster":"","group_name":"","group_url":"","product":"","name":"","url":"","description":null,"last_successful_run_timestamp":null,"chart_names":[]}`},
		{"dashboard in a list", []schema.DashboardSummary{{Name: "n"}},
			`[{"uri":"","cluster":"","group_name":"","group_url":"","product":"","name":"n","url":"","description":null,"last_successful_run_timestamp":null,"chart_names":[]}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("JSON\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}
