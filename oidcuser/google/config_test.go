package google_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/usersvc/usersvc/oidcuser/google"
	"github.com/usersvc/usersvc/testsupport/googleapi"
)

// keyLines are the base64 lines of sa's private key as its JSON key holds
// it: none may ever show in an error or a log.
func keyLines(t *testing.T, sa *googleapi.ServiceAccount) []string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(sa.Key)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), "\n") {
		if len(l) > 16 && !strings.HasPrefix(l, "-----") {
			lines = append(lines, l)
		}
	}
	if len(lines) < 10 {
		t.Fatalf("only %d key lines", len(lines))
	}
	return lines
}

// assertNoKey fails when text holds any part of the key.
func assertNoKey(t *testing.T, what, text string, lines []string) {
	t.Helper()
	if strings.Contains(text, "PRIVATE KEY") {
		t.Fatalf("%s names the private key: %s", what, text)
	}
	for _, l := range lines {
		if strings.Contains(text, l) || strings.Contains(text, l[:16]) {
			t.Fatalf("%s holds part of the private key", what)
		}
	}
}

// editKey returns sa's JSON key with edit applied to its fields.
func editKey(t *testing.T, sa *googleapi.ServiceAccount, edit func(map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(sa.JSON(), &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConfigValidation: New refuses an unusable configuration with one line
// naming the variable at fault, and never quotes the key; it makes no call.
func TestConfigValidation(t *testing.T) {
	srv := googleapi.New(t)
	sa := serviceAccount(t, srv)
	lines := keyLines(t, sa)
	truncatedKey := string(sa.JSON()[:len(sa.JSON())/2])
	tests := []struct {
		name string
		edit func(*google.Config)
		want string
	}{
		{"no key", func(c *google.Config) { c.CredentialsJSON = nil }, "GOOGLE_CREDENTIALS_FILE"},
		{"blank key", func(c *google.Config) { c.CredentialsJSON = []byte(" \n") }, "GOOGLE_CREDENTIALS_FILE"},
		{"truncated JSON", func(c *google.Config) { c.CredentialsJSON = []byte(truncatedKey) }, "GOOGLE_CREDENTIALS_FILE"},
		{"not a service account key", func(c *google.Config) {
			c.CredentialsJSON = editKey(t, sa, func(m map[string]any) { m["type"] = "authorized_user" })
		}, "service_account"},
		{"no private key", func(c *google.Config) {
			c.CredentialsJSON = editKey(t, sa, func(m map[string]any) { delete(m, "private_key") })
		}, "GOOGLE_CREDENTIALS_FILE"},
		{"a private key that is not PEM RSA", func(c *google.Config) {
			c.CredentialsJSON = editKey(t, sa, func(m map[string]any) {
				m["private_key"] = strings.Replace(m["private_key"].(string), "M", "!", 3)
			})
		}, "GOOGLE_CREDENTIALS_FILE"},
		{"no client email", func(c *google.Config) {
			c.CredentialsJSON = editKey(t, sa, func(m map[string]any) { m["client_email"] = "" })
		}, "GOOGLE_CREDENTIALS_FILE"},
		{"a plain-http token_uri off loopback", func(c *google.Config) {
			c.CredentialsJSON = editKey(t, sa, func(m map[string]any) { m["token_uri"] = "http://oauth2.example.com/token" })
		}, "GOOGLE_CREDENTIALS_FILE: token_uri"},
		{"no subject", func(c *google.Config) { c.Subject = "" }, "GOOGLE_ADMIN_SUBJECT"},
		{"a subject that is not an email", func(c *google.Config) { c.Subject = "admin" }, "GOOGLE_ADMIN_SUBJECT"},
		{"a plain-http directory off loopback", func(c *google.Config) { c.DirectoryURL = "http://admin.example.com/" }, "GOOGLE_DIRECTORY_URL"},
		{"a directory URL that is not one", func(c *google.Config) { c.DirectoryURL = "admin.googleapis.com" }, "GOOGLE_DIRECTORY_URL"},
		{"a directory URL with a query", func(c *google.Config) { c.DirectoryURL = "https://admin.googleapis.com/?x=1" }, "GOOGLE_DIRECTORY_URL"},
		{"a directory URL with credentials", func(c *google.Config) { c.DirectoryURL = "https://u:p@admin.googleapis.com/" }, "GOOGLE_DIRECTORY_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(srv, sa, nil)
			tt.edit(&cfg)
			d, err := google.New(context.Background(), cfg)
			if err == nil {
				_ = d.Close()
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") {
				t.Fatalf("error %q: want one line naming %s", msg, tt.want)
			}
			assertNoKey(t, "the error", msg, lines)
		})
	}
	if n := len(srv.Requests()); n != 0 {
		t.Fatalf("New made %d calls", n)
	}

	t.Run("defaults", func(t *testing.T) {
		cfg := google.Config{CredentialsJSON: sa.JSON(), Subject: adminEmail}
		d, err := google.New(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		_ = d.Close()
		// A key without token_uri gets Google's.
		cfg.CredentialsJSON = editKey(t, sa, func(m map[string]any) { delete(m, "token_uri") })
		if d, err = google.New(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		_ = d.Close()
	})
}
