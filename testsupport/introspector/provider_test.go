package introspector

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// introspect asks the endpoint directly, as RFC 7662 §2.1 describes.
func introspect(t *testing.T, p *Provider, token string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.Issuer()+"/token/introspection",
		strings.NewReader(url.Values{"token": {token}, "token_type_hint": {"access_token"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(ResourceServer, p.Secret(ResourceServer))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func TestProviderMintsOpaqueTokensAndIntrospects(t *testing.T) {
	p := Start(t, Options{IntrospectionAuthMethods: []string{"client_secret_post"}})
	resp, err := http.Get(p.DiscoveryURL())
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if doc["issuer"] != p.Issuer() || doc["introspection_endpoint"] != p.Issuer()+"/token/introspection" ||
		doc["revocation_endpoint"] == nil || len(doc["introspection_endpoint_auth_methods_supported"].([]any)) != 1 {
		t.Fatalf("discovery = %v", doc)
	}

	tok := p.Token(t, TokenOptions{Username: "ada.login", Email: "ada@example.com", Groups: []string{"g"}})
	if strings.Contains(tok, ".") {
		t.Fatalf("token %q is not opaque", tok[:8])
	}
	if jwt := p.Token(t, TokenOptions{JWT: true}); strings.Count(jwt, ".") != 2 {
		t.Fatal("the JWT resource server minted no JWT")
	}
	status, body := introspect(t, p, tok)
	if status != http.StatusOK || body["active"] != true || body["username"] != "ada.login" || body["client_id"] != Frontend ||
		body["aud"] != Audience || body["scope"] != "users.read" {
		t.Fatalf("introspection = %d %v", status, body)
	}
	if s := p.Stats(t); s.Introspections != 1 || s.LastAuth != "basic" {
		t.Fatalf("stats = %+v", s)
	}

	p.Revoke(t, Frontend, tok)
	if _, body := introspect(t, p, tok); body["active"] != false {
		t.Fatalf("revoked token = %v", body)
	}

	p.Fault(t, "500", 0)
	if status, _ := introspect(t, p, tok); status != http.StatusInternalServerError {
		t.Fatalf("fault 500 answered %d", status)
	}
	p.Fault(t, "none", 300*time.Millisecond)
	start := time.Now()
	introspect(t, p, tok)
	if time.Since(start) < 300*time.Millisecond {
		t.Fatal("delay not applied")
	}

	p.Stop()
	if resp, err := http.Get(p.DiscoveryURL()); err == nil {
		resp.Body.Close()
		t.Fatal("discovery answered after Stop")
	}
}
