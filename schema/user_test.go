package schema_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/usersvc/usersvc/schema"
)

func decode(t *testing.T, body string) (schema.User, error) {
	t.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &fields); err != nil {
		t.Fatalf("test body %s is not an object: %v", body, err)
	}
	return schema.NewUserDecoder().DecodeUser(fields)
}

func TestDecodeUserDerivation(t *testing.T) {
	tests := []struct {
		name string
		body string
		want map[string]any // JSON keys to check in the marshalled user
	}{
		{"user_id from email", `{"email":"a@x.com","display_name":"A"}`,
			map[string]any{"user_id": "a@x.com", "email": "a@x.com", "display_name": "A"}},
		{"full_name from first and last", `{"email":"a@x.com","first_name":"Ada","last_name":"Lovelace"}`,
			map[string]any{"full_name": "Ada Lovelace", "display_name": "Ada Lovelace"}},
		{"no full_name from first alone", `{"email":"a@x.com","first_name":"Ada"}`,
			map[string]any{"full_name": nil, "display_name": "a@x.com"}},
		{"display_name from email when no names", `{"user_id":"u1","email":"a@x.com"}`,
			map[string]any{"user_id": "u1", "display_name": "a@x.com"}},
		{"explicit values win", `{"user_id":"u1","email":"a@x.com","full_name":"F","display_name":"D","first_name":"x","last_name":"y"}`,
			map[string]any{"user_id": "u1", "full_name": "F", "display_name": "D"}},
		{"blank counts as missing", `{"user_id":"  ","email":"a@x.com","display_name":" \t"}`,
			map[string]any{"user_id": "a@x.com", "display_name": "a@x.com"}},
		{"is_active defaults to true", `{"email":"a@x.com"}`, map[string]any{"is_active": true}},
		{"is_active false kept", `{"email":"a@x.com","is_active":false}`, map[string]any{"is_active": false}},
		{"nulls are empty", `{"email":"a@x.com","team_name":null,"other_key_values":null}`,
			map[string]any{"team_name": nil, "other_key_values": map[string]any{}}},
		{"unknown keys ignored", `{"email":"a@x.com","shoe_size":44}`, map[string]any{"email": "a@x.com"}},
		{"digit-only id stays a string", `{"user_id":"007","display_name":"Bond"}`, map[string]any{"user_id": "007"}},
		{"other_key_values kept", `{"email":"a@x.com","other_key_values":{"k":"v"}}`,
			map[string]any{"other_key_values": map[string]any{"k": "v"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := decode(t, tt.body)
			if err != nil {
				t.Fatalf("DecodeUser: %v", err)
			}
			out := marshalMap(t, u)
			for k, want := range tt.want {
				got := out[k]
				gj, _ := json.Marshal(got)
				wj, _ := json.Marshal(want)
				if string(gj) != string(wj) {
					t.Errorf("%s = %s, want %s", k, gj, wj)
				}
			}
		})
	}
}

func TestDecodeUserErrors(t *testing.T) {
	long := strings.Repeat("a", schema.MaxIDBytes+1)
	tests := []struct {
		name string
		body string
		want string // exact message
	}{
		{"no names at all", `{"user_id":"u1"}`, schema.MsgNoDisplayName},
		{"no user id or email", `{"display_name":"D"}`, schema.MsgNoUserID},
		{"empty object", `{}`, schema.MsgNoDisplayName + "; " + schema.MsgNoUserID},
		{"is_active null", `{"email":"a@x.com","is_active":null}`, "is_active: must be a boolean, not null"},
		{"is_active outside marshmallow's sets", `{"email":"a@x.com","is_active":"maybe"}`, "is_active: must be a boolean"},
		{"number for string", `{"email":"a@x.com","first_name":12}`, "first_name: must be a string or null"},
		{"two wrong types", `{"email":["a"],"team_name":{}}`, "email: must be a string or null; team_name: must be a string or null"},
		{"other_key_values wrong", `{"email":"a@x.com","other_key_values":{"k":1}}`, "other_key_values: must be an object of string values"},
		{"other key not an identifier", `{"email":"a@x.com","other_key_values":{"9lives":"x"}}`,
			`other_key_values: key "9lives" is not a valid property name (letters, digits and _, not starting with a digit, at most 64)`},
		{"other key is the node key", `{"email":"a@x.com","other_key_values":{"key":"x"}}`, `other_key_values: key "key" is a property of the user node itself`},
		{"every problem listed", `{"user_id":"u","other_key_values":{"a b":"x","email":"y"}}`, schema.MsgNoDisplayName +
			`; other_key_values: key "a b" is not a valid property name (letters, digits and _, not starting with a digit, at most 64)` +
			`; other_key_values: key "email" is a property of the user node itself`},
		{"user_id too long", `{"user_id":"` + long + `","display_name":"D"}`, "user_id: must be at most 4096 bytes"},
		{"email control char", `{"email":"a\u0007@x.com"}`, "user_id: must not contain control characters; email: must not contain control characters"},
		{"user_id C1 control char", `{"user_id":"a\u0085b","display_name":"D"}`, "user_id: must not contain control characters"},
		{"long display name", `{"email":"a@x.com","display_name":"` + strings.Repeat("é", 4097) + `"}`, "display_name: must be at most 4096 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decode(t, tt.body)
			if schema.KindOf(err) != schema.KindInvalid {
				t.Fatalf("error = %v, want KindInvalid", err)
			}
			var e *schema.Error
			_ = errorsAs(err, &e)
			if e.Message != tt.want {
				t.Fatalf("message = %q\nwant      %q", e.Message, tt.want)
			}
		})
	}
}

