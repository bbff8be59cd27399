package auth_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/usersvc/usersvc/handlers/auth"
	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/issuer"
)

// clock is a settable time source shared by the authenticator and claims.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func newAuth(t *testing.T, iss *issuer.Issuer, clk *clock, mutate func(*auth.Config)) *auth.Authenticator {
	t.Helper()
	// ClockSkew as OIDC_CLOCK_SKEW's default (zero would be no leeway).
	cfg := auth.Config{DiscoveryURL: iss.DiscoveryURL(), Audience: issuer.Audience, Now: clk.Now, ClockSkew: time.Minute}
	if mutate != nil {
		mutate(&cfg)
	}
	a, err := auth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Discover(context.Background()); err != nil {
		t.Fatalf("Discover: %v", err)
	}
	return a
}

func TestAuthenticateTable(t *testing.T) {
	iss := issuer.Start(t)
	clk := newClock()
	now := clk.Now()
	rsaKey, ecKey := iss.Keys()[0], iss.Keys()[1]
	claims := func(mut func(map[string]any)) map[string]any {
		c := iss.Claims(now, "ada@example.com")
		if mut != nil {
			mut(c)
		}
		return c
	}
	valid := iss.Token(t, claims(nil))
	tampered := issuer.Tamper(valid, claims(func(c map[string]any) { c["email"] = "eve@example.com" }))
	unpublished := issuer.NewRSAKey(t, "rogue")
	wrongAlgForKey := rsaKey
	wrongAlgForKey.Algorithm = jose.PS256
	amundsen := func(tok string, expiresAt any) string {
		data, _ := json.Marshal(map[string]any{"access_token": tok, "expires_at": expiresAt, "refresh_token": "r", "token_type": "Bearer"})
		return string(data)
	}

	tests := []struct {
		name   string
		header string
		want   auth.Reason // "" = accepted
	}{
		{"valid RS256", "Bearer " + valid, ""},
		{"scheme is case-insensitive", "bearer " + valid, ""},
		{"valid ES256", "Bearer " + issuer.Sign(t, ecKey, claims(nil), true), ""},
		{"audience array", "Bearer " + iss.Token(t, claims(func(c map[string]any) { c["aud"] = []string{"other", issuer.Audience} })), ""},
		{"alg none", "Bearer " + issuer.ForgeNone("rsa-1", claims(nil)), auth.ReasonBadAlgorithm},
		{"HS256 with the public key", "Bearer " + issuer.ForgeHS256(t, rsaKey, claims(nil)), auth.ReasonBadAlgorithm},
		{"expired beyond skew", "Bearer " + iss.Token(t, claims(func(c map[string]any) { c["exp"] = now.Add(-61 * time.Second).Unix() })), auth.ReasonExpired},
		{"expired within skew", "Bearer " + iss.Token(t, claims(func(c map[string]any) { c["exp"] = now.Add(-30 * time.Second).Unix() })), ""},
		{"no exp", "Bearer " + iss.Token(t, claims(func(c map[string]any) { delete(c, "exp") })), auth.ReasonExpired},
		{"nbf beyond skew", "Bearer " + iss.Token(t, claims(func(c map[string]any) { c["nbf"] = now.Add(2 * time.Minute).Unix() })), auth.ReasonNotYetValid},
		{"nbf within skew", "Bearer " + iss.Token(t, claims(func(c map[string]any) { c["nbf"] = now.Add(30 * time.Second).Unix() })), ""},
		{"wrong issuer", "Bearer " + iss.Token(t, claims(func(c map[string]any) { c["iss"] = "https://evil.example.com" })), auth.ReasonWrongIssuer},
		{"issuer with trailing slash", "Bearer " + iss.Token(t, claims(func(c map[string]any) { c["iss"] = iss.URL() + "/" })), auth.ReasonWrongIssuer},
		{"wrong audience", "Bearer " + iss.Token(t, claims(func(c map[string]any) { c["aud"] = "api://other" })), auth.ReasonWrongAudience},
		{"missing kid", "Bearer " + issuer.Sign(t, rsaKey, claims(nil), false), auth.ReasonNoKeyID},
		{"unknown kid", "Bearer " + issuer.Sign(t, unpublished, claims(nil), true), auth.ReasonUnknownKey},
		{"kid of a key published for another alg", "Bearer " + issuer.Sign(t, wrongAlgForKey, claims(nil), true), auth.ReasonBadSignature},
		{"tampered payload", "Bearer " + tampered, auth.ReasonBadSignature},
		{"garbage", "Bearer not-a-jwt", auth.ReasonMalformed},
		{"garbage with dots", "Bearer a.b.c", auth.ReasonMalformed},
		{"16 KiB token", "Bearer " + strings.Repeat("a", 16<<10), auth.ReasonTooLarge},
		{"just over 8 KiB", "Bearer " + strings.Repeat("a", auth.MaxTokenBytes+1), auth.ReasonTooLarge},
		{"no header", "", auth.ReasonMissing},
		{"basic credentials", "Basic YWxhZGRpbjpvcGVuc2VzYW1l", auth.ReasonMissing},
		{"bearer without token", "Bearer ", auth.ReasonMissing},
		{"amundsen JSON form", "Bearer " + amundsen(valid, now.Add(time.Hour).Unix()), ""},
		// Decision: the unsigned expires_at neither extends nor shortens the
		// signed exp; a JWT that is still valid is accepted.
		{"amundsen JSON form, expires_at past, JWT valid", "Bearer " + amundsen(valid, now.Add(-time.Hour).Unix()), ""},
		{"amundsen JSON form, bad inner token", "Bearer " + amundsen(tampered, now.Add(time.Hour).Unix()), auth.ReasonBadSignature},
		{"amundsen JSON form, expired inner token", "Bearer " + amundsen(iss.Token(t, claims(func(c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() })), now.Add(time.Hour).Unix()), auth.ReasonExpired},
		{"amundsen JSON form, no access_token", `Bearer {"expires_at": 1}`, auth.ReasonMalformed},
		{"amundsen JSON form, access_token not a string", `Bearer {"access_token": 42}`, auth.ReasonMalformed},
		{"amundsen JSON form, expires_at not a number", "Bearer " + amundsen(valid, "soon"), auth.ReasonMalformed},
		{"amundsen JSON form, trailing data", "Bearer " + amundsen(valid, 1) + "{}", auth.ReasonMalformed},
		{"broken JSON form", `Bearer {"access_token": "`, auth.ReasonMalformed},
	}
	a := newAuth(t, iss, clk, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := a.Authenticate(context.Background(), tt.header)
			if got := auth.ReasonOf(err); got != tt.want {
				t.Fatalf("reason = %q (err %v), want %q", got, err, tt.want)
			}
			if tt.want == "" && (p.Email != "ada@example.com" || p.UserID != "ada@example.com" || p.Subject != "00uada@example.com") {
				t.Fatalf("principal = %+v", p)
			}
			if err != nil && strings.Contains(err.Error(), "eyJ") {
				t.Fatalf("error text echoes the token: %v", err)
			}
		})
	}
}

