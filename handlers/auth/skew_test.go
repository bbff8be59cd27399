package auth_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/usersvc/usersvc/handlers/auth"
	"github.com/usersvc/usersvc/testsupport/oidcprovider"
)

// TestClockSkewWithRealTokens: OIDC_CLOCK_SKEW is exactly the leeway on
// exp and nbf, for tokens minted by a real OpenID provider process
// (oauth2-mock-server, which puts nbf = iat - 10s on every token) and
// verified by go-oidc. Two defects are covered: a skew of 0 became 60s, and
// a skew above 5 minutes refused fresh tokens, because go-oidc adds its own
// 5-minute allowance to nbf (v3.21.0 oidc/verify.go) on a clock that was
// shifted back by the skew.
func TestClockSkewWithRealTokens(t *testing.T) {
	p := oidcprovider.Start(t)
	d := func(v time.Duration) *time.Duration { return &v }
	for _, skew := range []time.Duration{0, time.Minute, 10 * time.Minute} {
		t.Run(skew.String(), func(t *testing.T) {
			a, err := auth.New(auth.Config{DiscoveryURL: p.DiscoveryURL(), Audience: "api://default", ClockSkew: skew, CacheSize: -1})
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Discover(context.Background()); err != nil {
				t.Fatal(err)
			}
			// Well inside and well outside the skew: the provider stamps
			// whole seconds, and the test takes a moment.
			inside, beyond := skew/2, skew+30*time.Second
			type skewCase struct {
				name string
				opts oidcprovider.TokenOptions
				want auth.Reason // "" = accepted
			}
			tests := []skewCase{
				{"fresh, the provider's own nbf", oidcprovider.TokenOptions{Email: "ada@example.com"}, ""},
				{"nbf now", oidcprovider.TokenOptions{Email: "ada@example.com", NotBeforeIn: d(0)}, ""},
				{"expired beyond the skew", oidcprovider.TokenOptions{Email: "ada@example.com", ExpiresIn: d(-beyond)}, auth.ReasonExpired},
				{"nbf beyond the skew", oidcprovider.TokenOptions{Email: "ada@example.com", NotBeforeIn: d(beyond)}, auth.ReasonNotYetValid},
			}
			if skew > 0 {
				tests = append(tests,
					skewCase{"expired within the skew", oidcprovider.TokenOptions{Email: "ada@example.com", ExpiresIn: d(-inside)}, ""},
					skewCase{"nbf within the skew", oidcprovider.TokenOptions{Email: "ada@example.com", NotBeforeIn: d(inside)}, ""})
			} else {
				// No leeway at all: a token that expired 5s ago is refused
				// (with the old 60s default it passed).
				tests = append(tests, skewCase{"expired 5s ago", oidcprovider.TokenOptions{Email: "ada@example.com", ExpiresIn: d(-5 * time.Second)}, auth.ReasonExpired})
			}
			for _, tt := range tests {
				tok := p.Token(t, tt.opts)
				if tt.name == "fresh, the provider's own nbf" {
					if !hasNotBefore(t, tok) {
						t.Fatal("the provider's token carries no nbf: the case proves nothing")
					}
				}
				pr, err := a.Authenticate(context.Background(), "Bearer "+tok)
				if got := auth.ReasonOf(err); got != tt.want {
					t.Errorf("%s: reason %q (%v), want %q", tt.name, got, err, tt.want)
				}
				if tt.want == "" && err == nil && pr.Email != "ada@example.com" {
					t.Errorf("%s: principal %+v", tt.name, pr)
				}
			}
		})
	}
}

// hasNotBefore reports whether a JWT's payload carries nbf (read without
// verifying it).
func hasNotBefore(t *testing.T, tok string) bool {
	t.Helper()
	var payload struct {
		NotBefore *json.Number `json:"nbf"`
	}
	parts := strings.Split(tok, ".")
	data, err := base64.RawURLEncoding.DecodeString(parts[min(1, len(parts)-1)])
	if err != nil || len(parts) != 3 || json.Unmarshal(data, &payload) != nil {
		t.Fatalf("not a JWT: %q", tok)
	}
	return payload.NotBefore != nil
}
