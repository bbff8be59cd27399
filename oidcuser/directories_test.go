package oidcuser_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/oktaapi"
)

// directoryKinds builds every Directory implementation over the same
// people: the Okta directory against the Okta test server, and the file
// directory reading that org's export.
func directoryKinds(t *testing.T, users []oktaapi.User) map[string]interface {
	oidcuser.Directory
	oidcuser.Lister
} {
	t.Helper()
	org := oktaapi.New(t, oktaapi.WithSSWSToken(ssws))
	org.AddUsers(users...)
	export, err := oktaapi.Export(org.URL(), users...)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "directory.json")
	if err := os.WriteFile(path, export, 0o600); err != nil {
		t.Fatal(err)
	}
	file, err := oidcuser.OpenFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]interface {
		oidcuser.Directory
		oidcuser.Lister
	}{
		"okta": newDirectory(t, org, oidcuser.OktaConfig{}),
		"file": file,
	}
}

// TestDirectoriesShareOneTable runs the lookup rules (login then email,
// ambiguity, statuses, case and Unicode) against both directories, and
// checks they map each person to the same user.
func TestDirectoriesShareOneTable(t *testing.T) {
	dirs := directoryKinds(t, people())
	tests := []struct {
		name       string
		id         string
		kind       schema.ErrorKind // 0 = found
		wantLogin  string
		wantActive bool
	}{
		{"by login with + and @", "ada.lovelace+data@example.com", 0, "ada.lovelace+data@example.com", true},
		{"by login, other case", "ADA.Lovelace+Data@Example.com", 0, "ada.lovelace+data@example.com", true},
		{"by email when the login differs", "grace.hopper@example.com", 0, "ghopper", true},
		{"login that is not an email", "ghopper", 0, "ghopper", true},
		{"deprovisioned is inactive", "gone@example.com", 0, "gone@example.com", false},
		{"suspended is inactive", "paused@example.com", 0, "paused@example.com", false},
		{"not found", "nobody@example.com", schema.KindNotFound, "", false},
		{"directory id is not a login", "00u1ada", schema.KindNotFound, "", false},
		{"two people share the email", "shared@example.com", schema.KindConflict, "", false},
		{"shared email in other case", "SHARED@example.COM", schema.KindConflict, "", false},
		{"login of one twin wins", "twin-b", 0, "twin-b", true},
		{"quote and backslash", `odd"quote\back@example.com`, 0, `odd"quote\back@example.com`, true},
		{"injection stays a value", `x" or status eq "ACTIVE`, schema.KindNotFound, "", false},
		{"unicode", "élodie@exemple.fr", 0, "élodie@exemple.fr", true},
		{"unicode, other case", "ÉLODIE@exemple.fr", 0, "élodie@exemple.fr", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mapped := map[string]string{}
			for kind, d := range dirs {
				u, err := lookup(t, d, tt.id)
				if tt.kind != 0 {
					if schema.KindOf(err) != tt.kind {
						t.Fatalf("%s: err = %v, want kind %v", kind, err, tt.kind)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: LookupUser: %v", kind, err)
				}
				if u.UserID != tt.wantLogin || u.IsActive != tt.wantActive {
					t.Fatalf("%s: user = %+v", kind, u)
				}
				body, _ := u.MarshalJSON()
				mapped[kind] = string(body)
			}
			if mapped["okta"] != mapped["file"] {
				t.Fatalf("directories map differently:\nokta %s\nfile %s", mapped["okta"], mapped["file"])
			}
		})
	}
}

// TestDirectoriesListAlike pages both directories the way a sync does.
func TestDirectoriesListAlike(t *testing.T) {
	users := make([]oktaapi.User, 450) // three pages of 200
	for i := range users {
		users[i] = person(i, "ACTIVE", "Data", syncEpoch.Add(time.Duration(len(users)-i)*time.Second))
	}
	users[7].Status = "DEPROVISIONED"
	dirs := directoryKinds(t, users)
	at := syncEpoch.Add(100 * time.Second)
	tests := []struct {
		name  string
		query oidcuser.ListQuery
		want  int
	}{
		{"everyone, every status", oidcuser.ListQuery{}, 450},
		{"changed after", oidcuser.ListQuery{UpdatedAfter: at}, 350},
		{"changed at or after", oidcuser.ListQuery{UpdatedAfter: at, Inclusive: true}, 351},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			order := map[string][]string{}
			for kind, d := range dirs {
				var last time.Time
				err := d.ListUsers(context.Background(), tt.query, func(page []oidcuser.OktaUser) error {
					if len(page) > 200 {
						t.Errorf("%s: page of %d", kind, len(page))
					}
					for _, u := range page {
						if u.LastUpdated.Before(last) {
							t.Errorf("%s: %s out of lastUpdated order", kind, u.ID)
						}
						last = u.LastUpdated
						order[kind] = append(order[kind], u.ID)
					}
					return nil
				})
				if err != nil {
					t.Fatalf("%s: %v", kind, err)
				}
				if len(order[kind]) != tt.want {
					t.Fatalf("%s: listed %d, want %d", kind, len(order[kind]), tt.want)
				}
			}
			for i := range order["okta"] {
				if order["okta"][i] != order["file"][i] {
					t.Fatalf("position %d: okta %s, file %s", i, order["okta"][i], order["file"][i])
				}
			}
		})
	}
}
