package auth_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/usersvc/usersvc/handlers/auth"
	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/issuer"
)

// FuzzAuthenticate feeds arbitrary Authorization values (JWT and Amundsen
// JSON forms) to a ready authenticator: never a panic, never an error other
// than a refusal, and a refusal never carries the token text.
func FuzzAuthenticate(f *testing.F) {
	iss := issuer.Start(f)
	now := time.Now()
	valid := iss.Token(f, iss.Claims(now, "ada@example.com"))
	envelope, _ := json.Marshal(map[string]any{"access_token": valid, "expires_at": now.Unix()})
	for _, s := range []string{
		"Bearer " + valid, "Bearer " + string(envelope), "bearer " + valid + ".x", "Bearer a.b.c", "Bearer {}",
		`Bearer {"access_token": null}`, "Bearer eyJhbGciOiJub25lIn0.e30.", "Basic x", "", "Bearer " + strings.Repeat("A", 9000),
		`Bearer {"access_token":"x","expires_at":"soon"}`, "Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS0xIn0.e30.AAAA",
	} {
		f.Add(s)
	}
	a, err := auth.New(auth.Config{DiscoveryURL: iss.DiscoveryURL(), Audience: issuer.Audience, JWKSMinRefresh: time.Hour})
	if err != nil {
		f.Fatal(err)
	}
	if err := a.Discover(context.Background()); err != nil {
		f.Fatal(err)
	}
	// The same inputs through the introspection path: an endpoint that
	// answers {"active": false} (RFC 7662 §2.2) for anything.
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"active":false}`))
	}))
	f.Cleanup(endpoint.Close)
	ai, err := auth.New(auth.Config{DiscoveryURL: iss.DiscoveryURL(), Audience: issuer.Audience, JWKSMinRefresh: time.Hour,
		IntrospectionURL: endpoint.URL, ClientID: "usersvc", ClientSecret: "fuzz-secret", IntrospectionRate: 1000})
	if err != nil {
		f.Fatal(err)
	}
	if err := ai.Discover(context.Background()); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, header string) {
		if p, err := ai.Authenticate(context.Background(), header); err == nil && p.Subject == "" {
			t.Fatalf("introspection path accepted %q with no subject", header)
		} else if err != nil && auth.ReasonOf(err) == "" && schema.KindOf(err) != schema.KindUnavailable {
			t.Fatalf("introspection path, %q: unexpected error %v", header, err)
		} else if err != nil && len(header) > 20 && strings.Contains(err.Error(), header[len(header)-20:]) {
			t.Fatalf("refusal %q echoes the credential", err)
		}
		p, err := a.Authenticate(context.Background(), header)
		if err == nil {
			if p.Subject == "" {
				t.Fatalf("accepted %q with no subject", header)
			}
			return
		}
		if auth.ReasonOf(err) == "" && schema.KindOf(err) != schema.KindUnavailable {
			t.Fatalf("%q: unexpected error %v", header, err)
		}
		if len(header) > 20 && strings.Contains(err.Error(), header[len(header)-20:]) {
			t.Fatalf("refusal %q echoes the credential", err)
		}
	})
}
