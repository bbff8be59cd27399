package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/usersvc/usersvc/handlers/auth"
	"github.com/usersvc/usersvc/testsupport/introspector"
	"github.com/usersvc/usersvc/testsupport/issuer"
)

func benchAuth(b *testing.B, cacheSize int) {
	iss := issuer.Start(b)
	a, err := auth.New(auth.Config{DiscoveryURL: iss.DiscoveryURL(), Audience: issuer.Audience, CacheSize: cacheSize})
	if err != nil {
		b.Fatal(err)
	}
	if err := a.Discover(context.Background()); err != nil {
		b.Fatal(err)
	}
	header := "Bearer " + iss.Token(b, iss.Claims(time.Now(), "ada@example.com"))
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := a.Authenticate(ctx, header); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticateCold verifies the RS256 signature and claims on every
// call (cache off).
func BenchmarkAuthenticateCold(b *testing.B) { benchAuth(b, -1) }

// BenchmarkAuthenticateCached is the warm path: one SHA-256 and a cache hit.
func BenchmarkAuthenticateCached(b *testing.B) { benchAuth(b, 1000) }

// BenchmarkAuthenticateCachedIntrospected is the warm path of an opaque
// token: introspected once at a real provider, then the same digest and
// cache hit as a JWT.
func BenchmarkAuthenticateCachedIntrospected(b *testing.B) {
	op := introspector.Start(b, introspector.Options{})
	a, err := auth.New(auth.Config{DiscoveryURL: op.DiscoveryURL(), Audience: introspector.ResourceServer,
		ClientID: introspector.ResourceServer, ClientSecret: op.Secret(introspector.ResourceServer)})
	if err != nil {
		b.Fatal(err)
	}
	if err := a.Discover(context.Background()); err != nil {
		b.Fatal(err)
	}
	header := "Bearer " + op.Token(b, introspector.TokenOptions{Email: "ada@example.com"})
	ctx := context.Background()
	if _, err := a.Authenticate(ctx, header); err != nil {
		b.Fatal(err)
	}
	calls := op.Introspections(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := a.Authenticate(ctx, header); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if op.Introspections(b) != calls {
		b.Fatal("the warm path called the introspection endpoint")
	}
}
