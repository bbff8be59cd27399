package neo4j

// Every Cypher statement the store runs, apart from the relation statements
// generated in relations.go. They are constants so that the Cypher linter
// test and the Bolt test server can enumerate them (through Statements), all
// values are parameters, and labels and relationship types are fixed here or
// in the relation table, never taken from input.

// stmtCreateUserKeyConstraint makes MERGE on User.key race-free.
//
// It has no name of its own: databuilder creates the same constraint
// unnamed and ignores only Neo4j's "an equivalent constraint already
// exists", which a named one does not give, so a named one made every
// databuilder publish of User nodes fail (ConstraintAlreadyExists).
const stmtCreateUserKeyConstraint = `CREATE CONSTRAINT IF NOT EXISTS FOR (u:User) REQUIRE u.key IS UNIQUE`

// stmtDropNamedUserKeyConstraint removes the named constraint earlier
// versions created, before the unnamed one is created.
const stmtDropNamedUserKeyConstraint = `DROP CONSTRAINT user_key_unique IF EXISTS`

// stmtCreateUserIDIndex indexes User.user_id: a directory person's node is
// keyed by email, and a request by their login (or another alias) finds
// the node through it instead of writing a second one.
const stmtCreateUserIDIndex = `CREATE INDEX user_user_id IF NOT EXISTS FOR (u:User) ON (u.user_id)`

// stmtCreateDirectoryIDIndex indexes User.okta_id, the directory's stable
// id for a person: when their email changes, sync finds their node by it and
// moves it instead of writing a second one.
const stmtCreateDirectoryIDIndex = `CREATE INDEX user_okta_id IF NOT EXISTS FOR (u:User) ON (u.okta_id)`

// stmtDuplicateUserKey finds a key that more than one User node holds
// (written before the uniqueness constraint existed): the constraint cannot
// be created over it, so EnsureSchema looks first (schemacheck.go).
const stmtDuplicateUserKey = `MATCH (u:User)
WHERE u.key IS NOT NULL
WITH u.key AS key, count(*) AS nodes
WHERE nodes > 1
RETURN key, nodes
ORDER BY key
LIMIT 1`

// stmtUserKeysByDirectoryID lists the keys of the nodes of one directory
// person (more than one only where an older version wrote duplicates).
const stmtUserKeysByDirectoryID = `MATCH (u:User {okta_id: $id})
RETURN u.key AS key
ORDER BY key`

// stmtCountUserKey tells whether a node holds a key already: MoveUser must
// not collide with it (the uniqueness constraint would refuse the write,
// but as a statement error).
const stmtCountUserKey = `MATCH (u:User {key: $key})
RETURN count(u) AS n`

// stmtMoveUser re-keys a node in place: its properties and every edge stay
// on it, so nothing is copied and nothing can be left behind.
const stmtMoveUser = `MATCH (u:User {key: $from})
SET u.key = $to, u.publisher_last_updated_epoch_ms = timestamp()
RETURN count(u) AS moved`

// stmtPing answers health checks.
const stmtPing = `RETURN 1 AS ok`

// stmtGetUser reads a user and their manager: over MANAGE_BY as databuilder
// links them, else the user whose key is the stored manager_email.
const stmtGetUser = `MATCH (u:User {key: $key})
OPTIONAL MATCH (u)-[:MANAGE_BY]->(m:User)
OPTIONAL MATCH (byEmail:User {key: toLower(trim(u.manager_email))})
RETURN u {.*} AS user, coalesce(m.full_name, byEmail.full_name) AS manager_fullname,
       coalesce(m.email, byEmail.email) AS manager_email
LIMIT 1`

// stmtGetUserByUserID reads the node whose user_id is $user_id (through the
// index), with its manager as stmtGetUser does.
const stmtGetUserByUserID = `MATCH (u:User {user_id: $user_id})
WITH u ORDER BY u.key LIMIT 1
OPTIONAL MATCH (u)-[:MANAGE_BY]->(m:User)
OPTIONAL MATCH (byEmail:User {key: toLower(trim(u.manager_email))})
RETURN u {.*} AS user, coalesce(m.full_name, byEmail.full_name) AS manager_fullname,
       coalesce(m.email, byEmail.email) AS manager_email
LIMIT 1`

