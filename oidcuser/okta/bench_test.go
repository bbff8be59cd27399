package okta

import (
	"encoding/json"
	"testing"
)

func BenchmarkProfileMapping(b *testing.B) {
	var u User
	_ = json.Unmarshal([]byte(`{"id":"00u1","status":"ACTIVE","profile":{"login":"ada@example.com","email":"ada@example.com","firstName":"Ada","lastName":"Lovelace","title":"Analyst","department":"Data","userType":"Employee","manager":"Charles Babbage","managerId":"00u0"},"_links":{"self":{"href":"https://org/api/v1/users/00u1"}}}`), &u)
	b.ReportAllocs()
	for b.Loop() {
		_ = u.ToUser()
	}
}
