package handlers_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/usersvc/usersvc/handlers"
	"github.com/usersvc/usersvc/handlers/auth"
	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/proxy/embedded/embeddedtest"
	"github.com/usersvc/usersvc/proxy/proxytest"
	"github.com/usersvc/usersvc/testsupport/issuer"
)

type authEnv struct {
	*env
	iss *issuer.Issuer
}

// newAuthEnv serves the handlers with real token verification against an
// in-process issuer. discover=false leaves the provider unreached.
func newAuthEnv(t *testing.T, ac handlers.AuthConfig, discover bool) *authEnv {
	t.Helper()
	iss := issuer.Start(t)
	a, err := auth.New(auth.Config{DiscoveryURL: iss.DiscoveryURL(), Audience: issuer.Audience})
	if err != nil {
		t.Fatal(err)
	}
	if discover {
		if err := a.Discover(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	store := embeddedtest.WithCatalog(t)
	ac.Authenticator = a
	logs := &bytes.Buffer{}
	h := handlers.New(handlers.Deps{
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Users:  oidcuser.NewResolver(store, oidcuser.ResolverConfig{}),
		Store:  store,
		Health: []handlers.Check{{Name: "store", Probe: store.Health}},
		Ready:  []handlers.Check{{Name: "oidc", Probe: a.Ready}},
		Auth:   ac,
	})
	return &authEnv{env: &env{h: h, store: store, logs: logs}, iss: iss}
}

func (e *authEnv) token(t *testing.T, email string, groups ...string) string {
	c := e.iss.Claims(time.Now(), email)
	if groups != nil {
		c["groups"] = groups
	}
	return e.iss.Token(t, c)
}

func TestAuthRequiredAndChallenges(t *testing.T) {
	e := newAuthEnv(t, handlers.AuthConfig{Allowlist: []string{"status", "healthcheck", "health"}}, true)
	tok := e.token(t, "ada@example.com")

	w := e.do(t, http.MethodGet, "/user/ada@example.com", "")
	wantMessage(t, w, http.StatusUnauthorized, "missing bearer token")
	if got := w.Header().Get("WWW-Authenticate"); got != `Bearer realm="usersvc"` {
		t.Fatalf("challenge for a missing token = %q", got)
	}
	if w.Header().Get("Location") != "" {
		t.Fatal("auth failure redirected")
	}

	expired := e.iss.Claims(time.Now(), "ada@example.com")
	expired["exp"] = time.Now().Add(-time.Hour).Unix()
	w = e.do(t, http.MethodGet, "/user/ada@example.com", "", "Authorization", "Bearer "+e.iss.Token(t, expired))
	wantMessage(t, w, http.StatusUnauthorized, "token is expired")
	if got := w.Header().Get("WWW-Authenticate"); got != `Bearer realm="usersvc", error="invalid_token", error_description="token is expired"` {
		t.Fatalf("challenge for an expired token = %q", got)
	}

	w = e.do(t, http.MethodGet, "/user/ada@example.com", "", "Authorization", "Bearer "+tok)
	wantMessage(t, w, http.StatusNotFound, "user_id ada@example.com not found")

	// The Amundsen frontend's JSON form.
	w = e.do(t, http.MethodGet, "/user/ada@example.com/follow/", "", "Authorization", `Bearer {"access_token": "`+tok+`", "expires_at": 1999999999, "refresh_token": "r"}`)
	wantStatus(t, w, http.StatusOK)

	// Two Authorization headers are ambiguous.
	req := httptest.NewRequest(http.MethodGet, "/user/ada@example.com", nil)
	req.Header.Add("Authorization", "Bearer "+tok)
	req.Header.Add("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	wantMessage(t, rec, http.StatusUnauthorized, "token is malformed")

	// Unknown routes do not reveal themselves without a token.
	wantMessage(t, e.do(t, http.MethodGet, "/admin", ""), http.StatusUnauthorized, "missing bearer token")

	if strings.Contains(e.logs.String(), tok[:40]) {
		t.Fatal("token text reached the logs")
	}
}

// TestAllowlistBypass: only genuine GET/HEAD requests for an allowlisted
// route skip authentication.
func TestAllowlistBypass(t *testing.T) {
	e := newAuthEnv(t, handlers.AuthConfig{Allowlist: []string{"status", "healthcheck", "health"}}, true)
	tests := []struct {
		method, target string
		header         []string
		open           bool
	}{
		{"GET", "/healthcheck", nil, true},
		{"HEAD", "/healthcheck", nil, true},
		{"GET", "/livez", nil, true},
		{"GET", "/readyz", nil, true},
		{"GET", "/healthcheck?x", nil, false},
		{"GET", "/healthcheck/", nil, false},
		{"GET", "//healthcheck", nil, false},
		{"GET", "/healthcheck#frag", nil, false},
		{"GET", "/user/x?healthcheck", nil, false},
		{"GET", "/user/healthcheck", nil, false},
		{"GET", "/%68ealthcheck", nil, false},
		{"GET", "/healthcheck%2F", nil, false},
		{"GET", "/HEALTHCHECK", nil, false},
		{"POST", "/healthcheck", nil, false},
		{"PUT", "/healthcheck", nil, false},
		{"OPTIONS", "/healthcheck", nil, false},
		{"GET", "/user/x", []string{"X-Forwarded-Uri", "/healthcheck"}, false},
		{"GET", "/user/x", []string{"X-Original-URL", "/healthcheck"}, false},
		{"GET", "/user/x", []string{"X-Forwarded-Prefix", "/healthcheck"}, false},
		{"GET", "/user/x", []string{"User-Agent", "kube-probe/1.30"}, false},
		{"GET", "/user", []string{"Referer", "/healthcheck"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target+" "+strings.Join(tt.header, ":"), func(t *testing.T) {
			w := e.do(t, tt.method, tt.target, "", tt.header...)
			if got := w.Code != http.StatusUnauthorized; got != tt.open {
				t.Fatalf("status %d; open = %v, want %v", w.Code, got, tt.open)
			}
		})
	}
}

func TestAllowlistEndpointNames(t *testing.T) {
	for _, entry := range []string{"api.healthcheck", "api.healthcheckapi", "/healthcheck/"} {
		e := newAuthEnv(t, handlers.AuthConfig{Allowlist: []string{entry}}, true)
		wantStatus(t, e.do(t, http.MethodGet, "/healthcheck", ""), http.StatusOK)
	}
	e := newAuthEnv(t, handlers.AuthConfig{Allowlist: []string{"status"}}, true)
	wantStatus(t, e.do(t, http.MethodGet, "/healthcheck", ""), http.StatusUnauthorized)
	wantStatus(t, e.do(t, http.MethodGet, "/livez", ""), http.StatusOK)
}

func TestProviderNotReachedYet(t *testing.T) {
	e := newAuthEnv(t, handlers.AuthConfig{Allowlist: []string{"healthcheck"}}, false)
	w := e.do(t, http.MethodGet, "/user/ada@example.com", "", "Authorization", "Bearer "+e.token(t, "ada@example.com"))
	wantMessage(t, w, http.StatusServiceUnavailable, "authentication is not ready: the OIDC provider has not been reached yet")
	if w.Header().Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	wantStatus(t, e.do(t, http.MethodGet, "/readyz", ""), http.StatusServiceUnavailable)
	wantStatus(t, e.do(t, http.MethodGet, "/livez", ""), http.StatusOK)
	// Health is about the store; Amundsen's health probe keeps passing.
	wantStatus(t, e.do(t, http.MethodGet, "/healthcheck", ""), http.StatusOK)
}

func TestWritePolicy(t *testing.T) {
	e := newAuthEnv(t, handlers.AuthConfig{WriteGroups: []string{"data-stewards"}}, true)
	ada := "Bearer " + e.token(t, "Ada@Example.com", "Everyone")
	steward := "Bearer " + e.token(t, "steward@example.com", "Everyone", "data-stewards")
	withVerified := func(email string, verified any) string {
		c := e.iss.Claims(time.Now(), email)
		c["email_verified"] = verified
		return "Bearer " + e.iss.Token(t, c)
	}
	// OIDC Core §5.1: email_verified false means the provider has not
	// checked that the address is the caller's.
	unverified := withVerified("carol@example.com", false)
	verified := withVerified("dan@example.com", true)
	follow := "/user/bob@example.com/follow/table/" + proxytest.TableOrders
	tests := []struct {
		name, method, target, body, token string
		status                            int
	}{
		{"own follows", "PUT", "/user/ada@example.com/follow/table/" + proxytest.TableOrders, "", ada, 200},
		{"own owns", "PUT", "/user/ada@example.com/own/table/" + proxytest.TableOrders, "", ada, 200},
		{"own profile", "PUT", "/user", `{"email":"ada@example.com","display_name":"Ada"}`, ada, 200}, // the follow above made a node
		{"another user's follows", "PUT", follow, "", ada, 403},
		{"another user's follow delete", "DELETE", follow, "", ada, 403},
		{"another user's profile", "PUT", "/user", `{"email":"bob@example.com","display_name":"Bob"}`, ada, 403},
		{"steward writes for others", "PUT", follow, "", steward, 200},
		{"steward profile for others", "PUT", "/user", `{"email":"bob@example.com","display_name":"Bob"}`, steward, 200},
		{"reads stay open", "GET", "/user/bob@example.com/follow/", "", ada, 200},
		{"unverified email is not the caller's own record", "PUT", "/user/carol@example.com/follow/table/" + proxytest.TableOrders, "", unverified, 403},
		{"unverified email may not write its profile", "PUT", "/user", `{"email":"carol@example.com","display_name":"Carol"}`, unverified, 403},
		{"verified email writes its own record", "PUT", "/user/dan@example.com/follow/table/" + proxytest.TableOrders, "", verified, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := e.do(t, tt.method, tt.target, tt.body, "Authorization", tt.token)
			wantStatus(t, w, tt.status)
		})
	}
	// Refused writes wrote nothing.
	res, _ := e.store.GetUserResources(context.Background(), "bob@example.com", "follow")
	if len(res.Table) != 1 {
		t.Fatalf("bob's follows = %+v, want only the steward's write", res)
	}
}