// stmtLookupUser reads, in one statement, the node keyed $key (rank 0) and
// the lowest-keyed node whose user_id is $key (rank 1), each with its
// manager as stmtGetUser reads it: proxy.PickNode chooses between them.
const stmtLookupUser = `OPTIONAL MATCH (k:User {key: $key})
OPTIONAL MATCH (a:User {user_id: $key})
WITH k, a ORDER BY a.key LIMIT 1
UNWIND [pick IN [[0, k], [1, a]] WHERE pick[1] IS NOT NULL] AS pick
WITH pick[0] AS rank, pick[1] AS u
OPTIONAL MATCH (u)-[:MANAGE_BY]->(m:User)
WITH rank, u, head(collect(m)) AS m
OPTIONAL MATCH (byEmail:User {key: toLower(trim(u.manager_email))})
RETURN rank, u {.*} AS user, coalesce(m.full_name, byEmail.full_name) AS manager_fullname,
       coalesce(m.email, byEmail.email) AS manager_email
ORDER BY rank`

// stmtGetActiveUsers lists users whose is_active is true; nodes without the
// property (minimal nodes from relation writes) are not listed.
const stmtGetActiveUsers = `MATCH (u:User)
WHERE u.is_active = true
RETURN u {.*} AS user
ORDER BY u.key`

// stmtUpsertUser writes only the non-empty properties in $props, so stored
// values are never replaced by empty ones; the values Amundsen's rules
// derived ($derived: user_id, full_name, display_name) only fill properties
// the node has empty or lacks. created comes from a marker set
// ON CREATE and removed in the same statement, so no other transaction ever
// sees it; comparing the creation stamp with timestamp(), as Amundsen does,
// misreports an update that lands in the same millisecond as the create.
const stmtUpsertUser = `MERGE (u:User {key: $key})
ON CREATE SET u += $props, u.publisher_created_epoch_ms = timestamp(), u.usersvc_created_marker = true
ON MATCH SET u += $props
SET u.is_active = $is_active,
    u.user_id = CASE WHEN coalesce(u.user_id, '') = '' THEN coalesce($derived.user_id, u.user_id) ELSE u.user_id END,
    u.full_name = CASE WHEN coalesce(u.full_name, '') = '' THEN coalesce($derived.full_name, u.full_name) ELSE u.full_name END,
    u.display_name = CASE WHEN coalesce(u.display_name, '') = '' THEN coalesce($derived.display_name, u.display_name) ELSE u.display_name END,
    u.published_tag = 'api_create_update_user',
    u.publisher_last_updated_epoch_ms = timestamp()
WITH u, coalesce(u.usersvc_created_marker, false) AS created
REMOVE u.usersvc_created_marker
WITH u, created
OPTIONAL MATCH (u)-[:MANAGE_BY]->(m:User)
OPTIONAL MATCH (byEmail:User {key: toLower(trim(u.manager_email))})
RETURN u {.*} AS user, coalesce(m.full_name, byEmail.full_name) AS manager_fullname,
       coalesce(m.email, byEmail.email) AS manager_email, created`

// stmtFrequentlyUsedTables is Amundsen metadata's get_frequently_used_tables
// (neo4j_proxy.py): READ edges that carry a published_tag, newest tag first,
// then most read, 50 of them, then their display paths. EXISTS(r.prop) is
// not Neo4j 5 syntax; IS NOT NULL is the same test. Ties are broken by the
// table key, and the order is restated after the path match, where
// Amundsen relies on rows keeping theirs.
const stmtFrequentlyUsedTables = `MATCH (u:User {key: $user_key})-[r:READ]->(t:Table)
WHERE r.published_tag IS NOT NULL
WITH t, r.published_tag AS published_tag, r.read_count AS read_count
ORDER BY published_tag DESC, read_count DESC, t.key
LIMIT 50
MATCH (t)<-[:TABLE]-(s:Schema)<-[:SCHEMA]-(c:Cluster)<-[:CLUSTER]-(db:Database)
OPTIONAL MATCH (t)-[:DESCRIPTION]->(d:Description)
RETURN db.name AS database, c.name AS cluster, s.name AS schema, t.name AS name, d.description AS description,
       published_tag, read_count, t.key AS key
ORDER BY published_tag DESC, read_count DESC, key`

