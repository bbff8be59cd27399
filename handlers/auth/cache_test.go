package auth

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/issuer"
)

func TestWarmRequestSkipsVerification(t *testing.T) {
	iss := issuer.Start(t)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	a, err := New(Config{DiscoveryURL: iss.DiscoveryURL(), Audience: issuer.Audience, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Discover(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := iss.Claims(now, "ada@example.com")
	c["exp"] = now.Add(2 * time.Minute).Unix()
	tok := "Bearer " + iss.Token(t, c)
	if _, err := a.Authenticate(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	// With no verifier at all, only a cache hit can succeed.
	a.provider.Store(nil)
	p, err := a.Authenticate(context.Background(), tok)
	if err != nil || p.Email != "ada@example.com" {
		t.Fatalf("warm request = %+v, %v; want a cache hit", p, err)
	}
	other := "Bearer " + iss.Token(t, iss.Claims(now, "bob@example.com"))
	if _, err := a.Authenticate(context.Background(), other); schema.KindOf(err) != schema.KindUnavailable {
		t.Fatalf("cold token without a verifier = %v, want unavailable", err)
	}
	// The entry dies with the token.
	now = now.Add(2*time.Minute + time.Second)
	if _, err := a.Authenticate(context.Background(), tok); schema.KindOf(err) != schema.KindUnavailable {
		t.Fatalf("expired token served from cache: %v", err)
	}
}

func TestTokenCacheIsBoundedLRU(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := newTokenCache(3, time.Hour)
	for i := range 5 {
		c.put(fmt.Sprint("tok", i), schema.Principal{Subject: fmt.Sprint(i)}, now.Add(time.Minute), now)
	}
	if c.len() != 3 {
		t.Fatalf("len = %d, want 3", c.len())
	}
	if _, ok := c.get("tok0", now); ok {
		t.Fatal("oldest entry survived eviction")
	}
	// Touch tok2 so tok3 becomes the oldest.
	if _, ok := c.get("tok2", now); !ok {
		t.Fatal("tok2 evicted too early")
	}
	c.put("tok5", schema.Principal{}, now.Add(time.Minute), now)
	if _, ok := c.get("tok3", now); ok {
		t.Fatal("least recently used entry was not the one evicted")
	}
	if _, ok := c.get("tok2", now); !ok {
		t.Fatal("recently used entry was evicted")
	}
	// maxAge caps long-lived tokens; expired tokens are never stored.
	c = newTokenCache(10, time.Minute)
	c.put("long", schema.Principal{}, now.Add(time.Hour), now)
	if _, ok := c.get("long", now.Add(61*time.Second)); ok {
		t.Fatal("entry outlived maxAge")
	}
	c.put("dead", schema.Principal{}, now.Add(-time.Second), now)
	if c.len() != 0 {
		t.Fatalf("expired token stored; len = %d", c.len())
	}
}
