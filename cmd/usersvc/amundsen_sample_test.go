package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/usersvc/usersvc/testsupport/amundsen"
	"github.com/usersvc/usersvc/testsupport/neo4jserver"
)

// The frontend flows' catalog, published the way Amundsen users fill their
// graph: by databuilder's own jobs, as its sample loader runs them
// (amundsen-io/amundsen databuilder/example/scripts/sample_data_loader.py:
// CsvTableColumnExtractor for tables and columns, CsvExtractor with a model
// class for the rest, FsNeo4jCSVLoader, Neo4jCsvPublisher). The keys, names
// and descriptions are proxytest.Catalog's, so both ways of seeding give
// the flows the same graph. Databuilder 7.5.1 publishes to Neo4j 4.4 only
// (Neo4jCsvPublisher._try_create_index uses `CREATE CONSTRAINT ON ...
// ASSERT`, which Neo4j 5 refuses); on 5.x the flows seed with usersvc's
// catalog loader instead.

// databuilderCatalog is the jobs for tables (with columns) and dashboards.
func databuilderCatalog(t *testing.T) []amundsen.DatabuilderJob {
	t.Helper()
	dir := t.TempDir()
	return []amundsen.DatabuilderJob{
		{Name: "tables", Tag: "sample",
			TableCSV: sampleCSV(t, dir, "table.csv", `
database,cluster,schema,name,description,tags,is_view,description_source
hive,gold,sales,orders,One row per order.,,false,
hive,gold,core,accounts,,,false,
postgres,prod,analytics,events,Clickstream.,,false,
`),
			ColumnCSV: sampleCSV(t, dir, "col.csv", `
name,description,col_type,sort_order,database,cluster,schema,table_name,badges
order_id,,bigint,0,hive,gold,sales,orders,
amount,,"decimal(10,2)",1,hive,gold,sales,orders,
id,,bigint,0,hive,gold,core,accounts,
event_id,,bigint,0,postgres,prod,analytics,events,
`)},
		// Keys <product>_dashboard://<cluster>.<group id>/<id>
		// (databuilder.models.dashboard.dashboard_metadata).
		{Name: "dashboards", Tag: "sample", Model: "databuilder.models.dashboard.dashboard_metadata.DashboardMetadata",
			CSV: sampleCSV(t, dir, "dashboard_base.csv", `
product,cluster,dashboard_group,dashboard_group_id,dashboard_group_description,dashboard_group_url,dashboard_name,dashboard_id,description,created_timestamp,dashboard_url
mode,gold,Sales,sales,,https://mode.example/sales,Weekly,weekly,Weekly revenue.,1700000000,https://mode.example/sales/weekly
tableau,gold,Ops,ops,,,Incidents,incidents,,1700000000,
`)},
	}
}

// databuilderReads is a usage job: who read which table how often
// (databuilder.models.table_column_usage.ColumnReader, a READ edge with
// read_count and the job's published_tag), header
// database,cluster,schema,table,column,user_email,read_count.
func databuilderReads(t *testing.T, rows string) amundsen.DatabuilderJob {
	t.Helper()
	return amundsen.DatabuilderJob{Name: "reads", Tag: "sample", Model: "databuilder.models.table_column_usage.ColumnReader",
		CSV: sampleCSV(t, t.TempDir(), "usage.csv", "database,cluster,schema,table,column,user_email,read_count\n"+strings.TrimLeft(rows, "\n"))}
}

func sampleCSV(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(strings.TrimLeft(text, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// amundsenConn is srv as Amundsen's code connects to it.
func amundsenConn(srv *neo4jserver.Server) amundsen.Neo4j {
	return amundsen.Neo4j{URI: srv.URI, User: srv.User, Password: srv.Password}
}

// startMetadataOn runs Amundsen's metadata service (one gunicorn worker) on
// srv until the test ends.
func startMetadataOn(ctx context.Context, t *testing.T, srv *neo4jserver.Server) *amundsen.Metadata {
	t.Helper()
	m, err := amundsen.StartMetadata(ctx, amundsen.Options{Neo4jURI: srv.URI, User: srv.User, Password: srv.Password, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	return m
}