// TestIsActiveAcceptsMarshmallowBooleans: Amundsen's UserSchema loads
// is_active with marshmallow's fields.Boolean. Its default sets, from
// marshmallow src/marshmallow/fields.py class Boolean (truthy and falsy,
// lines 1135-1174 at 341b927): "t" "T" "true" "True" "TRUE" "on" "On" "ON"
// "y" "Y" "yes" "Yes" "YES" "1" 1, and "f" "F" "false" "False" "FALSE" "off"
// "Off" "OFF" "n" "N" "no" "No" "NO" "0" 0. _deserialize tests membership
// with Python's ==, so JSON true/1.0 match 1 and false/0.0 match 0;
// everything else raises "Not a valid boolean.", and null is refused
// because the field is not Optional (amundsen_common models/user.py:
// is_active: bool = True).
func TestIsActiveAcceptsMarshmallowBooleans(t *testing.T) {
	truthy := []string{`"t"`, `"T"`, `"true"`, `"True"`, `"TRUE"`, `"on"`, `"On"`, `"ON"`, `"y"`, `"Y"`,
		`"yes"`, `"Yes"`, `"YES"`, `"1"`, `1`, `true`, `1.0`, `1e0`}
	falsy := []string{`"f"`, `"F"`, `"false"`, `"False"`, `"FALSE"`, `"off"`, `"Off"`, `"OFF"`, `"n"`, `"N"`,
		`"no"`, `"No"`, `"NO"`, `"0"`, `0`, `false`, `0.0`, `-0`}
	rejected := []string{`null`, `""`, `" true"`, `"true "`, `"tRUE"`, `"yES"`, `"oN"`, `"2"`, `2`, `-1`, `0.5`,
		`"1.0"`, `"0.0"`, `"enabled"`, `[]`, `[true]`, `{}`}
	for want, inputs := range map[bool][]string{true: truthy, false: falsy} {
		for _, in := range inputs {
			body := `{"email":"a@x.com","is_active":` + in + `}`
			u, err := decode(t, body)
			if err != nil {
				t.Errorf("is_active %s: %v, want %v", in, err, want)
				continue
			}
			if u.IsActive != want {
				t.Errorf("is_active %s = %v, want %v", in, u.IsActive, want)
			}
		}
	}
	for _, in := range rejected {
		_, err := decode(t, `{"email":"a@x.com","is_active":`+in+`}`)
		if schema.KindOf(err) != schema.KindInvalid {
			t.Errorf("is_active %s accepted (err %v), want 400", in, err)
		}
	}
}

