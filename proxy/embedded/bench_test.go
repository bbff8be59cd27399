package embedded_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/usersvc/usersvc/proxy/embedded"
	"github.com/usersvc/usersvc/schema"
)

func benchStore(b *testing.B) *embedded.Store {
	s, err := embedded.Open(filepath.Join(b.TempDir(), "u.db"), time.Second)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

func BenchmarkGetUser(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	u := schema.User{UserID: "ada@example.com", Email: "ada@example.com", FirstName: "Ada", LastName: "Lovelace", FullName: "Ada Lovelace", DisplayName: "Ada Lovelace", IsActive: true}
	if _, _, err := s.CreateUpdateUser(ctx, u); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.GetUser(ctx, "ada@example.com"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpsert includes the fsync of every commit.
func BenchmarkUpsert(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		email := fmt.Sprintf("user%d@example.com", i%1000)
		i++
		if _, _, err := s.CreateUpdateUser(ctx, schema.User{UserID: email, Email: email, DisplayName: email, IsActive: true}); err != nil {
			b.Fatal(err)
		}
	}
}
