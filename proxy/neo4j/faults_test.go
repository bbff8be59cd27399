package neo4j_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	usersvcneo4j "github.com/usersvc/usersvc/proxy/neo4j"
	"github.com/usersvc/usersvc/proxy/proxytest"
	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/boltserver"
	"github.com/usersvc/usersvc/testsupport/neo4jgraph"
)

func seeded(t *testing.T) boltStore {
	t.Helper()
	s := newBoltStore(t, true)
	if err := s.LoadCatalog(context.Background(), proxytest.Catalog()); err != nil {
		t.Fatal(err)
	}
	return s
}

func user(email string) schema.User {
	return schema.User{UserID: email, Email: email, DisplayName: email, IsActive: true}
}

func countLabel(g *neo4jgraph.Graph, label string) int {
	nodes, _ := g.Snapshot()
	n := 0
	for _, node := range nodes {
		for _, l := range node.Labels {
			if l == label {
				n++
			}
		}
	}
	return n
}

func countRels(g *neo4jgraph.Graph, typ string) int {
	_, rels := g.Snapshot()
	n := 0
	for _, r := range rels {
		if r.Type == typ {
			n++
		}
	}
	return n
}

func TestTransientErrorIsRetried(t *testing.T) {
	s := seeded(t)
	ctx := context.Background()
	before := s.server.Stats()
	s.server.FailNextRuns(1, boltserver.Transient)
	if _, created, err := s.CreateUpdateUser(ctx, user("ada@example.com")); err != nil || !created {
		t.Fatalf("upsert after a transient failure: created %v err %v", created, err)
	}
	st := s.server.Stats()
	if st.Begins-before.Begins != 2 || st.Commits-before.Commits != 1 {
		t.Fatalf("begins %d commits %d; want a retried transaction (2 begins, 1 commit)", st.Begins-before.Begins, st.Commits-before.Commits)
	}
	if countLabel(s.graph, "User") != 1 {
		t.Fatal("the retry wrote the user twice")
	}
}

func TestClientErrorIsNotRetried(t *testing.T) {
	s := seeded(t)
	before := s.server.Stats()
	s.server.FailNextRuns(1, "Neo.ClientError.Statement.SyntaxError")
	_, _, err := s.CreateUpdateUser(context.Background(), user("ada@example.com"))
	if err == nil || schema.KindOf(err) == schema.KindUnavailable {
		t.Fatalf("statement error = %v, want an internal (500) error", err)
	}
	if got := s.server.Stats().Begins - before.Begins; got != 1 {
		t.Fatalf("%d attempts, want 1", got)
	}
}

// TestDroppedConnectionMidTransaction: the connection dies inside the
// relation write; nothing is half-written and the next call works without a
// restart.
func TestDroppedConnectionMidTransaction(t *testing.T) {
	s := seeded(t)
	ctx := context.Background()
	s.server.DropOnNextRuns(1 << 30) // every attempt the driver makes within the deadline
	cctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	err := s.AddResourceRelation(cctx, "ada@example.com", schema.Follow, schema.Table, proxytest.TableOrders)
	if schema.KindOf(err) != schema.KindUnavailable {
		t.Fatalf("write over a dropping connection = %v, want unavailable (503)", err)
	}
	if countLabel(s.graph, "User") != 0 || countRels(s.graph, "FOLLOW") != 0 || countRels(s.graph, "FOLLOWED_BY") != 0 {
		t.Fatal("a dropped transaction left a partial write")
	}
	s.server.DropOnNextRuns(0)
	if err := s.AddResourceRelation(ctx, "ada@example.com", schema.Follow, schema.Table, proxytest.TableOrders); err != nil {
		t.Fatalf("after the drop: %v", err)
	}
	if countRels(s.graph, "FOLLOW") != 1 || countRels(s.graph, "FOLLOWED_BY") != 1 {
		t.Fatal("both edge directions must exist after the write")
	}
}

