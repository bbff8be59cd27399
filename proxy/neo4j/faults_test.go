package neo4j_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"

	usersvcneo4j "github.com/usersvc/usersvc/proxy/neo4j"
	"github.com/usersvc/usersvc/proxy/proxytest"
	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/tcpproxy"
)

// Faults on the real Neo4j: the network between the driver and the server
// goes through a fault-injecting relay (testsupport/tcpproxy), and a
// transaction of the test's own holds the locks a write needs.

func user(email string) schema.User {
	return schema.User{UserID: email, Email: email, DisplayName: email, IsActive: true}
}

// viaRelay is a seeded store whose connections go through a relay.
func viaRelay(t *testing.T, g *graph) (*usersvcneo4j.Store, *tcpproxy.Proxy) {
	t.Helper()
	relay := tcpproxy.Start(t, strings.TrimPrefix(g.srv.URI, "bolt://"))
	s := g.ready(t, usersvcneo4j.Config{URI: "bolt://" + relay.Addr(), ConnectTimeout: time.Second, RetryTime: 5 * time.Second,
		OtherKeys: proxytest.OtherKeys()})
	if err := s.LoadCatalog(context.Background(), proxytest.Catalog()); err != nil {
		t.Fatal(err)
	}
	return s, relay
}

// holdLock opens a transaction of the test's own that write-locks the node
// keyed key (label Table or User) until release is called: a write that
// needs the node waits for it.
func (g *graph) holdLock(t *testing.T, label, key string) (release func()) {
	t.Helper()
	ctx := context.Background()
	sess := g.driver.NewSession(ctx, neo4j.SessionConfig{AccessMode: neo4j.AccessModeWrite})
	tx, err := sess.BeginTransaction(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := tx.Run(ctx, "MATCH (n:"+label+" {key: $key}) SET n._held = true RETURN count(n)", map[string]any{"key": key})
	if err == nil {
		_, err = res.Consume(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	done := false
	release = func() {
		if !done {
			done = true
			_ = tx.Rollback(ctx)
			_ = sess.Close(ctx)
		}
	}
	t.Cleanup(release)
	return release
}

// wholeFollow asserts ada follows orders exactly once, both directions.
func (g *graph) wholeFollow(t *testing.T, want int64) {
	t.Helper()
	q := "MATCH (:User {key: 'ada@example.com'})-[r:FOLLOW]->(:Table {key: $t}) RETURN count(r)"
	rq := "MATCH (:Table {key: $t})-[r:FOLLOWED_BY]->(:User {key: 'ada@example.com'}) RETURN count(r)"
	p := map[string]any{"t": proxytest.TableOrders}
	if f, b, u := g.count(t, q, p), g.count(t, rq, p), g.count(t, "MATCH (u:User {key: 'ada@example.com'}) RETURN count(u)", nil); f != want || b != want || u != want {
		t.Fatalf("FOLLOW %d, FOLLOWED_BY %d, user nodes %d; want %d of each: a write was half done or doubled", f, b, u, want)
	}
}

// TestConnectionCutMidTransactionIsRetriedWhole: the relation write waits
// on a lock inside its transaction when every connection is cut; the driver
// retries the whole transaction on a new one, which completes once the lock
// is released: one user node and both edge directions, once.
func TestConnectionCutMidTransactionIsRetriedWhole(t *testing.T) {
	g := realGraph(t)
	s, relay := viaRelay(t, g)
	release := g.holdLock(t, "Table", proxytest.TableOrders)
	done := make(chan error, 1)
	go func() {
		done <- s.AddResourceRelation(context.Background(), "ada@example.com", schema.Follow, schema.Table, proxytest.TableOrders)
	}()
	time.Sleep(500 * time.Millisecond) // the write is inside its transaction, waiting
	relay.CutAll()
	time.Sleep(300 * time.Millisecond)
	release()
	if err := <-done; err != nil {
		t.Fatalf("write across a cut connection = %v, want it retried whole", err)
	}
	g.wholeFollow(t, 1)
}

// TestReadOnACutConnectionIsRetried: reads run as auto-commit transactions
// (one round trip), which the driver does not retry. A read whose pooled
// connections were all cut must still answer, and for every read statement
// the store runs that way, not only GetUser: each runs again as a managed
// read transaction on a new connection.
func TestReadOnACutConnectionIsRetried(t *testing.T) {
	g := realGraph(t)
	s, relay := viaRelay(t, g)
	ctx := context.Background()
	if _, _, err := s.CreateUpdateUser(ctx, user("ada@example.com")); err != nil {
		t.Fatal(err)
	}
	reads := []struct {
		name string
		read func() error
	}{
		{"GetUser", func() error { _, err := s.GetUser(ctx, "ada@example.com"); return err }},
		{"GetUserByUserID", func() error { _, err := s.GetUserByUserID(ctx, "ada@example.com"); return err }},
		{"GetUsers", func() error { _, err := s.GetUsers(ctx); return err }},
		{"UserKeysByDirectoryID", func() error { _, err := s.UserKeysByDirectoryID(ctx, "00u1"); return err }},
		{"GetFrequentlyUsedTables", func() error { _, err := s.GetFrequentlyUsedTables(ctx, "ada@example.com"); return err }},
		{"UsersOfResource", func() error {
			_, err := s.UsersOfResource(ctx, schema.Table, proxytest.TableOrders, schema.Follow)
			return err
		}},
		{"UserProperties", func() error { _, err := s.UserProperties(ctx, "ada@example.com", "okta_id"); return err }},
	}
	for _, r := range reads {
		if err := r.read(); err != nil { // the pool now holds a connection
			t.Fatalf("%s: %v", r.name, err)
		}
		relay.CutAll()
		if err := r.read(); err != nil {
			t.Fatalf("%s on a cut connection = %v, want it run again on a new one", r.name, err)
		}
	}
}

// TestConnectionLostForGoodFailsWhole: with the server unreachable after
// the cut, the write fails within the caller's deadline as unavailable
// (503), and nothing of it is in the graph; once the server is back the
// same call works without a new store.
func TestConnectionLostForGoodFailsWhole(t *testing.T) {
	g := realGraph(t)
	s, relay := viaRelay(t, g)
	release := g.holdLock(t, "Table", proxytest.TableOrders)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- s.AddResourceRelation(ctx, "ada@example.com", schema.Follow, schema.Table, proxytest.TableOrders)
	}()
	time.Sleep(500 * time.Millisecond)
	relay.Stop()
	release()
	if err := <-done; schema.KindOf(err) != schema.KindUnavailable {
		t.Fatalf("write with the server gone = %v, want unavailable", err)
	}
	g.wholeFollow(t, 0)
	relay.Resume(t)
	if err := s.AddResourceRelation(context.Background(), "ada@example.com", schema.Follow, schema.Table, proxytest.TableOrders); err != nil {
		t.Fatalf("after the server came back: %v", err)
	}
	g.wholeFollow(t, 1)
}

// TestWaitingOnALockIsBoundedByTheCaller: a write blocked by another
// writer's lock returns unavailable at the caller's deadline.
func TestWaitingOnALockIsBoundedByTheCaller(t *testing.T) {
	g := realGraph(t)
	s := g.seeded(t)
	if _, _, err := s.CreateUpdateUser(context.Background(), user("ada@example.com")); err != nil {
		t.Fatal(err)
	}
	g.holdLock(t, "User", "ada@example.com")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := s.CreateUpdateUser(ctx, user("ada@example.com"))
	if schema.KindOf(err) != schema.KindUnavailable || time.Since(start) > 2*time.Second {
		t.Fatalf("blocked write: %v after %s, want unavailable near the caller's 300ms deadline", err, time.Since(start))
	}
}

func TestDownAtStartThenUp(t *testing.T) {
	g := realGraph(t)
	relay := tcpproxy.Start(t, strings.TrimPrefix(g.srv.URI, "bolt://"))
	relay.Stop() // Neo4j is not reachable yet
	s := g.store(t, usersvcneo4j.Config{URI: "bolt://" + relay.Addr(), ConnectTimeout: time.Second, RetryTime: time.Second})
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
	relay.Resume(t)
	deadline := time.Now().Add(30 * time.Second)
	for s.SchemaReady(ctx) != nil || s.Health(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatal("not ready 30s after Neo4j came up")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := g.userKeyConstraints(t); n != 1 {
		t.Fatal("the uniqueness constraint was not created once Neo4j appeared")
	}
	if _, _, err := s.CreateUpdateUser(ctx, user("ada@example.com")); err != nil {
		t.Fatal(err)
	}
}

func TestServerRestartRecovers(t *testing.T) {
	g := realGraph(t)
	s, relay := viaRelay(t, g)
	ctx := context.Background()
	if _, _, err := s.CreateUpdateUser(ctx, user("ada@example.com")); err != nil {
		t.Fatal(err)
	}
	relay.Stop()
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	_, err := s.GetUser(cctx, "ada@example.com")
	cancel()
	if schema.KindOf(err) != schema.KindUnavailable {
		t.Fatalf("GetUser with Neo4j unreachable = %v", err)
	}
	relay.Resume(t)
	if _, err := s.GetUser(ctx, "ada@example.com"); err != nil {
		t.Fatalf("after it came back: %v", err)
	}
}

func TestWrongCredentialsAreUnavailable(t *testing.T) {
	g := realGraph(t)
	s, err := usersvcneo4j.Open(usersvcneo4j.Config{URI: g.srv.URI, Username: g.srv.User, Password: "wrong-password", RetryTime: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Health(context.Background())
	if schema.KindOf(err) != schema.KindUnavailable || strings.Contains(err.Error(), "wrong-password") {
		t.Fatalf("wrong credentials = %v", err)
	}
}

// TestRoutingScheme: neo4j:// (routing) works against a single server,
// whose routing table names itself.
func TestRoutingScheme(t *testing.T) {
	g := realGraph(t)
	s := g.ready(t, usersvcneo4j.Config{URI: "neo4j://" + strings.TrimPrefix(g.srv.URI, "bolt://")})
	if _, created, err := s.CreateUpdateUser(context.Background(), user("ada@example.com")); err != nil || !created {
		t.Fatalf("over neo4j://: %v", err)
	}
}

// TestDatabuilderDataReadsBack: users as Amundsen's databuilder writes them
// (lowercased email keys, ” for empty strings, no user_id property,
// MANAGE_BY to the manager) read back as full Amundsen users, and an API
// update keeps what databuilder wrote.
func TestDatabuilderDataReadsBack(t *testing.T) {
	s := realNeo4j(t)
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
	gj, _ := got.MarshalJSON()
	wj, _ := want.MarshalJSON()
	if string(gj) != string(wj) {
		t.Fatalf("databuilder user:\n got %s\nwant %s", gj, wj)
	}
	if users, err := s.GetUsers(ctx); err != nil || len(users) != 2 {
		t.Fatalf("GetUsers = %d users, %v", len(users), err)
	}
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