func TestPrincipalClaims(t *testing.T) {
	iss := issuer.Start(t)
	clk := newClock()
	a := newAuth(t, iss, clk, func(c *auth.Config) { c.UserIDClaim = "uid"; c.GroupsClaim = "roles" })
	c := iss.Claims(clk.Now(), "ada@example.com")
	c["uid"] = "ada"
	c["roles"] = []string{"data-stewards", "Everyone"}
	delete(c, "scp")
	c["scope"] = "openid users.write"
	delete(c, "cid")
	c["azp"] = "spa"
	p, err := a.Authenticate(context.Background(), "Bearer "+iss.Token(t, c))
	if err != nil {
		t.Fatal(err)
	}
	want := schema.Principal{Subject: "00uada@example.com", UserID: "ada", Email: "ada@example.com", ClientID: "spa",
		Groups: []string{"data-stewards", "Everyone"}, Scopes: []string{"openid", "users.write"}}
	if fmt.Sprint(p) != fmt.Sprint(want) {
		t.Fatalf("principal = %+v\nwant       %+v", p, want)
	}
	// Without the user id claim, the subject stands in.
	delete(c, "uid")
	p, err = a.Authenticate(context.Background(), "Bearer "+iss.Token(t, c))
	if err != nil || p.UserID != p.Subject {
		t.Fatalf("fallback user id = %q, %v", p.UserID, err)
	}
}

