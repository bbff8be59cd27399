package schema_test

import (
	"encoding/json"
	"testing"

	"github.com/usersvc/usersvc/schema"
)

// FuzzDecodeUser: any JSON object decodes to a valid user or a KindInvalid
// error, never a panic; a valid user has a usable key and encodes to the
// 17-key shape.
func FuzzDecodeUser(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"email":"a@x.com"}`, `{"user_id":"u","display_name":"D"}`, `{"is_active":null}`,
		`{"email":"a@x.com","other_key_values":{"k":"v"}}`, `{"email":["x"]}`, `{"first_name":1.5e400}`,
		`{"email":"a\u0000b"}`, `{"user_id":"  ","email":" A@X.COM "}`,
	} {
		f.Add([]byte(s))
	}
	d := schema.NewUserDecoder()
	f.Fuzz(func(t *testing.T, body []byte) {
		var fields map[string]json.RawMessage
		if json.Unmarshal(body, &fields) != nil || fields == nil {
			return
		}
		u, err := d.DecodeUser(fields)
		if err != nil {
			if schema.KindOf(err) != schema.KindInvalid {
				t.Fatalf("error of kind %v: %v", schema.KindOf(err), err)
			}
			return
		}
		if schema.CheckID("key", u.Key()) != nil || schema.IsBlank(u.DisplayName) {
			t.Fatalf("accepted user with key %q display %q", u.Key(), u.DisplayName)
		}
		out, err := json.Marshal(u)
		if err != nil {
			t.Fatal(err)
		}
		var back map[string]any
		if err := json.Unmarshal(out, &back); err != nil || len(back) != 17 {
			t.Fatalf("encoded user %s: %v", out, err)
		}
	})
}

// FuzzUserKey: normalisation is idempotent and CheckID never panics.
func FuzzUserKey(f *testing.F) {
	for _, s := range []string{"Ada@Example.com", " x ", "İstanbul", "ß", "\u212a", "a\x00b", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		k := schema.UserKey(id)
		if schema.UserKey(k) != k {
			t.Fatalf("UserKey not idempotent on %q: %q then %q", id, k, schema.UserKey(k))
		}
		_ = schema.CheckID("user_id", id)
	})
}
