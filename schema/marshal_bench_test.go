package schema

import (
	"encoding/json"
	"testing"
)

var benchUser = User{UserID: "ada@example.com", Email: "ada@example.com", FirstName: "Ada", LastName: "Lovelace",
	FullName: "Ada Lovelace", DisplayName: "Ada Lovelace", TeamName: "Data", RoleName: "Analyst", IsActive: true,
	OtherKeyValues: map[string]string{"okta_id": "00u1abcd"}}

// stdUser is the same shape for encoding/json: nil pointers are the nulls.
type stdUser struct {
	UserID          *string           `json:"user_id"`
	Email           *string           `json:"email"`
	FirstName       *string           `json:"first_name"`
	LastName        *string           `json:"last_name"`
	FullName        *string           `json:"full_name"`
	DisplayName     *string           `json:"display_name"`
	GithubUsername  *string           `json:"github_username"`
	TeamName        *string           `json:"team_name"`
	SlackID         *string           `json:"slack_id"`
	EmployeeType    *string           `json:"employee_type"`
	ManagerFullname *string           `json:"manager_fullname"`
	ManagerEmail    *string           `json:"manager_email"`
	ManagerID       *string           `json:"manager_id"`
	RoleName        *string           `json:"role_name"`
	ProfileURL      *string           `json:"profile_url"`
	IsActive        bool              `json:"is_active"`
	OtherKeyValues  map[string]string `json:"other_key_values"`
}

func marshalStd(u User) ([]byte, error) {
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	kv := u.OtherKeyValues
	if kv == nil {
		kv = map[string]string{}
	}
	return json.Marshal(stdUser{opt(u.UserID), opt(u.Email), opt(u.FirstName), opt(u.LastName), opt(u.FullName), opt(u.DisplayName),
		opt(u.GithubUsername), opt(u.TeamName), opt(u.SlackID), opt(u.EmployeeType), opt(u.ManagerFullname), opt(u.ManagerEmail),
		opt(u.ManagerID), opt(u.RoleName), opt(u.ProfileURL), u.IsActive, kv})
}

// TestStdMarshalMatches keeps the comparison honest: both encoders produce
// the same bytes for the benchmark's user.
func TestStdMarshalMatches(t *testing.T) {
	a, _ := benchUser.MarshalJSON()
	b, err := marshalStd(benchUser)
	if err != nil || string(a) != string(b) {
		t.Fatalf("hand-written:\n%s\nencoding/json:\n%s", a, b)
	}
}

func TestStringValuesFollowTheTable(t *testing.T) {
	var u User
	for _, f := range userStringFields {
		*f.ptr(&u) = f.name + "-value"
	}
	vals := u.stringValues()
	for i, f := range userStringFields {
		if vals[i] != f.name+"-value" {
			t.Fatalf("stringValues()[%d] = %q, want the %s field", i, vals[i], f.name)
		}
	}
}

// BenchmarkUserMarshal compares User.MarshalJSON with encoding/json on the
// same shape (issue 22: keep the hand-written encoder only if it pays).
func BenchmarkUserMarshal(b *testing.B) {
	b.Run("hand-written", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = benchUser.MarshalJSON()
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = marshalStd(benchUser)
		}
	})
}
