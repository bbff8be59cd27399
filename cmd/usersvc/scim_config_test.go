package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSCIMConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	two := write("two", "current-token-0123456789\n\n  next-token-0123456789  \n")
	three := write("three", "a-token-0123456789ab\nb-token-0123456789ab\nc-token-0123456789ab\n")
	empty := write("empty", "\n \n")
	base := []string{"AUTH_DISABLED", "true"}
	for _, tt := range []struct {
		name string
		env  []string
		want []string
	}{
		{"off by default", nil, nil},
		{"one token", []string{"SCIM_TOKEN", "current-token-0123456789"}, []string{"current-token-0123456789"}},
		{"two tokens, rotation", []string{"SCIM_TOKEN", "current-token-0123456789, next-token-0123456789"}, []string{"current-token-0123456789", "next-token-0123456789"}},
		{"file, one per line", []string{"SCIM_TOKEN_FILE", two}, []string{"current-token-0123456789", "next-token-0123456789"}},
		{"base64 with padding", []string{"SCIM_TOKEN", "q83vEjRWeJq83vEjRWeJ+/=="}, []string{"q83vEjRWeJq83vEjRWeJ+/=="}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadConfig(envMap(append(tt.env, base...)...))
			if err != nil || !slices.Equal(c.SCIMTokens, tt.want) {
				t.Fatalf("tokens = %q, %v", c.SCIMTokens, err)
			}
		})
	}
	for _, tt := range []struct {
		name, variable string
		env            []string
	}{
		{"both set", "SCIM_TOKEN", []string{"SCIM_TOKEN", "current-token-0123456789", "SCIM_TOKEN_FILE", two}},
		{"three tokens", "SCIM_TOKEN_FILE", []string{"SCIM_TOKEN_FILE", three}},
		{"three in the variable", "SCIM_TOKEN", []string{"SCIM_TOKEN", "a-token-0123456789ab,b-token-0123456789ab,c-token-0123456789ab"}},
		{"empty file", "SCIM_TOKEN_FILE", []string{"SCIM_TOKEN_FILE", empty}},
		{"missing file", "SCIM_TOKEN_FILE", []string{"SCIM_TOKEN_FILE", filepath.Join(dir, "missing")}},
		{"too short", "SCIM_TOKEN", []string{"SCIM_TOKEN", "short-token"}},
		{"not a bearer token", "SCIM_TOKEN", []string{"SCIM_TOKEN", "has spaces in it 0123456789"}},
		{"empty second", "SCIM_TOKEN", []string{"SCIM_TOKEN", "current-token-0123456789,"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(envMap(append(tt.env, base...)...))
			if !namesVar(err, tt.variable) {
				t.Fatalf("want an error naming %s, got %v", tt.variable, err)
			}
			for _, secret := range []string{"current-token", "a-token", "short-token", "has spaces"} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("a token reached the error message: %v", err)
				}
			}
		})
	}
}
