package neo4j_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"

	usersvcneo4j "github.com/usersvc/usersvc/proxy/neo4j"
	"github.com/usersvc/usersvc/proxy/proxytest"
	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/syncbuffer"
)

// A real deadlock on the real Neo4j, with usersvc's transaction the victim.
// A follow write locks the table and the user node, the lower node id
// first (Neo4j orders a relationship's node locks so). The test's own
// transaction X holds the other node and many more, the follow takes the
// first and waits for the other, then X asks for the first: a cycle. Which
// side Neo4j aborts depends on its deadlock resolution strategy (Forseti's
// default aborts the side holding fewer locks, found here by trying both),
// so X holds many: the follow is the one that gets
// Neo.TransientError.Transaction.DeadlockDetected, a transient error the
// driver retries within MaxTransactionRetryTime (PROXY_RETRY_TIME).

// deadlockFollow starts the follow write and closes the cycle around it;
// it returns the write's outcome and ends X once the write has been aborted
// at least once.
func deadlockFollow(t *testing.T, g *graph, s *usersvcneo4j.Store) error {
	t.Helper()
	ctx := context.Background()
	sess := g.driver.NewSession(ctx, neo4j.SessionConfig{AccessMode: neo4j.AccessModeWrite})
	defer sess.Close(ctx)
	tx, err := sess.BeginTransaction(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // X only ever holds locks
	lock := func(match string, params map[string]any) error {
		res, err := tx.Run(ctx, match+" SET n._held = true", params)
		if err == nil {
			_, err = res.Consume(ctx)
		}
		return err
	}
	// The follow takes the node with the lower id first; X holds the other.
	ids := g.run(t, "MATCH (u:User {key: $user}), (t:Table {key: $table}) RETURN id(u) < id(t)",
		map[string]any{"user": "ada@example.com", "table": proxytest.TableOrders})
	userFirst, _ := ids[0].Values[0].(bool)
	byUser := lockStmt{"MATCH (n:User {key: $key})", map[string]any{"key": "ada@example.com"}}
	byTable := lockStmt{"MATCH (n:Table {key: $key})", map[string]any{"key": proxytest.TableOrders}}
	taken, held := byTable, byUser
	if userFirst {
		taken, held = byUser, byTable
	}
	t.Logf("the follow locks the %s first", map[bool]string{true: "user", false: "table"}[userFirst])
	if err := lock(held.match, held.params); err != nil {
		t.Fatal(err)
	}
	if err := lock("MATCH (n) WHERE NOT n:User AND NOT n:Table", nil); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- s.AddResourceRelation(ctx, "ada@example.com", schema.Follow, schema.Table, proxytest.TableOrders)
	}()
	waitBlocked(t, g, "MERGE (u)-[:FOLLOW]")
	// X closes the cycle. Neo4j aborts the follow, so this lock is granted.
	if err := lock(taken.match, taken.params); err != nil {
		t.Fatalf("the test's transaction, not usersvc's, was the deadlock victim: %v", err)
	}
	_ = tx.Rollback(ctx) // a retried follow now proceeds
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("the follow write did not return")
		return nil
	}
}

type lockStmt struct {
	match  string
	params map[string]any
}

// waitBlocked waits until a transaction running query is waiting on a lock.
func waitBlocked(t *testing.T, g *graph, query string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, r := range g.run(t, "SHOW TRANSACTIONS YIELD currentQuery, status RETURN currentQuery, status", nil) {
			q, _ := r.Values[0].(string)
			st, _ := r.Values[1].(string)
			if strings.Contains(q, query) && strings.HasPrefix(st, "Blocked") {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no transaction running %q waited on a lock", query)
}

// retriedRecords are the store's "neo4j transaction retried" log records.
func retriedRecords(logs string) []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(logs, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(l), &rec) == nil && rec["msg"] == "neo4j transaction retried" {
			out = append(out, rec)
		}
	}
	return out
}

func TestDeadlockIsRetriedWithinTheBound(t *testing.T) {
	for _, tc := range []struct {
		name      string
		retryTime time.Duration
		retried   bool
	}{
		// The default PROXY_RETRY_TIME is 2s; 10s keeps a loaded machine's
		// backoff and lock wait inside it.
		{"retried and whole", 10 * time.Second, true},
		// A bound shorter than the wait before the deadlock: no retry, the
		// write fails whole as unavailable (503).
		{"past the bound fails whole", time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := realGraph(t)
			logs := &syncbuffer.Buffer{}
			s := g.ready(t, usersvcneo4j.Config{RetryTime: tc.retryTime, OtherKeys: proxytest.OtherKeys(),
				Logger: slog.New(slog.NewJSONHandler(logs, nil))})
			ctx := context.Background()
			if err := s.LoadCatalog(ctx, proxytest.Catalog()); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.CreateUpdateUser(ctx, user("ada@example.com")); err != nil {
				t.Fatal(err)
			}
			err := deadlockFollow(t, g, s)
			recs := retriedRecords(logs.String())
			if !tc.retried {
				if schema.KindOf(err) != schema.KindUnavailable || !strings.Contains(err.Error(), "DeadlockDetected") || len(recs) != 0 {
					t.Fatalf("deadlock past the retry bound: %v (retries logged %v), want unavailable, not retried", err, recs)
				}
				if n := g.count(t, "MATCH (:User {key: 'ada@example.com'})-[r:FOLLOW|FOLLOWED_BY]-() RETURN count(r)", nil); n != 0 {
					t.Fatalf("%d follow edges after a failed write, want none", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("follow through a deadlock = %v, want it retried", err)
			}
			if len(recs) != 1 || recs[0]["retried_for"] != "Neo.TransientError.Transaction.DeadlockDetected" || recs[0]["succeeded"] != true || recs[0]["attempts"] != float64(2) {
				t.Fatalf("retry records %v, want one: 2 attempts after DeadlockDetected, succeeded", recs)
			}
			g.wholeFollow(t, 1)
		})
	}
}
