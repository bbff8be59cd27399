package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usersvc/usersvc/handlers"
	"github.com/usersvc/usersvc/handlers/auth"
	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/proxy/embedded"
	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/issuer"
	"github.com/usersvc/usersvc/testsupport/syncbuffer"
)

// attackServer is the real handler chain with real verification behind a
// real loopback listener.
type attackServer struct {
	url    string
	iss    *issuer.Issuer
	logs   *syncbuffer.Buffer
	client *http.Client
}

func newAttackServer(t *testing.T) *attackServer {
	t.Helper()
	iss := issuer.Start(t)
	a, err := auth.New(auth.Config{DiscoveryURL: iss.DiscoveryURL(), Audience: issuer.Audience})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Discover(context.Background()); err != nil {
		t.Fatal(err)
	}
	store, err := embedded.Open(filepath.Join(t.TempDir(), "u.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	if _, _, err := store.CreateUpdateUser(context.Background(), schema.User{UserID: "ada@example.com", Email: "ada@example.com", DisplayName: "Ada", IsActive: true}); err != nil {
		t.Fatal(err)
	}
	logs := &syncbuffer.Buffer{}
	h := handlers.New(handlers.Deps{
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Users:  oidcuser.NewResolver(store, oidcuser.ResolverConfig{}), Store: store,
		Auth: handlers.AuthConfig{Authenticator: a, Allowlist: []string{"healthcheck"}},
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 50}}
	t.Cleanup(client.CloseIdleConnections)
	return &attackServer{url: srv.URL, iss: iss, logs: logs, client: client}
}

// TestTokenAttacksEndToEnd: every forged, stale, misdirected or malformed
// credential sent over HTTP is a 401 JSON answer with a challenge, and no
// token text reaches the answer or the logs.
func TestTokenAttacksEndToEnd(t *testing.T) {
	s := newAttackServer(t)
	now := time.Now()
	claims := func(mut func(map[string]any)) map[string]any {
		c := s.iss.Claims(now, "ada@example.com")
		if mut != nil {
			mut(c)
		}
		return c
	}
	rsaKey := s.iss.Keys()[0]
	valid := s.iss.Token(t, claims(nil))
	rogue := issuer.NewRSAKey(t, "rogue")
	envelope := func(tok string) string {
		data, _ := json.Marshal(map[string]any{"access_token": tok, "expires_at": now.Add(time.Hour).Unix()})
		return string(data)
	}
	attacks := []struct {
		name, credential string
	}{
		{"alg none", issuer.ForgeNone(rsaKey.ID, claims(nil))},
		{"HS256 signed with the public key", issuer.ForgeHS256(t, rsaKey, claims(nil))},
		{"expired", s.iss.Token(t, claims(func(c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() }))},
		{"not valid yet", s.iss.Token(t, claims(func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() }))},
		{"wrong issuer", s.iss.Token(t, claims(func(c map[string]any) { c["iss"] = "https://evil.example.com" }))},
		{"wrong audience", s.iss.Token(t, claims(func(c map[string]any) { c["aud"] = "api://other" }))},
		{"no kid", issuer.Sign(t, rsaKey, claims(nil), false)},
		{"unknown kid", issuer.Sign(t, rogue, claims(nil), true)},
		{"tampered payload", issuer.Tamper(valid, claims(func(c map[string]any) { c["email"] = "root@example.com" }))},
		{"garbage", "not.a.token"},
		{"16 KiB", strings.Repeat("A", 16<<10)},
		{"JSON form, bad inner token", envelope(issuer.Tamper(valid, claims(func(c map[string]any) { c["sub"] = "root" })))},
		{"JSON form, no access_token", `{"expires_at": 9999999999}`},
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, s.url+"/user/ada@example.com", nil)
			req.Header.Set("Authorization", "Bearer "+a.credential)
			assertRefused(t, s, req, a.credential)
		})
	}
	// Tokens anywhere but the Authorization header are not credentials.
	for name, req := range map[string]*http.Request{
		"query string": mustRequest(http.MethodGet, s.url+"/user/ada@example.com?access_token="+url.QueryEscape(valid), ""),
		"form body":    mustRequest(http.MethodPut, s.url+"/user", "access_token="+url.QueryEscape(valid)),
		"cookie":       withCookie(mustRequest(http.MethodGet, s.url+"/user/ada@example.com", ""), valid),
		"basic scheme": withAuth(mustRequest(http.MethodGet, s.url+"/user/ada@example.com", ""), "Basic "+valid),
	} {
		t.Run(name, func(t *testing.T) { assertRefused(t, s, req, valid) })
	}
	// The genuine token works, so the refusals above were about the tokens.
	req, _ := http.NewRequest(http.MethodGet, s.url+"/user/ada@example.com", nil)
	req.Header.Set("Authorization", "Bearer "+valid)
	resp, err := s.client.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("valid token: %v %v", resp, err)
	}
	resp.Body.Close()
}

func mustRequest(method, u, form string) *http.Request {
	var body io.Reader
	if form != "" {
		body = strings.NewReader(form)
	}
	req, _ := http.NewRequest(method, u, body)
	if form != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return req
}

func withCookie(r *http.Request, tok string) *http.Request {
	r.AddCookie(&http.Cookie{Name: "access_token", Value: tok})
	return r
}

func withAuth(r *http.Request, v string) *http.Request {
	r.Header.Set("Authorization", v)
	return r
}

func assertRefused(t *testing.T, s *attackServer, req *http.Request, credential string) {
	t.Helper()
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var msg map[string]string
	if resp.StatusCode != http.StatusUnauthorized || json.Unmarshal(body, &msg) != nil || msg["message"] == "" {
		t.Fatalf("status %d body %s, want 401 JSON", resp.StatusCode, body)
	}
	challenge := resp.Header.Get("WWW-Authenticate")
	if !strings.HasPrefix(challenge, `Bearer realm="usersvc"`) || resp.Header.Get("Location") != "" {
		t.Fatalf("challenge %q, location %q", challenge, resp.Header.Get("Location"))
	}
	probe := credential
	if len(probe) > 24 {
		probe = probe[len(probe)-24:]
	}
	for where, text := range map[string]string{"body": string(body), "challenge": challenge, "logs": s.logs.String()} {
		if strings.Contains(text, probe) {
			t.Fatalf("the credential leaked into the %s", where)
		}
	}
}

// TestRandomKidFloodEndToEnd: 1,000 requests with random kids over HTTP
// cause at most one JWKS refetch.
func TestRandomKidFloodEndToEnd(t *testing.T) {
	s := newAttackServer(t)
	before := s.iss.JWKSFetches()
	c := s.iss.Claims(time.Now(), "ada@example.com")
	client := s.client
	var wg sync.WaitGroup
	sem := make(chan struct{}, 50)
	var mu sync.Mutex
	statuses := map[int]int{}
	for i := range 1000 {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			req, _ := http.NewRequest(http.MethodGet, s.url+"/user/ada@example.com", nil)
			req.Header.Set("Authorization", "Bearer "+issuer.UnknownKid(fmt.Sprintf("kid-%d", i), c))
			resp, err := client.Do(req)
			code := 0
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				code = resp.StatusCode
			}
			mu.Lock()
			statuses[code]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if statuses[http.StatusUnauthorized] != 1000 {
		t.Fatalf("statuses = %v, want 1000 × 401", statuses)
	}
	if got := s.iss.JWKSFetches() - before; got > 1 {
		t.Fatalf("the flood caused %d JWKS fetches, want at most 1", got)
	}
}
