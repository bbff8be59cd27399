package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEventHookConfig(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte("from-the-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := []string{"AUTH_DISABLED", "true", "DIRECTORY_FILE", "people.json"}
	ok := []struct {
		name        string
		env         []string
		secret, hdr string
	}{
		{"off by default", file, "", "Authorization"},
		{"secret", append([]string{"OKTA_EVENT_HOOK_SECRET", "s1"}, file...), "s1", "Authorization"},
		{"secret file, newline trimmed", append([]string{"OKTA_EVENT_HOOK_SECRET_FILE", secretFile, "OKTA_EVENT_HOOK_HEADER", "X-Hook-Key"}, file...), "from-the-file", "X-Hook-Key"},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadConfig(envMap(tt.env...))
			if err != nil || c.EventHook.Secret != tt.secret || c.EventHook.Header != tt.hdr {
				t.Fatalf("event hook = %+v, %v", c.EventHook, err)
			}
		})
	}
	// Every problem is reported, each naming its variable, at once.
	_, err := loadConfig(envMap("AUTH_DISABLED", "true", "OKTA_EVENT_HOOK_SECRET", "s", "OKTA_EVENT_HOOK_HEADER", "Bad Header:"))
	if !namesVar(err, "OKTA_EVENT_HOOK_SECRET") || !namesVar(err, "OKTA_EVENT_HOOK_HEADER") {
		t.Fatalf("no directory and a bad header: %v", err)
	}
	if !strings.Contains(err.Error(), "DIRECTORY=okta") {
		t.Fatalf("the error should say which directory is needed: %v", err)
	}
	if _, err := loadConfig(envMap(append([]string{"OKTA_EVENT_HOOK_SECRET", "s", "OKTA_EVENT_HOOK_SECRET_FILE", secretFile}, file...)...)); !namesVar(err, "OKTA_EVENT_HOOK_SECRET") {
		t.Fatalf("both set: %v", err)
	}
	if _, err := loadConfig(envMap(append([]string{"OKTA_EVENT_HOOK_SECRET_FILE", filepath.Join(dir, "missing")}, file...)...)); !namesVar(err, "OKTA_EVENT_HOOK_SECRET_FILE") {
		t.Fatalf("missing file: %v", err)
	} else if strings.Contains(err.Error(), "from-the-file") {
		t.Fatal("a secret reached an error message")
	}
}
