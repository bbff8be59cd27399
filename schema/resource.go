package schema

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"
)

// ResourceType is a kind of catalog resource a user can follow or own.
type ResourceType string

const (
	Table     ResourceType = "table"
	Dashboard ResourceType = "dashboard"
	Feature   ResourceType = "feature"
)

// ResourceTypes lists every supported type, in the order error messages name
// them.
var ResourceTypes = [...]ResourceType{Table, Dashboard, Feature}

// ParseResourceType accepts a type name case-insensitively, as Amundsen does.
func ParseResourceType(s string) (ResourceType, error) {
	for _, t := range ResourceTypes {
		if strings.EqualFold(s, string(t)) {
			return t, nil
		}
	}
	return "", Errorf(KindInvalid, "resource type %q is not supported: use table, dashboard or feature", truncate(s, 64))
}

// Relation is a user-to-resource relationship of Amundsen's graph.
type Relation string

const (
	Follow Relation = "follow"
	Own    Relation = "own"
	Read   Relation = "read"
)

// TableRecord is a table node with its display path, as the graph holds it.
type TableRecord struct {
	Key         string `json:"key"`
	Database    string `json:"database"`
	Cluster     string `json:"cluster"`
	Schema      string `json:"schema"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// Summary is the Amundsen PopularTable view of the table.
func (t TableRecord) Summary() PopularTable {
	return PopularTable{
		Database:    t.Database,
		Cluster:     t.Cluster,
		Schema:      t.Schema,
		Name:        t.Name,
		Description: optional(t.Description),
	}
}

// DashboardRecord is a dashboard node with its group and cluster.
type DashboardRecord struct {
	Key                        string `json:"key"`
	Cluster                    string `json:"cluster"`
	GroupName                  string `json:"group_name"`
	GroupURL                   string `json:"group_url,omitempty"`
	Name                       string `json:"name"`
	URL                        string `json:"url,omitempty"`
	Description                string `json:"description,omitempty"`
	LastSuccessfulRunTimestamp *int64 `json:"last_successful_run_timestamp,omitempty"`
}

// Summary is the Amundsen DashboardSummary view of the dashboard. The product
// is the key's prefix before the first underscore, as Amundsen derives it
// (split(resource.key, '_')[0] in metadata's neo4j_proxy.py). chart_names is
// empty: Amundsen's user-relation query never reads charts either.
func (d DashboardRecord) Summary() DashboardSummary {
	product, _, _ := strings.Cut(d.Key, "_")
	return DashboardSummary{
		URI:                        d.Key,
		Cluster:                    d.Cluster,
		GroupName:                  d.GroupName,
		GroupURL:                   d.GroupURL,
		Product:                    product,
		Name:                       d.Name,
		URL:                        d.URL,
		Description:                optional(d.Description),
		LastSuccessfulRunTimestamp: d.LastSuccessfulRunTimestamp,
		ChartNames:                 []string{},
	}
}

// FeatureRecord is an ML feature node.
type FeatureRecord struct {
	Key     string `json:"key"`
	Name    string `json:"name"`
	Group   string `json:"feature_group,omitempty"`
	Version string `json:"version,omitempty"`
}

// PopularTable is amundsen_common's PopularTable. The four names are
// non-optional str there: they are always JSON strings, "" when the graph
// has none, because the frontend's schema load rejects null for them.
type PopularTable struct {
	Database    string  `json:"database"`
	Cluster     string  `json:"cluster"`
	Schema      string  `json:"schema"`
	Name        string  `json:"name"`
	Description *string `json:"description"`
}

// DashboardSummary is amundsen_common's DashboardSummary. Every field that
// class declares a non-optional str is a JSON string ("" when the graph has
// no value); description and last_successful_run_timestamp may be null;
// chart_names is always a list.
type DashboardSummary struct {
	URI                        string   `json:"uri"`
	Cluster                    string   `json:"cluster"`
	GroupName                  string   `json:"group_name"`
	GroupURL                   string   `json:"group_url"`
	Product                    string   `json:"product"`
	Name                       string   `json:"name"`
	URL                        string   `json:"url"`
	Description                *string  `json:"description"`
	LastSuccessfulRunTimestamp *int64   `json:"last_successful_run_timestamp"`
	ChartNames                 []string `json:"chart_names"`
}

// MarshalJSON writes chart_names as [] when it is nil, so no way of building
// a summary can put null where the frontend expects a list.
func (d DashboardSummary) MarshalJSON() ([]byte, error) {
	type plain DashboardSummary
	if d.ChartNames == nil {
		d.ChartNames = []string{}
	}
	return json.Marshal(plain(d))
}

// UserResources is the body of GET /user/<id>/follow/ and /own/.
type UserResources struct {
	Table     []PopularTable     `json:"table"`
	Dashboard []DashboardSummary `json:"dashboard"`
}

// SortTables orders tables by (schema, name), then database and cluster so
// that equal names still sort deterministically.
func SortTables(tables []PopularTable) {
	slices.SortFunc(tables, func(a, b PopularTable) int {
		return cmp.Or(
			cmp.Compare(a.Schema, b.Schema),
			cmp.Compare(a.Name, b.Name),
			cmp.Compare(a.Database, b.Database),
			cmp.Compare(a.Cluster, b.Cluster),
		)
	})
}

// SortDashboards orders dashboards by (group_name, name), then uri.
func SortDashboards(dashboards []DashboardSummary) {
	slices.SortFunc(dashboards, func(a, b DashboardSummary) int {
		return cmp.Or(
			cmp.Compare(a.GroupName, b.GroupName),
			cmp.Compare(a.Name, b.Name),
			cmp.Compare(a.URI, b.URI),
		)
	})
}

// ReadRecord is a READ/READ_BY edge pair: how often a user read a table.
// PublishedTag is the databuilder publish tag both edges carry (its
// neo4j_csv_publisher stamps every relationship); empty means
// DefaultPublishTag.
type ReadRecord struct {
	User         string `json:"user"`
	Table        string `json:"table"`
	ReadCount    int64  `json:"read_count"`
	PublishedTag string `json:"published_tag,omitempty"`
}

// DefaultPublishTag tags the edges a catalog load writes without a tag of
// its own.
const DefaultPublishTag = "catalog_load"

// Tag is the publish tag the record's edges get.
func (r ReadRecord) Tag() string { return cmp.Or(r.PublishedTag, DefaultPublishTag) }

// Catalog is a set of resource nodes and read edges, as databuilder would
// publish them. It seeds stores that have no ingestion of their own.
type Catalog struct {
	Tables     []TableRecord     `json:"tables"`
	Dashboards []DashboardRecord `json:"dashboards"`
	Features   []FeatureRecord   `json:"features"`
	Reads      []ReadRecord      `json:"reads"`
}

// MaxReadTables caps GET /user/<id>/read/, as Amundsen does.
const MaxReadTables = 50

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