func TestDownAtStartThenUp(t *testing.T) {
	s := newBoltStore(t, false) // the server is not listening yet
	ctx := context.Background()
	s.Start(ctx)
	hctx, cancel := context.WithTimeout(ctx, time.Second)
	err := s.Health(hctx)
	cancel()
	if schema.KindOf(err) != schema.KindUnavailable {
		t.Fatalf("Health with Neo4j down = %v, want unavailable", err)
	}
	if _, err := s.GetUser(ctx, "ada@example.com"); schema.KindOf(err) != schema.KindUnavailable {
		t.Fatalf("GetUser with Neo4j down = %v, want unavailable", err)
	}
	if s.SchemaReady(ctx) == nil {
		t.Fatal("schema reported ready before Neo4j was reached")
	}
	s.server.Start(t)
	deadline := time.Now().Add(15 * time.Second)
	for s.SchemaReady(ctx) != nil || s.Health(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatal("not ready 15s after Neo4j came up")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !s.graph.HasConstraint("user_key_unique") {
		t.Fatal("the uniqueness constraint was not created once Neo4j appeared")
	}
	if _, _, err := s.CreateUpdateUser(ctx, user("ada@example.com")); err != nil {
		t.Fatal(err)
	}
}

func TestServerRestartRecovers(t *testing.T) {
	s := seeded(t)
	ctx := context.Background()
	if _, _, err := s.CreateUpdateUser(ctx, user("ada@example.com")); err != nil {
		t.Fatal(err)
	}
	s.server.Stop()
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	_, err := s.GetUser(cctx, "ada@example.com")
	cancel()
	if schema.KindOf(err) != schema.KindUnavailable {
		t.Fatalf("GetUser with Neo4j stopped = %v", err)
	}
	s.server.Start(t)
	if _, err := s.GetUser(ctx, "ada@example.com"); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}

func TestWrongCredentialsAreUnavailable(t *testing.T) {
	g := neo4jgraph.New()
	srv := boltserver.Run(t, g.Executor(), boltserver.WithAuth("neo4j", "right"))
	s, err := usersvcneo4j.Open(usersvcneo4j.Config{URI: srv.URI(), Username: "neo4j", Password: "wrong", RetryTime: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Health(context.Background())
	if schema.KindOf(err) != schema.KindUnavailable || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("wrong credentials = %v", err)
	}
}

func TestRoutingScheme(t *testing.T) {
	g := neo4jgraph.New()
	srv := boltserver.Run(t, g.Executor(), boltserver.WithAuth("neo4j", "pw"))
	s, err := usersvcneo4j.Open(usersvcneo4j.Config{URI: "neo4j://" + srv.Addr(), Username: "neo4j", Password: "pw", Database: "amundsen"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, created, err := s.CreateUpdateUser(context.Background(), user("ada@example.com")); err != nil || !created {
		t.Fatalf("over neo4j://: %v", err)
	}
}

// TestDatabuilderDataReadsBack: users as Amundsen's databuilder writes them
// (lowercased email keys, ” for empty strings, no user_id property,
// MANAGE_BY to the manager) read back as full Amundsen users.
func TestDatabuilderDataReadsBack(t *testing.T) {
	s := newBoltStore(t, true)
	ctx := context.Background()
	for _, p := range databuilderUsers() {
		if err := s.RunFixture(ctx, "FixtureDatabuilderUser", p); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.GetUser(ctx, "ada.lovelace@example.com")
	if err != nil {
		t.Fatal(err)
	}
	want := schema.User{UserID: "Ada.Lovelace@Example.com", Email: "Ada.Lovelace@Example.com", FirstName: "Ada", LastName: "Lovelace",
		FullName: "Ada Lovelace", TeamName: "Data", ManagerEmail: "charles@example.com", ManagerFullname: "Charles Babbage", IsActive: true}
	g, _ := got.MarshalJSON()
	w, _ := want.MarshalJSON()
	if string(g) != string(w) {
		t.Fatalf("databuilder user:\n got %s\nwant %s", g, w)
	}
	users, err := s.GetUsers(ctx)
	if err != nil || len(users) != 2 {
		t.Fatalf("GetUsers = %d users, %v", len(users), err)
	}
	// An API update keeps what databuilder wrote and adds to it.
	if _, created, err := s.CreateUpdateUser(ctx, schema.User{UserID: "ada.lovelace@example.com", DisplayName: "Ada", SlackID: "U1", IsActive: true}); err != nil || created {
		t.Fatalf("update of a databuilder node: created %v err %v", created, err)
	}
	got, _ = s.GetUser(ctx, "ada.lovelace@example.com")
	if got.FirstName != "Ada" || got.SlackID != "U1" || got.ManagerFullname != "Charles Babbage" || got.TeamName != "Data" {
		t.Fatalf("after update: %+v", got)
	}
}

func databuilderUsers() []map[string]any {
	return []map[string]any{
		{"key": "charles@example.com", "email": "charles@example.com", "first_name": "Charles", "last_name": "Babbage",
			"full_name": "Charles Babbage", "is_active": true, "team_name": "", "role_name": "", "manager_email": "",
			"updated_at": int64(1700000000), "manager_key": ""},
		{"key": "ada.lovelace@example.com", "email": "Ada.Lovelace@Example.com", "first_name": "Ada", "last_name": "Lovelace",
			"full_name": "Ada Lovelace", "is_active": true, "team_name": "Data", "role_name": "", "manager_email": "charles@example.com",
			"updated_at": int64(1700000000), "manager_key": "charles@example.com"},
	}
}

func TestConstraintWithoutPrivilegeIsLoggedAndTolerated(t *testing.T) {
	g := neo4jgraph.New()
	srv := boltserver.Run(t, g.Executor(), boltserver.WithAuth("neo4j", "pw"))
	var logs strings.Builder
	s, err := usersvcneo4j.Open(usersvcneo4j.Config{URI: srv.URI(), Username: "neo4j", Password: "pw",
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv.FailNextRuns(1, "Neo.ClientError.Security.Forbidden")
	s.EnsureSchema(context.Background())
	if g.HasConstraint("user_key_unique") {
		t.Fatal("constraint created despite the refusal")
	}
	if err := s.SchemaReady(context.Background()); err != nil {
		t.Fatalf("a missing privilege must not keep the service unready: %v", err)
	}
	if !strings.Contains(logs.String(), "CREATE CONSTRAINT user_key_unique IF NOT EXISTS") || !strings.Contains(logs.String(), "Neo.ClientError.Security.Forbidden") {
		t.Fatalf("log does not tell the operator what to run: %s", logs.String())
	}
}

func TestSlowNeo4jIsBoundedByTheCaller(t *testing.T) {
	s := seeded(t)
	s.server.SetLatency(2 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.GetUser(ctx, "ada@example.com")
	if schema.KindOf(err) != schema.KindUnavailable || time.Since(start) > time.Second {
		t.Fatalf("slow Neo4j: %v after %s, want unavailable within the caller's deadline", err, time.Since(start))
	}
	s.server.SetLatency(0)
}
