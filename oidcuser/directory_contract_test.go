package oidcuser_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/usersvc/usersvc/oidcuser/directorytest"
	"github.com/usersvc/usersvc/oidcuser/file"
	"github.com/usersvc/usersvc/oidcuser/okta"
	"github.com/usersvc/usersvc/testsupport/oktaapi"
)

// oktaPeople writes the contract's people as Okta users: status
// DEPROVISIONED for the inactive, title, department, and the manager's
// name and id in the profile's manager and managerId (Okta's base profile).
func oktaPeople(people []directorytest.Person) []oktaapi.User {
	byLogin := map[string]directorytest.Person{}
	for _, p := range people {
		byLogin[p.Login] = p
	}
	users := make([]oktaapi.User, len(people))
	for i, p := range people {
		status := "ACTIVE"
		if !p.Active {
			status = "DEPROVISIONED"
		}
		profile := map[string]any{"title": p.Title, "department": p.Department}
		if m, ok := byLogin[p.Manager]; ok {
			profile["manager"] = m.GivenName + " " + m.FamilyName
			profile["managerId"] = fmt.Sprintf("00u%d", indexOf(people, m.Login))
		}
		users[i] = oktaapi.NewUser(fmt.Sprintf("00u%d", i), p.Login, p.Email, p.GivenName, p.FamilyName, status).With(profile)
	}
	return users
}

func indexOf(people []directorytest.Person, login string) int {
	for i, p := range people {
		if p.Login == login {
			return i
		}
	}
	return -1
}

func TestDirectoryContract(t *testing.T) {
	t.Run("okta", func(t *testing.T) {
		directorytest.Run(t, func(t *testing.T, people []directorytest.Person) directorytest.Env {
			org := oktaapi.New(t, oktaapi.WithSSWSToken(ssws))
			org.AddUsers(oktaPeople(people)...)
			return directorytest.Env{
				Dir:            newDirectory(t, org, okta.Config{}),
				NoManagerEmail: true,
				Throttle: func(retryAfter time.Duration) func() {
					org.FailNext(1000, http.StatusTooManyRequests)
					return org.ClearFaults
				},
				Outage: func() func() {
					org.FailNext(1000, http.StatusServiceUnavailable)
					return org.ClearFaults
				},
				Calls: func() int { return org.Count(oktaapi.IsAPI) },
			}
		})
	})
	t.Run("file", func(t *testing.T) {
		directorytest.Run(t, func(t *testing.T, people []directorytest.Person) directorytest.Env {
			export, err := oktaapi.Export("https://example.okta.com", oktaPeople(people)...)
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
			return directorytest.Env{Dir: file, NoManagerEmail: true}
		})
	})
}
