package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDirectoryChoiceAndSettings(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	secret := write("secret", "s3cret-value\n")
	key := write("key.json", `{"type":"service_account"}`)
	base := []string{"AUTH_DISABLED", "true"}
	entraEnv := []string{"ENTRA_TENANT_ID", "tenant", "ENTRA_CLIENT_ID", "client", "ENTRA_CLIENT_SECRET_FILE", secret}
	googleEnv := []string{"GOOGLE_CREDENTIALS_FILE", key, "GOOGLE_ADMIN_SUBJECT", "admin@example.com"}
	ldapEnv := []string{"LDAP_URL", "ldaps://ldap.example.com", "LDAP_BASE_DN", "dc=example,dc=com", "LDAP_BIND_DN", "cn=usersvc,dc=example,dc=com", "LDAP_BIND_PASSWORD_FILE", secret}
	with := func(sets ...[]string) func(string) string {
		var all []string
		for _, s := range sets {
			all = append(all, s...)
		}
		return envMap(append(all, base...)...)
	}
	for _, tt := range []struct {
		name, want string
		env        func(string) string
	}{
		{"entra alone is chosen", "entra", with(entraEnv)},
		{"google alone is chosen", "google", with(googleEnv)},
		{"ldap alone is chosen", "ldap", with(ldapEnv)},
		{"explicit", "ldap", with(ldapEnv, []string{"DIRECTORY", "ldap"})},
		{"off", "", with([]string{"DIRECTORY", "off"})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadConfig(tt.env)
			if err != nil || c.Directory != tt.want {
				t.Fatalf("directory %q, %v; want %q", c.Directory, err, tt.want)
			}
		})
	}
	c, err := loadConfig(with(entraEnv))
	if err != nil || c.Entra.ClientSecret != "s3cret-value" || c.Entra.GraphURL != "https://graph.microsoft.com" || c.Entra.LoginURL != "https://login.microsoftonline.com" {
		t.Fatalf("entra config %+v, %v", c.Entra, err)
	}
	c, err = loadConfig(with(googleEnv))
	if err != nil || string(c.Google.CredentialsJSON) != `{"type":"service_account"}` || c.Google.Customer != "my_customer" {
		t.Fatalf("google config %+v, %v", c.Google.Customer, err)
	}
	c, err = loadConfig(with(ldapEnv))
	if err != nil || c.LDAP.BindPassword != "s3cret-value" || c.LDAP.Flavor != "openldap" || c.LDAP.StartTLS {
		t.Fatalf("ldap config %v, %v", c.LDAP, err)
	}
	for _, tt := range []struct {
		name, variable string
		env            func(string) string
	}{
		{"two directories without DIRECTORY", "DIRECTORY", with(entraEnv, ldapEnv)},
		{"another directory's settings", "ENTRA_TENANT_ID", with(entraEnv, []string{"DIRECTORY", "file", "DIRECTORY_FILE", "people.json"})},
		{"entra without a secret", "ENTRA_CLIENT_SECRET_FILE", with([]string{"DIRECTORY", "entra", "ENTRA_TENANT_ID", "t", "ENTRA_CLIENT_ID", "c"})},
		{"entra without a client", "ENTRA_CLIENT_ID", with([]string{"ENTRA_TENANT_ID", "t", "ENTRA_CLIENT_SECRET_FILE", secret})},
		{"google without a subject", "GOOGLE_ADMIN_SUBJECT", with([]string{"GOOGLE_CREDENTIALS_FILE", key})},
		{"google key unreadable", "GOOGLE_CREDENTIALS_FILE", with([]string{"GOOGLE_CREDENTIALS_FILE", filepath.Join(dir, "missing"), "GOOGLE_ADMIN_SUBJECT", "a@example.com"})},
		{"ldap without a base", "LDAP_BASE_DN", with([]string{"LDAP_URL", "ldap://x"})},
		{"ldap bind DN without a password", "LDAP_BIND_PASSWORD_FILE", with([]string{"LDAP_URL", "ldap://x", "LDAP_BASE_DN", "dc=x", "LDAP_BIND_DN", "cn=u"})},
		{"ldap unknown flavor", "LDAP_FLAVOR", with(ldapEnv, []string{"LDAP_FLAVOR", "novell"})},
		{"DIRECTORY=ldap without LDAP_URL", "LDAP_URL", with([]string{"DIRECTORY", "ldap"})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(tt.env)
			if !namesVar(err, tt.variable) {
				t.Fatalf("want an error naming %s, got %v", tt.variable, err)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret-value") {
				t.Fatal("a secret reached the error")
			}
		})
	}
}
