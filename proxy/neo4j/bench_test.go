package neo4j_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	usersvcneo4j "github.com/usersvc/usersvc/proxy/neo4j"
	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/boltserver"
	"github.com/usersvc/usersvc/testsupport/neo4jgraph"
)

func benchBoltStore(b *testing.B) *usersvcneo4j.Store {
	g := neo4jgraph.New()
	srv := boltserver.Run(b, g.Executor(), boltserver.WithAuth("neo4j", "pw"))
	s, err := usersvcneo4j.Open(usersvcneo4j.Config{URI: srv.URI(), Username: "neo4j", Password: "pw", ConnectTimeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// BenchmarkGetUserOverBolt is a managed read transaction through the real
// driver against the Bolt test server (a round trip on loopback; the graph
// itself is in memory).
func BenchmarkGetUserOverBolt(b *testing.B) {
	s := benchBoltStore(b)
	ctx := context.Background()
	if _, _, err := s.CreateUpdateUser(ctx, schema.User{UserID: "ada@example.com", Email: "ada@example.com", DisplayName: "Ada", IsActive: true}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.GetUser(ctx, "ada@example.com"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUpsertOverBolt(b *testing.B) {
	s := benchBoltStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		email := fmt.Sprintf("user%d@example.com", i%200)
		i++
		if _, _, err := s.CreateUpdateUser(ctx, schema.User{UserID: email, Email: email, DisplayName: email, IsActive: true}); err != nil {
			b.Fatal(err)
		}
	}
}
