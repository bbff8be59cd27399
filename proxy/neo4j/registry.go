package neo4j

import "github.com/usersvc/usersvc/schema"

// Statement is a named Cypher statement with the parameters it takes. The
// list below is what the Cypher linter checks and what the Bolt test server
// implements; a statement missing from it fails the linter test.
type Statement struct {
	Name   string
	Text   string
	Params []string
}

var (
	userKeyParams     = []string{"user_key", "resource_key"}
	resourceKeyParams = []string{"resource_key"}
	userParams        = []string{"user_key"}
)

// Statements lists every statement of the package.
func Statements() []Statement {
	return []Statement{
		{"CreateUserKeyConstraint", stmtCreateUserKeyConstraint, nil},
		{"CreateUserIDIndex", stmtCreateUserIDIndex, nil},
		{"Ping", stmtPing, nil},
		{"GetUser", stmtGetUser, []string{"key"}},
		{"GetUserByUserID", stmtGetUserByUserID, []string{"user_id"}},
		{"GetActiveUsers", stmtGetActiveUsers, nil},
		{"UpsertUser", stmtUpsertUser, []string{"key", "props", "derived", "is_active"}},
		{"AddFollowTable", stmtAddFollowTable, userKeyParams},
		{"AddFollowDashboard", stmtAddFollowDashboard, userKeyParams},
		{"AddFollowFeature", stmtAddFollowFeature, userKeyParams},
		{"AddOwnTable", stmtAddOwnTable, userKeyParams},
		{"AddOwnDashboard", stmtAddOwnDashboard, userKeyParams},
		{"AddOwnFeature", stmtAddOwnFeature, userKeyParams},
		{"DeleteFollowTable", stmtDeleteFollowTable, userKeyParams},
		{"DeleteFollowDashboard", stmtDeleteFollowDashboard, userKeyParams},
		{"DeleteFollowFeature", stmtDeleteFollowFeature, userKeyParams},
		{"DeleteOwnTable", stmtDeleteOwnTable, userKeyParams},
		{"DeleteOwnDashboard", stmtDeleteOwnDashboard, userKeyParams},
		{"DeleteOwnFeature", stmtDeleteOwnFeature, userKeyParams},
		{"FollowedTables", stmtFollowedTables, userParams},
		{"OwnedTables", stmtOwnedTables, userParams},
		{"FollowedDashboards", stmtFollowedDashboards, userParams},
		{"OwnedDashboards", stmtOwnedDashboards, userParams},
		{"FrequentlyUsedTables", stmtFrequentlyUsedTables, userParams},
		{"UsersFollowingTable", stmtUsersFollowingTable, resourceKeyParams},
		{"UsersFollowingDashboard", stmtUsersFollowingDashboard, resourceKeyParams},
		{"UsersFollowingFeature", stmtUsersFollowingFeature, resourceKeyParams},
		{"UsersOwningTable", stmtUsersOwningTable, resourceKeyParams},
		{"UsersOwningDashboard", stmtUsersOwningDashboard, resourceKeyParams},
		{"UsersOwningFeature", stmtUsersOwningFeature, resourceKeyParams},
		{"UsersReadingTable", stmtUsersReadingTable, resourceKeyParams},
		{"LoadTable", stmtLoadTable, []string{"database", "cluster", "schema", "key", "name", "description"}},
		{"LoadDashboard", stmtLoadDashboard, []string{"product", "cluster", "group_name", "group_url", "key", "name", "url", "description", "last_successful_run_timestamp"}},
		{"LoadFeature", stmtLoadFeature, []string{"key", "name", "feature_group", "version"}},
		{"LoadRead", stmtLoadRead, []string{"table_key", "user_key", "read_count", "published_tag"}},
		{"CreateLeaseKeyConstraint", stmtCreateLeaseKeyConstraint, nil},
		{"GetSyncState", stmtGetSyncState, []string{"name"}},
		{"PutSyncState", stmtPutSyncState, []string{"name", "watermark_ms", "complete", "updated_ms"}},
		{"LockLease", stmtLockLease, []string{"name"}},
		{"AcquireLease", stmtAcquireLease, []string{"name", "owner", "now_ms", "expires_ms"}},
		{"ReleaseLease", stmtReleaseLease, []string{"name", "owner"}},
	}
}

// relationStatements picks the statement for a relation write or delete;
// the (relation, type) pairs are the only labels and types ever used.
type relationKey struct {
	rel schema.Relation
	t   schema.ResourceType
}

var addStatements = map[relationKey]string{
	{schema.Follow, schema.Table}:     stmtAddFollowTable,
	{schema.Follow, schema.Dashboard}: stmtAddFollowDashboard,
	{schema.Follow, schema.Feature}:   stmtAddFollowFeature,
	{schema.Own, schema.Table}:        stmtAddOwnTable,
	{schema.Own, schema.Dashboard}:    stmtAddOwnDashboard,
	{schema.Own, schema.Feature}:      stmtAddOwnFeature,
}

var deleteStatements = map[relationKey]string{
	{schema.Follow, schema.Table}:     stmtDeleteFollowTable,
	{schema.Follow, schema.Dashboard}: stmtDeleteFollowDashboard,
	{schema.Follow, schema.Feature}:   stmtDeleteFollowFeature,
	{schema.Own, schema.Table}:        stmtDeleteOwnTable,
	{schema.Own, schema.Dashboard}:    stmtDeleteOwnDashboard,
	{schema.Own, schema.Feature}:      stmtDeleteOwnFeature,
}

var reverseStatements = map[relationKey]string{
	{schema.Follow, schema.Table}:     stmtUsersFollowingTable,
	{schema.Follow, schema.Dashboard}: stmtUsersFollowingDashboard,
	{schema.Follow, schema.Feature}:   stmtUsersFollowingFeature,
	{schema.Own, schema.Table}:        stmtUsersOwningTable,
	{schema.Own, schema.Dashboard}:    stmtUsersOwningDashboard,
	{schema.Own, schema.Feature}:      stmtUsersOwningFeature,
	{schema.Read, schema.Table}:       stmtUsersReadingTable,
}

var tableReads = map[schema.Relation]string{schema.Follow: stmtFollowedTables, schema.Own: stmtOwnedTables}
var dashboardReads = map[schema.Relation]string{schema.Follow: stmtFollowedDashboards, schema.Own: stmtOwnedDashboards}