func TestClientAndScopeChecks(t *testing.T) {
	iss := issuer.Start(t)
	clk := newClock()
	a := newAuth(t, iss, clk, func(c *auth.Config) {
		c.AllowedClientIDs = []string{"frontend", "databuilder"}
		c.RequiredScopes = []string{"email", "profile"}
	})
	tests := []struct {
		name string
		mut  func(map[string]any)
		want auth.Reason
	}{
		{"allowed cid and scopes", nil, ""},
		{"azp allowed", func(c map[string]any) { delete(c, "cid"); c["azp"] = "databuilder" }, ""},
		{"scope as string", func(c map[string]any) { delete(c, "scp"); c["scope"] = "profile email" }, ""},
		{"cid not allowed", func(c map[string]any) { c["cid"] = "stranger" }, auth.ReasonClientNotAllowed},
		{"no client claim", func(c map[string]any) { delete(c, "cid") }, auth.ReasonClientNotAllowed},
		{"missing one scope", func(c map[string]any) { c["scp"] = []string{"email"} }, auth.ReasonInsufficientScope},
		{"no scopes", func(c map[string]any) { delete(c, "scp") }, auth.ReasonInsufficientScope},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := iss.Claims(clk.Now(), "ada@example.com")
			if tt.mut != nil {
				tt.mut(c)
			}
			_, err := a.Authenticate(context.Background(), "Bearer "+iss.Token(t, c))
			if got := auth.ReasonOf(err); got != tt.want {
				t.Fatalf("reason = %q (%v), want %q", got, err, tt.want)
			}
		})
	}
}

// TestUnknownKidFloodIsBounded: 1,000 tokens with random kids cause at most
// one JWKS refetch per refresh window.
func TestUnknownKidFloodIsBounded(t *testing.T) {
	iss := issuer.Start(t)
	clk := newClock()
	a := newAuth(t, iss, clk, nil)
	base := iss.JWKSFetches()
	c := iss.Claims(clk.Now(), "ada@example.com")
	var wg sync.WaitGroup
	for i := range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := issuer.UnknownKid(fmt.Sprintf("random-%d", i), c)
			if _, err := a.Authenticate(context.Background(), "Bearer "+tok); auth.ReasonOf(err) != auth.ReasonUnknownKey {
				t.Errorf("random kid: %v", err)
			}
		}()
	}
	wg.Wait()
	if got := iss.JWKSFetches() - base; got > 1 {
		t.Fatalf("1000 unknown kids caused %d JWKS fetches, want at most 1", got)
	}
	// After the window, a rotated key is picked up by one refetch.
	rotated := issuer.NewRSAKey(t, "rsa-2")
	iss.Publish(append(iss.Keys(), rotated)...)
	clk.Advance(11 * time.Second)
	if _, err := a.Authenticate(context.Background(), "Bearer "+issuer.Sign(t, rotated, iss.Claims(clk.Now(), "ada@example.com"), true)); err != nil {
		t.Fatalf("token signed with the rotated key: %v", err)
	}
	if got := iss.JWKSFetches() - base; got > 2 {
		t.Fatalf("JWKS fetches = %d, want at most 2", got)
	}
}

func TestProviderDownAfterStartKeepsVerifying(t *testing.T) {
	iss := issuer.Start(t)
	clk := newClock()
	a := newAuth(t, iss, clk, func(c *auth.Config) { c.CacheSize = -1 })
	iss.SetDown(true)
	tok := iss.Token(t, iss.Claims(clk.Now(), "ada@example.com"))
	if _, err := a.Authenticate(context.Background(), "Bearer "+tok); err != nil {
		t.Fatalf("cached keys stopped verifying while the provider is down: %v", err)
	}
	if err := a.Ready(context.Background()); err != nil {
		t.Fatalf("Ready with loaded keys: %v", err)
	}
}

func TestProviderDownAtStartIsUnavailableUntilItComesBack(t *testing.T) {
	iss := issuer.Start(t)
	iss.SetDown(true)
	clk := newClock()
	a, err := auth.New(auth.Config{DiscoveryURL: iss.DiscoveryURL(), Audience: issuer.Audience, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a.Start(ctx)

	tok := "Bearer " + iss.Token(t, iss.Claims(clk.Now(), "ada@example.com"))
	_, err = a.Authenticate(ctx, tok)
	if schema.KindOf(err) != schema.KindUnavailable || a.Ready(ctx) == nil {
		t.Fatalf("before the provider answers: err %v, want unavailable and not ready", err)
	}
	// Refusals that need no keys still answer 401 while not ready.
	if _, err := a.Authenticate(ctx, ""); auth.ReasonOf(err) != auth.ReasonMissing {
		t.Fatalf("missing token while not ready: %v", err)
	}

	iss.SetDown(false)
	deadline := time.Now().Add(10 * time.Second)
	for a.Ready(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatal("not ready 10s after the provider came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := a.Authenticate(ctx, tok); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []auth.Config{
		{DiscoveryURL: "", Audience: "a"},
		{DiscoveryURL: "ftp://x/.well-known/openid-configuration", Audience: "a"},
		{DiscoveryURL: "/relative", Audience: "a"},
		{DiscoveryURL: "https://idp.example.com/.well-known/openid-configuration"},
	} {
		if _, err := auth.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted a bad config", cfg)
		}
	}
}