func TestMarshalUserHasAll17Keys(t *testing.T) {
	out := marshalMap(t, schema.User{UserID: "u", IsActive: true})
	want := []string{"user_id", "email", "first_name", "last_name", "full_name", "display_name",
		"github_username", "team_name", "slack_id", "employee_type", "manager_fullname",
		"manager_email", "manager_id", "role_name", "profile_url", "is_active", "other_key_values"}
	if len(out) != len(want) {
		t.Fatalf("got %d keys, want %d: %v", len(out), len(want), out)
	}
	for _, k := range want {
		if _, ok := out[k]; !ok {
			t.Errorf("missing key %s", k)
		}
	}
	if out["email"] != nil || out["user_id"] != "u" {
		t.Fatalf("email = %v (want null), user_id = %v", out["email"], out["user_id"])
	}
}

func TestMarshalUnmarshalRoundTrip(t *testing.T) {
	in := schema.User{UserID: "Ünï <code>", Email: "e@x", FullName: "F \"q\"", IsActive: false, OtherKeyValues: map[string]string{"a": "b"}}
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out schema.User
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	again, _ := json.Marshal(out)
	if string(again) != string(data) {
		t.Fatalf("round trip changed the user:\n%s\n%s", data, again)
	}
}

func TestMergeNonEmpty(t *testing.T) {
	stored := schema.User{UserID: "u", Email: "e", TeamName: "Data", SlackID: "U1", IsActive: true,
		OtherKeyValues: map[string]string{"a": "1", "b": "2"}}
	incoming := schema.User{UserID: "u", TeamName: "Platform", IsActive: false,
		OtherKeyValues: map[string]string{"b": "3", "c": ""}}
	got := schema.MergeNonEmpty(stored, incoming)
	if got.Email != "e" || got.SlackID != "U1" || got.TeamName != "Platform" || got.IsActive {
		t.Fatalf("merged = %+v", got)
	}
	if got.OtherKeyValues["a"] != "1" || got.OtherKeyValues["b"] != "3" || len(got.OtherKeyValues) != 2 {
		t.Fatalf("merged other_key_values = %v", got.OtherKeyValues)
	}
	if stored.OtherKeyValues["b"] != "2" {
		t.Fatal("MergeNonEmpty mutated the stored map")
	}
}

func marshalMap(t *testing.T, u schema.User) map[string]any {
	t.Helper()
	data, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMarshalMatchesEncodingJSON: the hand-written encoder escapes exactly as
// encoding/json does, for hostile strings too.
func TestMarshalMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{
		"plain", `quote " and \ backslash`, "<script>&amp;</script>", "line\nbreak\ttab\rret",
		"\x00\x01\x1f\x7f", "é ü 日本 🙂", "\u2028\u2029", "bad \xff\xfe utf8", "\xe2\x82", "ok\u00a0nbsp",
	} {
		u := schema.User{UserID: s, OtherKeyValues: map[string]string{s: s, "b": "2", "a": "1"}}
		got, err := json.Marshal(u)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(s)
		okv, _ := json.Marshal(u.OtherKeyValues)
		if !strings.HasPrefix(string(got), `{"user_id":`+string(want)+",") || !strings.HasSuffix(string(got), `"other_key_values":`+string(okv)+"}") {
			t.Errorf("%q encodes as %s", s, got)
		}
		var back schema.User
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("%q: output is not valid JSON: %v", s, err)
		}
	}
}
