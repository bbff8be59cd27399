package neo4j

import (
	"context"
	"errors"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
)

// Test fixtures live in a _test.go file so that the production binary holds
// no statement that writes test data or wipes the graph. Exported here, they
// reach the package's external tests (and, through FixtureStatements, the
// linter).

// stmtFixtureDatabuilderUser writes a user the way Amundsen's databuilder
// publishes one (lowercased email key, ” for empty strings, no user_id
// property, MANAGE_BY/MANAGE to the manager). Tests use it to prove such
// data reads back correctly; the production code does not hold it.
const stmtFixtureDatabuilderUser = `MERGE (u:User {key: $key})
SET u.email = $email, u.first_name = $first_name, u.last_name = $last_name, u.full_name = $full_name,
    u.is_active = $is_active, u.github_username = '', u.team_name = $team_name, u.employee_type = '',
    u.slack_id = '', u.role_name = $role_name, u.manager_email = $manager_email, u.updated_at = $updated_at,
    u.published_tag = 'databuilder', u.publisher_last_updated_epoch_ms = timestamp()
WITH u
OPTIONAL MATCH (m:User {key: $manager_key})
FOREACH (_ IN CASE WHEN m IS NULL THEN [] ELSE [1] END |
  MERGE (u)-[:MANAGE_BY]->(m)
  MERGE (m)-[:MANAGE]->(u))`

// stmtFixtureManageBy links a user to their manager as databuilder does
// (MANAGE_BY and MANAGE back), touching no property of either node.
const stmtFixtureManageBy = `MATCH (u:User {key: $key})
MATCH (m:User {key: $manager_key})
MERGE (u)-[:MANAGE_BY]->(m)
MERGE (m)-[:MANAGE]->(u)`

// stmtFixtureWipe empties the database between cases of the real-Neo4j test
// suite, which must only ever point at a throwaway database.
const stmtFixtureWipe = `MATCH (n) DETACH DELETE n`

// FixtureStatements lists the fixture statements, for the linter.
func FixtureStatements() []Statement {
	return []Statement{
		{"FixtureDatabuilderUser", stmtFixtureDatabuilderUser, []string{"key", "email", "first_name", "last_name", "full_name",
			"is_active", "team_name", "role_name", "manager_email", "updated_at", "manager_key"}},
		{"FixtureWipe", stmtFixtureWipe, nil},
		{"FixtureManageBy", stmtFixtureManageBy, []string{"key", "manager_key"}},
	}
}

var errUnknownFixture = errors.New("unknown fixture statement")

// RunFixture runs one of the fixture statements in a write transaction.
func (s *Store) RunFixture(ctx context.Context, name string, params map[string]any) error {
	var text string
	for _, st := range FixtureStatements() {
		if st.Name == name {
			text = st.Text
		}
	}
	if text == "" {
		return errUnknownFixture
	}
	_, err := write(s, ctx, func(tx neo4j.ManagedTransaction) (struct{}, error) {
		_, err := collect(ctx, tx, text, params)
		return struct{}{}, err
	})
	return err
}

// LinkManager is proxytest.ManagerLinker: the contract's manager cases run
// over a MANAGE_BY edge too.
func (s *Store) LinkManager(ctx context.Context, userKey, managerKey string) error {
	return s.RunFixture(ctx, "FixtureManageBy", map[string]any{"key": userKey, "manager_key": managerKey})
}
