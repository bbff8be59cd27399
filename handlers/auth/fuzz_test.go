package auth_test

import (
	"context"
	"encoding/json"
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
	f.Fuzz(func(t *testing.T, header string) {
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