// Catalog loading: the nodes and edges databuilder publishes for tables,
// dashboards, features and reads, in both directions.
const (
	stmtLoadTable = `MERGE (db:Database {key: 'database://' + $database})
ON CREATE SET db.name = $database
MERGE (c:Cluster {key: $database + '://' + $cluster})
ON CREATE SET c.name = $cluster
MERGE (s:Schema {key: $database + '://' + $cluster + '.' + $schema})
ON CREATE SET s.name = $schema
MERGE (t:Table {key: $key})
SET t.name = $name
MERGE (db)-[:CLUSTER]->(c)
MERGE (c)-[:CLUSTER_OF]->(db)
MERGE (c)-[:SCHEMA]->(s)
MERGE (s)-[:SCHEMA_OF]->(c)
MERGE (s)-[:TABLE]->(t)
MERGE (t)-[:TABLE_OF]->(s)
FOREACH (_ IN CASE WHEN $description <> '' THEN [1] ELSE [] END |
  MERGE (d:Description {key: $key + '/_description'})
  SET d.description = $description
  MERGE (t)-[:DESCRIPTION]->(d)
  MERGE (d)-[:DESCRIPTION_OF]->(t))`
	stmtLoadDashboard = `MERGE (c:Cluster {key: $product + '_dashboard://' + $cluster})
ON CREATE SET c.name = $cluster
MERGE (g:Dashboardgroup {key: $product + '_dashboard://' + $cluster + '.' + $group_name})
SET g.name = $group_name, g.dashboard_group_url = $group_url
MERGE (dash:Dashboard {key: $key})
SET dash.name = $name, dash.dashboard_url = $url
MERGE (c)-[:DASHBOARD_GROUP]->(g)
MERGE (g)-[:DASHBOARD_GROUP_OF]->(c)
MERGE (g)-[:DASHBOARD]->(dash)
MERGE (dash)-[:DASHBOARD_OF]->(g)
FOREACH (_ IN CASE WHEN $description <> '' THEN [1] ELSE [] END |
  MERGE (d:Description {key: $key + '/_description'})
  SET d.description = $description
  MERGE (dash)-[:DESCRIPTION]->(d)
  MERGE (d)-[:DESCRIPTION_OF]->(dash))
FOREACH (_ IN CASE WHEN $last_successful_run_timestamp IS NOT NULL THEN [1] ELSE [] END |
  MERGE (e:Execution {key: $key + '/execution/_last_successful_execution'})
  SET e.timestamp = $last_successful_run_timestamp, e.state = 'succeeded'
  MERGE (dash)-[:EXECUTED]->(e)
  MERGE (e)-[:EXECUTION_OF]->(dash))`
	stmtLoadFeature = `MERGE (f:Feature {key: $key})
SET f.name = $name, f.feature_group = $feature_group, f.version = $version`
	stmtLoadRead = `MATCH (t:Table {key: $table_key})
MERGE (u:User {key: $user_key})
ON CREATE SET u.email = $user_key, u.published_tag = 'catalog_load', u.publisher_created_epoch_ms = timestamp()
MERGE (u)-[r:READ]->(t)
SET r.read_count = $read_count, r.published_tag = $published_tag, r.publisher_last_updated_epoch_ms = timestamp()
MERGE (t)-[rb:READ_BY]->(u)
SET rb.read_count = $read_count, rb.published_tag = $published_tag, rb.publisher_last_updated_epoch_ms = timestamp()
RETURN u.key AS user_key`
)

// Sync progress and the single-runner lease live in the graph, so every
// replica and every run sees them.
const (
	stmtCreateLeaseKeyConstraint = `CREATE CONSTRAINT sync_lease_key_unique IF NOT EXISTS FOR (l:SyncLease) REQUIRE l.key IS UNIQUE`
	stmtGetSyncState             = `MATCH (s:SyncState {key: $name})
RETURN s.watermark_ms AS watermark_ms, s.complete AS complete, s.updated_ms AS updated_ms, s.cursor AS cursor`
	stmtPutSyncState = `MERGE (s:SyncState {key: $name})
SET s.watermark_ms = $watermark_ms, s.complete = $complete, s.updated_ms = $updated_ms, s.cursor = $cursor`
	// stmtLockLease takes the lease node's write lock (creating the node
	// if needed; the key constraint makes that MERGE race-free) before
	// stmtAcquireLease, in the same transaction, reads the expiry: under
	// read-committed an unlocked read lets two runners both see an expired
	// lease and both take it. The lock holds until the transaction ends.
	stmtLockLease = `MERGE (l:SyncLease {key: $name})
SET l._lock = true
RETURN l.key AS key`
	// The lease is free when unheld, held by the same owner, or expired.
	stmtAcquireLease = `MATCH (l:SyncLease {key: $name})
WITH l, (l.owner IS NULL OR l.owner = $owner OR l.expires_ms < $now_ms) AS free
SET l.owner = CASE WHEN free THEN $owner ELSE l.owner END,
    l.expires_ms = CASE WHEN free THEN $expires_ms ELSE l.expires_ms END
REMOVE l._lock
RETURN free AS acquired`
	stmtReleaseLease = `MATCH (l:SyncLease {key: $name})
WHERE l.owner = $owner
DELETE l`
)

