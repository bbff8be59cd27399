package neo4j_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	usersvcneo4j "github.com/usersvc/usersvc/proxy/neo4j"
	"github.com/usersvc/usersvc/schema"
)

func benchStore(b *testing.B) *usersvcneo4j.Store {
	return realGraph(b).ready(b, usersvcneo4j.Config{ConnectTimeout: time.Second})
}

// BenchmarkGetUser is a managed read transaction through the driver against
// the real Neo4j on loopback.
func BenchmarkGetUser(b *testing.B) {
	s := benchStore(b)
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

func BenchmarkUpsert(b *testing.B) {
	s := benchStore(b)
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
