package neo4j

import (
	"fmt"

	"github.com/usersvc/usersvc/schema"
)

// ResourceRelation is one row of the relation table: a relation of a user
// to one kind of resource, with the node label and the two edge types
// Amundsen's graph uses for it (DESIGN §3; databuilder writes every edge in
// both directions). The store, Statements (and so the Cypher linter) and the
// in-memory test graph all read this one table.
type ResourceRelation struct {
	Relation schema.Relation
	Resource schema.ResourceType
	// Label is the resource's node label.
	Label string
	// Forward is the user → resource edge type, Reverse resource → user.
	Forward, Reverse string
	// Written says the API writes and deletes the relation; READ edges
	// come only from the catalog load (stmtLoadRead).
	Written bool
	// Listed says GetUserResources lists the relation's resources of this
	// kind (tables and dashboards a user follows or owns).
	Listed bool
}

// relationEdges is each relation's edge types and the stems of its
// statement names.
type relationEdges struct {
	forward, reverse string
	name             string // AddFollowTable, DeleteFollowTable
	users            string // UsersFollowingTable
	listed           string // FollowedTables
}

func edgesOf(rel schema.Relation) relationEdges {
	switch rel {
	case schema.Follow:
		return relationEdges{"FOLLOW", "FOLLOWED_BY", "Follow", "Following", "Followed"}
	case schema.Own:
		return relationEdges{"OWNER_OF", "OWNER", "Own", "Owning", "Owned"}
	case schema.Read:
		return relationEdges{"READ", "READ_BY", "Read", "Reading", "Read"}
	}
	panic(fmt.Sprintf("neo4j: relation %q has no edge types", rel))
}

func labelOf(t schema.ResourceType) string {
	switch t {
	case schema.Table:
		return "Table"
	case schema.Dashboard:
		return "Dashboard"
	case schema.Feature:
		return "Feature"
	}
	panic(fmt.Sprintf("neo4j: resource type %q has no label", t))
}

// ResourceRelations is the relation table: follow and own for every
// resource type, read for tables only.
func ResourceRelations() []ResourceRelation {
	rows := []struct {
		rel     schema.Relation
		t       schema.ResourceType
		written bool
		listed  bool
	}{
		{schema.Follow, schema.Table, true, true},
		{schema.Follow, schema.Dashboard, true, true},
		{schema.Follow, schema.Feature, true, false},
		{schema.Own, schema.Table, true, true},
		{schema.Own, schema.Dashboard, true, true},
		{schema.Own, schema.Feature, true, false},
		{schema.Read, schema.Table, false, false},
	}
	out := make([]ResourceRelation, 0, len(rows))
	for _, r := range rows {
		e := edgesOf(r.rel)
		out = append(out, ResourceRelation{Relation: r.rel, Resource: r.t, Label: labelOf(r.t),
			Forward: e.forward, Reverse: e.reverse, Written: r.written, Listed: r.listed})
	}
	return out
}

// RelationOp is what a generated relation statement does.
type RelationOp int

const (
	// OpAdd merges the user node and both edges; no row back means the
	// resource is missing and nothing was written.
	OpAdd RelationOp = iota
	// OpDelete removes whichever edge directions exist.
	OpDelete
	// OpUsers lists the users with the relation, read over the reverse
	// edges (resource → user).
	OpUsers
	// OpList lists the resources a user has the relation to, with
	// Amundsen's display paths.
	OpList
)

// RelationStatement is a statement generated from a row of the relation
// table.
type RelationStatement struct {
	Statement
	Op RelationOp
	ResourceRelation
}

