package okta

import (
	"encoding/json"
	"github.com/usersvc/usersvc/oidcuser"
	"testing"

	"github.com/usersvc/usersvc/schema"
)

func oktaUser(t *testing.T, js string) User {
	t.Helper()
	var u User
	if err := json.Unmarshal([]byte(js), &u); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestToUser(t *testing.T) {
	tests := []struct {
		name string
		js   string
		want schema.User
	}{
		{"full profile", `{"id":"00u1","status":"ACTIVE","profile":{"login":"ada@example.com","email":"Ada@Example.com","firstName":"Ada","lastName":"Lovelace","displayName":"Countess","title":"Analyst","department":"Data","userType":"Employee","manager":"Charles Babbage","managerId":"00u0","profileUrl":"https://people.example.com/ada"},"_links":{"self":{"href":"https://org/api/v1/users/00u1"}}}`,
			schema.User{UserID: "ada@example.com", Email: "Ada@Example.com", FirstName: "Ada", LastName: "Lovelace", FullName: "Ada Lovelace", DisplayName: "Countess",
				RoleName: "Analyst", TeamName: "Data", EmployeeType: "Employee", ManagerFullname: "Charles Babbage", ManagerID: "00u0",
				ProfileURL: "https://people.example.com/ada", IsActive: true, OtherKeyValues: map[string]string{"okta_id": "00u1"}}},
		{"display name and profile url fall back", `{"id":"00u2","status":"PROVISIONED","profile":{"login":"bob","email":"bob@example.com","firstName":"Bob","lastName":"Builder"},"_links":{"self":{"href":"https://org/api/v1/users/00u2"}}}`,
			schema.User{UserID: "bob", Email: "bob@example.com", FirstName: "Bob", LastName: "Builder", FullName: "Bob Builder", DisplayName: "Bob Builder",
				ProfileURL: "https://org/api/v1/users/00u2", IsActive: true, OtherKeyValues: map[string]string{"okta_id": "00u2"}}},
		{"suspended is inactive", `{"id":"00u3","status":"SUSPENDED","profile":{"login":"c@x.com","email":"c@x.com"}}`,
			schema.User{UserID: "c@x.com", Email: "c@x.com", DisplayName: "c@x.com", IsActive: false, OtherKeyValues: map[string]string{"okta_id": "00u3"}}},
		{"deprovisioned is inactive", `{"id":"00u4","status":"DEPROVISIONED","profile":{"login":"d@x.com","email":"d@x.com","firstName":"D"}}`,
			schema.User{UserID: "d@x.com", Email: "d@x.com", FirstName: "D", DisplayName: "d@x.com", IsActive: false, OtherKeyValues: map[string]string{"okta_id": "00u4"}}},
		{"locked out stays active", `{"id":"00u5","status":"LOCKED_OUT","profile":{"login":"e@x.com","email":"e@x.com"}}`,
			schema.User{UserID: "e@x.com", Email: "e@x.com", DisplayName: "e@x.com", IsActive: true, OtherKeyValues: map[string]string{"okta_id": "00u5"}}},
		{"non-string profile values ignored", `{"id":"00u6","status":"ACTIVE","profile":{"login":"f@x.com","email":"f@x.com","title":42,"department":null}}`,
			schema.User{UserID: "f@x.com", Email: "f@x.com", DisplayName: "f@x.com", IsActive: true, OtherKeyValues: map[string]string{"okta_id": "00u6"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := json.Marshal(oktaUser(t, tt.js).ToUser())
			want, _ := json.Marshal(tt.want)
			if string(got) != string(want) {
				t.Fatalf("\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestPickMatch(t *testing.T) {
	login := oktaUser(t, `{"id":"1","profile":{"login":"shared@x.com","email":"shared@x.com"}}`)
	other := oktaUser(t, `{"id":"2","profile":{"login":"alias","email":"Shared@X.com"}}`)
	third := oktaUser(t, `{"id":"3","profile":{"login":"alias2","email":"shared@x.com"}}`)
	tests := []struct {
		name   string
		id     string
		cands  []User
		wantID string
		kind   schema.ErrorKind
	}{
		{"login match wins over email matches", "SHARED@x.com", []User{other, login, third}, "1", 0},
		{"one email match", "shared@x.com", []User{other}, "2", 0},
		{"several email matches, no login", "shared@x.com", []User{other, third}, "", schema.KindConflict},
		{"nothing matches", "nobody@x.com", []User{other}, "", schema.KindNotFound},
		{"no candidates", "nobody@x.com", nil, "", schema.KindNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := oidcuser.PickMatch(tt.id, persons(tt.cands))
			if tt.kind != 0 {
				if schema.KindOf(err) != tt.kind {
					t.Fatalf("err = %v, want kind %v", err, tt.kind)
				}
				return
			}
			if err != nil || got.ID != tt.wantID {
				t.Fatalf("got %q, %v; want %q", got.ID, err, tt.wantID)
			}
		})
	}
}

func TestSearchEqual(t *testing.T) {
	tests := []struct{ in, want string }{
		{"ada@example.com", `profile.email eq "ada@example.com"`},
		{`a"b@x.com`, `profile.email eq "a\"b@x.com"`},
		{`a\b@x.com`, `profile.email eq "a\\b@x.com"`},
		{`x" or status eq "ACTIVE`, `profile.email eq "x\" or status eq \"ACTIVE"`},
		{`\"`, `profile.email eq "\\\""`},
		{"élodie@exemple.fr", `profile.email eq "élodie@exemple.fr"`},
	}
	for _, tt := range tests {
		got, err := SearchEqual("profile.email", tt.in)
		if err != nil || got != tt.want {
			t.Errorf("SearchEqual(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := SearchEqual("profile.email", "a\nb"); schema.KindOf(err) != schema.KindInvalid {
		t.Fatalf("control character accepted: %v", err)
	}
}
