package auth_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/usersvc/usersvc/handlers/auth"
	"github.com/usersvc/usersvc/testsupport/issuer"
)

// TestDottedClaimPaths: OIDC_GROUPS_CLAIM and FLASK_OIDC_USER_ID_FIELD
// reach into nested claims (Keycloak puts realm roles under
// realm_access.roles, per its token mapper docs); a claim whose own name
// holds the dot wins.
func TestDottedClaimPaths(t *testing.T) {
	iss := issuer.Start(t)
	clk := newClock()
	tests := []struct {
		name, groups, userID string
		mut                  func(map[string]any)
		wantGroups, wantUser string
	}{
		{"nested groups", "realm_access.roles", "", func(c map[string]any) {
			c["realm_access"] = map[string]any{"roles": []string{"steward", "offline_access"}}
		}, "[steward offline_access]", "ada@example.com"},
		{"literal dotted name first", "realm_access.roles", "", func(c map[string]any) {
			c["realm_access.roles"] = []string{"literal"}
			c["realm_access"] = map[string]any{"roles": []string{"nested"}}
		}, "[literal]", "ada@example.com"},
		{"nested user id", "", "profile.login", func(c map[string]any) {
			c["profile"] = map[string]any{"login": "ada.login"}
		}, "[]", "ada.login"},
		{"path through a non-object falls back to sub", "a.b", "profile.login.x", func(c map[string]any) {
			c["profile"] = map[string]any{"login": "ada.login"}
			c["a"] = "string"
		}, "[]", "00uada@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAuth(t, iss, clk, func(c *auth.Config) { c.GroupsClaim = tt.groups; c.UserIDClaim = tt.userID })
			c := iss.Claims(clk.Now(), "ada@example.com")
			delete(c, "groups")
			tt.mut(c)
			p, err := a.Authenticate(context.Background(), "Bearer "+iss.Token(t, c))
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(p.Groups) != tt.wantGroups || p.UserID != tt.wantUser {
				t.Fatalf("groups %v user %q, want %s %q", p.Groups, p.UserID, tt.wantGroups, tt.wantUser)
			}
		})
	}
}
