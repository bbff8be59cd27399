package neo4j_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	usersvcneo4j "github.com/usersvc/usersvc/proxy/neo4j"
	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/boltserver"
)

// The two cases here need a server that answers a chosen Neo4j error code
// on demand: a statement error (a usersvc bug, which the real statements
// never make), and Enterprise's missing-privilege refusal, which Neo4j
// Community (no role-based access) cannot produce. A transient failure is
// a real deadlock on the real Neo4j (deadlock_test.go). They run against the Bolt test
// server with canned answers: what they check is the driver's and the
// store's handling of the failure, not what a statement does, which the
// real Neo4j shows everywhere else (realgraph_test.go).

// cannedExecutor answers the upsert as Neo4j answers it for a new user (the
// columns the store reads back) and every other statement with no rows.
type cannedExecutor struct{}

func (cannedExecutor) Begin(bool, string) (boltserver.Tx, error) { return cannedTx{}, nil }

type cannedTx struct{}

func (cannedTx) Run(query string, params map[string]any) ([]string, [][]any, error) {
	if strings.HasPrefix(query, "MERGE (u:User {key: $key})") {
		key, _ := params["key"].(string)
		return []string{"user", "manager_fullname", "manager_email", "created"},
			[][]any{{map[string]any{"key": key, "email": key, "user_id": key, "display_name": key, "is_active": true}, nil, nil, true}}, nil
	}
	return nil, nil, nil
}
func (cannedTx) Commit() error { return nil }
func (cannedTx) Rollback()     {}

// injectedStore is the store against a Bolt test server whose failures the
// test chooses.
func injectedStore(t *testing.T, logger *slog.Logger) (*usersvcneo4j.Store, *boltserver.Server) {
	t.Helper()
	srv := boltserver.New(t, cannedExecutor{}, boltserver.WithAuth("neo4j", "s3cret")).Start(t)
	s, err := usersvcneo4j.Open(usersvcneo4j.Config{URI: srv.URI(), Username: "neo4j", Password: "s3cret",
		ConnectTimeout: time.Second, RetryTime: 2 * time.Second, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, srv
}

func TestClientErrorIsNotRetried(t *testing.T) {
	s, srv := injectedStore(t, nil)
	before := srv.Stats()
	srv.FailNextRuns(1, "Neo.ClientError.Statement.SyntaxError")
	_, _, err := s.CreateUpdateUser(context.Background(), user("ada@example.com"))
	if err == nil || schema.KindOf(err) == schema.KindUnavailable {
		t.Fatalf("statement error = %v, want an internal (500) error", err)
	}
	if got := srv.Stats().Begins - before.Begins; got != 1 {
		t.Fatalf("%d attempts, want 1", got)
	}
}

func TestConstraintWithoutPrivilegeIsLoggedAndTolerated(t *testing.T) {
	var logs strings.Builder
	s, srv := injectedStore(t, slog.New(slog.NewTextHandler(&logs, nil)))
	before := srv.Stats()
	srv.FailNextRuns(1, "Neo.ClientError.Security.Forbidden")
	s.EnsureSchema(context.Background())
	if st := srv.Stats(); st.Commits != before.Commits {
		t.Fatal("the schema transaction committed despite the refusal")
	}
	if err := s.SchemaReady(context.Background()); err != nil {
		t.Fatalf("a missing privilege must not keep the service unready: %v", err)
	}
	if !strings.Contains(logs.String(), "CREATE CONSTRAINT IF NOT EXISTS FOR (u:User) REQUIRE u.key IS UNIQUE") || !strings.Contains(logs.String(), "Neo.ClientError.Security.Forbidden") {
		t.Fatalf("log does not tell the operator what to run: %s", logs.String())
	}
}