// proxy.UserIndex (userindex.go): users found, read and paged by properties
// outside the user model. Cypher cannot take a property name as a
// parameter, so each searchable property has a statement of its own
// (userKeysByProperty maps the names of proxy.IndexedUserProperties to
// them; okta_id's is stmtUserKeysByDirectoryID); names that are read or set
// travel as parameters: properties(u)[$name] reads one on 4.4 and 5.x
// alike (SET u[$name] is 5.x only, so a write goes through u += $props).
const (
	// The indexes on the properties a SCIM client finds users by
	// (proxy.SCIMIDProperty, proxy.SCIMExternalIDProperty), created at
	// start-up beside okta_id's (stmtCreateDirectoryIDIndex): every name in
	// proxy.IndexedUserProperties is found without a scan.
	stmtCreateSCIMIDIndex         = `CREATE INDEX user_scim_id IF NOT EXISTS FOR (u:User) ON (u.scim_id)`
	stmtCreateSCIMExternalIDIndex = `CREATE INDEX user_scim_external_id IF NOT EXISTS FOR (u:User) ON (u.scim_external_id)`

	stmtUserKeysBySCIMID = `MATCH (u:User {scim_id: $id})
RETURN u.key AS key
ORDER BY key`
	stmtUserKeysBySCIMExternalID = `MATCH (u:User {scim_external_id: $id})
RETURN u.key AS key
ORDER BY key`
	stmtUserProperties = `MATCH (u:User {key: $key})
RETURN properties(u) AS properties
LIMIT 1`
	// stmtLockUser takes the node's write lock before
	// stmtSetUserPropertyIfAbsent, in the same transaction, reads the
	// property: under read-committed an unlocked read lets two callers both
	// find it absent and both write theirs (as stmtLockLease explains).
	// usersvc_created_marker is the transient property stmtUpsertUser uses
	// too: a reserved name no other_key_values entry can take, set and
	// removed inside one transaction, so no other ever sees it.
	stmtLockUser = `MATCH (u:User {key: $key})
SET u.usersvc_created_marker = true
RETURN u.key AS key`
	// The property counts as held when it is neither missing nor ''
	// (databuilder's empty); one of another type is kept too.
	stmtSetUserPropertyIfAbsent = `MATCH (u:User {key: $key})
REMOVE u.usersvc_created_marker
WITH u, properties(u)[$name] AS current
FOREACH (_ IN CASE WHEN current IS NULL OR current = '' THEN [1] ELSE [] END |
  SET u += $props, u.publisher_last_updated_epoch_ms = timestamp())
RETURN properties(u)[$name] AS value`
	// stmtClearUserProperties runs after stmtLockUser, in the same
	// transaction: $props maps each name to clear to null, which removes
	// the property (SET += with a null value, on 4.4 and 5.x alike), and
	// may carry the rewritten legacy other_key_values string.
	stmtClearUserProperties = `MATCH (u:User {key: $key})
REMOVE u.usersvc_created_marker
SET u += $props, u.publisher_last_updated_epoch_ms = timestamp()
RETURN u.key AS key`
	// stmtUnlinkManager deletes the node's MANAGE_BY edges to users and
	// their reverse MANAGE edges (databuilder writes both), when
	// ClearUserProperties clears manager_email and manager_id: stmtGetUser
	// would read the manager over them otherwise.
	stmtUnlinkManager = `MATCH (u:User {key: $key})-[by:MANAGE_BY]->(m:User)
OPTIONAL MATCH (m)-[back:MANAGE]->(u)
DELETE by, back`
	// Nodes without a key (another writer's) are neither counted nor
	// paged; ORDER BY on stored strings is Unicode code point order on
	// 4.4 and 5.x, the embedded store's byte order of UTF-8 keys.
	stmtCountUserKeys = `MATCH (u:User)
WHERE u.key IS NOT NULL
RETURN count(u) AS total`
	stmtPageUserKeys = `MATCH (u:User)
WHERE u.key IS NOT NULL
RETURN u.key AS key
ORDER BY key
SKIP $offset
LIMIT $limit`
	// The SCIM-provisioned nodes, through user_scim_id (IS NOT NULL is
	// an index scan on 4.4 and 5.x); '' is databuilder's empty.
	stmtCountSCIMUserKeys = `MATCH (u:User)
WHERE u.scim_id IS NOT NULL AND u.scim_id <> '' AND u.key IS NOT NULL
RETURN count(u) AS total`
	stmtPageSCIMUserKeys = `MATCH (u:User)
WHERE u.scim_id IS NOT NULL AND u.scim_id <> '' AND u.key IS NOT NULL
RETURN u.key AS key
ORDER BY key
SKIP $offset
LIMIT $limit`
)
