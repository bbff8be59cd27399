package neo4j

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

// Statements lists every statement of the package: the constants of
// statements.go, then the relation statements generated from the relation
// table.
func Statements() []Statement {
	fixed := []Statement{
		{"DropNamedUserKeyConstraint", stmtDropNamedUserKeyConstraint, nil},
		{"CreateUserKeyConstraint", stmtCreateUserKeyConstraint, nil},
		{"CreateUserIDIndex", stmtCreateUserIDIndex, nil},
		{"CreateDirectoryIDIndex", stmtCreateDirectoryIDIndex, nil},
		{"CreateSCIMIDIndex", stmtCreateSCIMIDIndex, nil},
		{"CreateSCIMExternalIDIndex", stmtCreateSCIMExternalIDIndex, nil},
		{"DuplicateUserKey", stmtDuplicateUserKey, nil},
		{"UserKeysByDirectoryID", stmtUserKeysByDirectoryID, []string{"id"}},
		{"CountUserKey", stmtCountUserKey, []string{"key"}},
		{"MoveUser", stmtMoveUser, []string{"from", "to"}},
		{"Ping", stmtPing, nil},
		{"GetUser", stmtGetUser, []string{"key"}},
		{"GetUserByUserID", stmtGetUserByUserID, []string{"user_id"}},
		{"LookupUser", stmtLookupUser, []string{"key"}},
		{"GetActiveUsers", stmtGetActiveUsers, nil},
		{"UpsertUser", stmtUpsertUser, []string{"key", "props", "derived", "is_active"}},
		{"FrequentlyUsedTables", stmtFrequentlyUsedTables, userParams},
		{"LoadTable", stmtLoadTable, []string{"database", "cluster", "schema", "key", "name", "description"}},
		{"LoadDashboard", stmtLoadDashboard, []string{"product", "cluster", "group_name", "group_url", "key", "name", "url", "description", "last_successful_run_timestamp"}},
		{"LoadFeature", stmtLoadFeature, []string{"key", "name", "feature_group", "version"}},
		{"LoadRead", stmtLoadRead, []string{"table_key", "user_key", "read_count", "published_tag"}},
		{"CreateLeaseKeyConstraint", stmtCreateLeaseKeyConstraint, nil},
		{"GetSyncState", stmtGetSyncState, []string{"name"}},
		{"PutSyncState", stmtPutSyncState, []string{"name", "watermark_ms", "complete", "updated_ms", "cursor"}},
		{"LockLease", stmtLockLease, []string{"name"}},
		{"AcquireLease", stmtAcquireLease, []string{"name", "owner", "now_ms", "expires_ms"}},
		{"ReleaseLease", stmtReleaseLease, []string{"name", "owner"}},
		{"UserKeysBySCIMID", stmtUserKeysBySCIMID, []string{"id"}},
		{"UserKeysBySCIMExternalID", stmtUserKeysBySCIMExternalID, []string{"id"}},
		{"UserProperties", stmtUserProperties, []string{"key"}},
		{"LockUser", stmtLockUser, []string{"key"}},
		{"SetUserPropertyIfAbsent", stmtSetUserPropertyIfAbsent, []string{"key", "name", "props"}},
		{"ClearUserProperties", stmtClearUserProperties, []string{"key", "props"}},
		{"UnlinkManager", stmtUnlinkManager, []string{"key"}},
		{"CountUserKeys", stmtCountUserKeys, nil},
		{"PageUserKeys", stmtPageUserKeys, []string{"offset", "limit"}},
		{"CountSCIMUserKeys", stmtCountSCIMUserKeys, nil},
		{"PageSCIMUserKeys", stmtPageSCIMUserKeys, []string{"offset", "limit"}},
	}
	for _, r := range RelationStatements() {
		fixed = append(fixed, r.Statement)
	}
	return fixed
}
