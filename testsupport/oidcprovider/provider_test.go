package oidcprovider

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

func TestProviderIssuesVerifiableTokens(t *testing.T) {
	p := Start(t)
	ctx := context.Background()
	prov, err := oidc.NewProvider(ctx, p.Issuer())
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	v := prov.Verifier(&oidc.Config{ClientID: "api://default"})
	tok, err := v.Verify(ctx, p.Token(t, TokenOptions{Groups: []string{"data-stewards"}, Email: "ada@example.com", ClientID: "frontend"}))
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	var claims struct {
		Groups []string `json:"groups"`
		Email  string   `json:"email"`
		CID    string   `json:"cid"`
	}
	if err := tok.Claims(&claims); err != nil || len(claims.Groups) != 1 || claims.Email != "ada@example.com" || claims.CID != "frontend" {
		t.Fatalf("claims = %+v, %v", claims, err)
	}

	short := time.Second
	expiring := p.Token(t, TokenOptions{ExpiresIn: &short})
	time.Sleep(2100 * time.Millisecond)
	if _, err := v.Verify(ctx, expiring); err == nil {
		t.Fatal("a 1-second token still verified after 2 seconds")
	}

	p.Stop()
	if resp, err := http.Get(p.DiscoveryURL()); err == nil {
		resp.Body.Close()
		t.Fatal("discovery answered after Stop")
	}
	p = p.Restart()
	if _, err := oidc.NewProvider(ctx, p.Issuer()); err != nil {
		t.Fatalf("discovery after restart: %v", err)
	}
}
