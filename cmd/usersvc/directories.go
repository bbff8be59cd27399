package main

import (
	"os"
	"strings"

	"github.com/usersvc/usersvc/oidcuser/entra"
	"github.com/usersvc/usersvc/oidcuser/google"
	"github.com/usersvc/usersvc/oidcuser/ldap"
)

// The directories beyond Okta and the file, each configured by its own
// variables (README, docs/directories.md). Each is chosen by DIRECTORY, or
// by default when it is the only directory configured; its defining
// variable set while another directory is chosen is a contradiction.
var directoryMarkers = []struct{ name, variable string }{
	{"entra", "ENTRA_TENANT_ID"},
	{"google", "GOOGLE_CREDENTIALS_FILE"},
	{"ldap", "LDAP_URL"},
}

// configuredDirectories lists the directories among directoryMarkers whose
// defining variable is set.
func configuredDirectories(r *envReader) []string {
	var out []string
	for _, m := range directoryMarkers {
		if r.str(m.variable, "") != "" {
			out = append(out, m.name)
		}
	}
	return out
}

// checkMarkers refuses a directory's settings while another one is chosen.
func checkMarkers(r *envReader, chosen string) {
	for _, m := range directoryMarkers {
		if m.name != chosen && r.str(m.variable, "") != "" {
			r.fail(m.variable, "is set, but DIRECTORY is %s: unset it or set DIRECTORY=%s", chosen, m.name)
		}
	}
}

// secretFile reads a secret from the file the variable names: surrounding
// white space (a trailing newline) is dropped. The secret never reaches a
// message.
func secretFile(r *envReader, name string, required bool) string {
	path := r.str(name, "")
	if path == "" {
		if required {
			r.fail(name, "must name the file holding the secret")
		}
		return ""
	}
	data, err := os.ReadFile(path)
	if err != nil {
		r.fail(name, "cannot be read: %v", err)
		return ""
	}
	s := strings.TrimSpace(string(data))
	if s == "" {
		r.fail(name, "is empty")
	}
	return s
}

func required(r *envReader, name, directory string) string {
	v := r.str(name, "")
	if v == "" {
		r.fail(name, "must be set when DIRECTORY=%s", directory)
	}
	return v
}

func loadEntra(r *envReader) entra.Config {
	return entra.Config{
		TenantID:     required(r, "ENTRA_TENANT_ID", "entra"),
		ClientID:     required(r, "ENTRA_CLIENT_ID", "entra"),
		ClientSecret: secretFile(r, "ENTRA_CLIENT_SECRET_FILE", true),
		GraphURL:     r.str("ENTRA_GRAPH_URL", "https://graph.microsoft.com"),
		LoginURL:     r.str("ENTRA_LOGIN_URL", "https://login.microsoftonline.com"),
	}
}

func loadGoogle(r *envReader) google.Config {
	c := google.Config{
		Subject:      required(r, "GOOGLE_ADMIN_SUBJECT", "google"),
		Customer:     r.str("GOOGLE_CUSTOMER", "my_customer"),
		DirectoryURL: r.str("GOOGLE_DIRECTORY_URL", "https://admin.googleapis.com/"),
	}
	if path := required(r, "GOOGLE_CREDENTIALS_FILE", "google"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			r.fail("GOOGLE_CREDENTIALS_FILE", "cannot be read: %v", err)
		}
		c.CredentialsJSON = data
	}
	return c
}

func loadLDAP(r *envReader) ldap.Config {
	return ldap.Config{
		URL:          required(r, "LDAP_URL", "ldap"),
		StartTLS:     r.boolean("LDAP_START_TLS", false),
		CAFile:       r.str("LDAP_CA_FILE", ""),
		BindDN:       r.str("LDAP_BIND_DN", ""),
		BindPassword: secretFile(r, "LDAP_BIND_PASSWORD_FILE", r.str("LDAP_BIND_DN", "") != ""),
		BaseDN:       required(r, "LDAP_BASE_DN", "ldap"),
		UserFilter:   r.str("LDAP_USER_FILTER", ""),
		Flavor:       r.oneOf("LDAP_FLAVOR", "openldap", "openldap", "ad"),
	}
}
