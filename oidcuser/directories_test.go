package oidcuser_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/oidcuser/file"
	"github.com/usersvc/usersvc/oidcuser/okta"
	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/oktaapi"
)

// directoryKinds builds every Directory implementation over the same
// people: the Okta directory against the Okta test server, and the file
// directory reading that org's export.
func directoryKinds(t *testing.T, users []oktaapi.User) (*oktaapi.Server, map[string]interface {
	oidcuser.Directory
	oidcuser.Lister
}) {
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
	file, err := file.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return org, map[string]interface {
		oidcuser.Directory
		oidcuser.Lister
	}{
		"okta": newDirectory(t, org, okta.Config{}),
		"file": file,
	}
}

// TestDirectoriesShareOneTable runs the lookup rules (login then email,
// ambiguity, statuses, case and Unicode) against both directories, checks
// they map each person to the same user, and checks the exact calls the Okta
// directory made.
func TestDirectoriesShareOneTable(t *testing.T) {
	org, dirs := directoryKinds(t, people())
	// A person found by login is keyed by PersonKey, so the Okta directory
	// then searches their email to learn whether it is shared (DESIGN §3).
	// Ids without "@" are never searched: profile.email is always an
	// address, so a random id costs one call.
	tests := []struct {
		name       string
		id         string
		kind       schema.ErrorKind // 0 = found
		wantLogin  string
		wantKey    string
		wantActive bool
		wantSearch string // the exact search Okta must have received; "" = none
	}{
		{"by login with + and @", "ada.lovelace+data@example.com", 0, "ada.lovelace+data@example.com", "ada.lovelace+data@example.com", true, `profile.email eq "ada.lovelace+data@example.com"`},
		{"by login, other case", "ADA.Lovelace+Data@Example.com", 0, "ada.lovelace+data@example.com", "ada.lovelace+data@example.com", true, `profile.email eq "ada.lovelace+data@example.com"`},
		{"by email when the login differs", "grace.hopper@example.com", 0, "ghopper", "grace.hopper@example.com", true, `profile.email eq "grace.hopper@example.com"`},
		{"login that is not an email", "ghopper", 0, "ghopper", "grace.hopper@example.com", true, `profile.email eq "grace.hopper@example.com"`},
		{"deprovisioned is inactive", "gone@example.com", 0, "gone@example.com", "gone@example.com", false, `profile.email eq "gone@example.com"`},
		{"suspended is inactive", "paused@example.com", 0, "paused@example.com", "paused@example.com", false, `profile.email eq "paused@example.com"`},
		{"not found", "nobody@example.com", schema.KindNotFound, "", "", false, `profile.email eq "nobody@example.com"`},
		{"directory id is not a login", "00u1ada", schema.KindNotFound, "", "", false, ""},
		{"two people share the email", "shared@example.com", schema.KindConflict, "", "", false, `profile.email eq "shared@example.com"`},
		{"shared email in other case", "SHARED@example.COM", schema.KindConflict, "", "", false, `profile.email eq "SHARED@example.COM"`},
		{"login of one twin wins, keyed by login", "twin-b", 0, "twin-b", "twin-b", true, `profile.email eq "Shared@Example.com"`},
		{"quote and backslash escaped", `odd"quote\back@example.com`, 0, `odd"quote\back@example.com`, `odd"quote\back@example.com`, true, `profile.email eq "odd\"quote\\back@example.com"`},
		{"injection stays a value", `x" or status eq "ACTIVE@x`, schema.KindNotFound, "", "", false, `profile.email eq "x\" or status eq \"ACTIVE@x"`},
		{"unicode", "élodie@exemple.fr", 0, "élodie@exemple.fr", "élodie@exemple.fr", true, `profile.email eq "élodie@exemple.fr"`},
		{"unicode login in other case", "ÉLODIE@exemple.fr", 0, "élodie@exemple.fr", "élodie@exemple.fr", true, `profile.email eq "élodie@exemple.fr"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			org.Reset()
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
				if u.UserID != tt.wantLogin || u.Key() != tt.wantKey || u.IsActive != tt.wantActive {
					t.Fatalf("%s: user = %+v", kind, u)
				}
				body, _ := u.MarshalJSON()
				mapped[kind] = string(body)
			}
			if mapped["okta"] != mapped["file"] {
				t.Fatalf("directories map differently:\nokta %s\nfile %s", mapped["okta"], mapped["file"])
			}
			checkOktaCalls(t, org.Requests(), tt.id, tt.wantSearch)
		})
	}
}

// checkOktaCalls: a lookup makes one GET by login and at most one email
// search (for an email-shaped id the two run side by side, in no fixed
// order), always with the configured credentials. Okta compares search
// string values case-insensitively (DESIGN §5), so the search is matched so.
func checkOktaCalls(t *testing.T, reqs []oktaapi.Request, id, wantSearch string) {
	t.Helper()
	var gets, searches []string
	for _, r := range reqs {
		if r.Search != "" {
			searches = append(searches, strings.ToLower(r.Search))
		} else {
			gets = append(gets, r.Path)
		}
		if r.Authorization != "SSWS "+ssws {
			t.Fatalf("Authorization = %q", r.Authorization)
		}
	}
	if want := "/api/v1/users/" + url.PathEscape(id); len(gets) != 1 || gets[0] != want {
		t.Fatalf("GETs = %q, want exactly GET %s", gets, want)
	}
	wantSearch = strings.ToLower(wantSearch)
	if wantSearch == "" && len(searches) > 0 {
		t.Fatalf("unexpected search %q", searches)
	}
	if wantSearch != "" && (len(searches) != 1 || searches[0] != wantSearch) {
		t.Fatalf("searches = %q, want [%s]", searches, wantSearch)
	}
}

// TestDirectoriesListAlike pages both directories the way a sync does.
func TestDirectoriesListAlike(t *testing.T) {
	users := make([]oktaapi.User, 450) // three pages of 200
	for i := range users {
		users[i] = person(i, "ACTIVE", "Data", syncEpoch.Add(time.Duration(len(users)-i)*time.Second))
	}
	users[7].Status = "DEPROVISIONED"
	_, dirs := directoryKinds(t, users)
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
				err := d.ListUsers(context.Background(), tt.query, func(page []oidcuser.Person) error {
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