// RelationStatements generates every relation statement from the table.
func RelationStatements() []RelationStatement {
	var out []RelationStatement
	add := func(r ResourceRelation, op RelationOp, name, text string, params []string) {
		out = append(out, RelationStatement{Statement: Statement{Name: name, Text: text, Params: params}, Op: op, ResourceRelation: r})
	}
	for _, r := range ResourceRelations() {
		e := edgesOf(r.Relation)
		if r.Written {
			add(r, OpAdd, "Add"+e.name+r.Label, addRelationText(r), userKeyParams)
			add(r, OpDelete, "Delete"+e.name+r.Label, deleteRelationText(r), userKeyParams)
		}
		add(r, OpUsers, "Users"+e.users+r.Label, usersOfText(r), resourceKeyParams)
		if r.Listed {
			add(r, OpList, e.listed+r.Label+"s", listText(r), userParams)
		}
	}
	return out
}

// relationStatementKey finds a generated statement for the store.
type relationStatementKey struct {
	op  RelationOp
	rel schema.Relation
	t   schema.ResourceType
}

// relationStatementTexts indexes RelationStatements by what they do.
func relationStatementTexts() map[relationStatementKey]string {
	m := map[relationStatementKey]string{}
	for _, s := range RelationStatements() {
		m[relationStatementKey{s.Op, s.Relation, s.Resource}] = s.Text
	}
	return m
}

// addRelationText: the resource must exist (MATCH), then the user node is
// merged (a minimal node with key and email and nothing else, as Amundsen's
// add_resource_relation_by_user and add_resource_owner write it) and both
// edge directions are merged.
func addRelationText(r ResourceRelation) string {
	return `MATCH (r:` + r.Label + ` {key: $resource_key})
MERGE (u:User {key: $user_key})
ON CREATE SET u.email = $user_key
MERGE (u)-[:` + r.Forward + `]->(r)
MERGE (r)-[:` + r.Reverse + `]->(u)
RETURN u.key AS user_key`
}

// deleteRelationText removes whichever directions exist, in one statement.
func deleteRelationText(r ResourceRelation) string {
	return `MATCH (u:User {key: $user_key})
OPTIONAL MATCH (u)-[fwd:` + r.Forward + `]->(:` + r.Label + ` {key: $resource_key})
OPTIONAL MATCH (u)<-[rev:` + r.Reverse + `]-(:` + r.Label + ` {key: $resource_key})
DELETE fwd, rev`
}

// usersOfText reads the reverse direction, which checks that both exist.
func usersOfText(r ResourceRelation) string {
	return `MATCH (:` + r.Label + ` {key: $resource_key})-[:` + r.Reverse + `]->(u:User) RETURN u.key AS user_key ORDER BY user_key`
}

// listText reads what a user follows or owns, with Amundsen's display
// paths: tables through schema, cluster and database; dashboards through
// group and cluster, with the last successful execution.
func listText(r ResourceRelation) string {
	switch r.Resource {
	case schema.Table:
		return `MATCH (u:User {key: $user_key})-[:` + r.Forward + `]->(t:Table)<-[:TABLE]-(s:Schema)<-[:SCHEMA]-(c:Cluster)<-[:CLUSTER]-(db:Database)
OPTIONAL MATCH (t)-[:DESCRIPTION]->(d:Description)
RETURN DISTINCT db.name AS database, c.name AS cluster, s.name AS schema, t.name AS name, d.description AS description`
	case schema.Dashboard:
		return `MATCH (u:User {key: $user_key})-[:` + r.Forward + `]->(dash:Dashboard)<-[:DASHBOARD]-(g:Dashboardgroup)<-[:DASHBOARD_GROUP]-(c:Cluster)
OPTIONAL MATCH (dash)-[:DESCRIPTION]->(d:Description)
OPTIONAL MATCH (dash)-[:EXECUTED]->(e:Execution)
WHERE split(e.key, '/')[5] = '_last_successful_execution'
RETURN DISTINCT dash.key AS uri, c.name AS cluster, g.name AS group_name, g.dashboard_group_url AS group_url,
       dash.name AS name, dash.dashboard_url AS url, d.description AS description,
       e.timestamp AS last_successful_run_timestamp`
	}
	panic(fmt.Sprintf("neo4j: no listing of %s resources", r.Resource))
}
