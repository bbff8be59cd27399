package ldap

import (
	"bytes"
	"testing"
	"time"
)

// objectGUID: AD stores a GUID's first three fields little-endian, so
// bytes 00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff read as
// 33221100-5544-7766-8899-aabbccddeeff; parsing gives the bytes back.
func TestGUID(t *testing.T) {
	raw := []byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}
	const want = "33221100-5544-7766-8899-aabbccddeeff"
	if got := formatGUID(raw); got != want {
		t.Fatalf("formatGUID = %s, want %s", got, want)
	}
	for _, s := range []string{want, "{33221100-5544-7766-8899-AABBCCDDEEFF}"} {
		if b, ok := parseGUID(s); !ok || !bytes.Equal(b, raw) {
			t.Fatalf("parseGUID(%s) = %x, %v", s, b, ok)
		}
	}
	for _, s := range []string{"", "33221100554477668899aabbccddeeff", "33221100-5544-7766-8899-aabbccddeefg", "{33221100-5544-7766-8899-aabbccddeeff", "*"} {
		if _, ok := parseGUID(s); ok {
			t.Errorf("parseGUID(%q) accepted", s)
		}
	}
	f, ok := activeDirectory.idFilter(want)
	if !ok || f != `(objectGUID=\00\11\22\33\44\55\66\77\88\99\aa\bb\cc\dd\ee\ff)` {
		t.Fatalf("idFilter = %s", f)
	}
	if f, ok := openLDAP.idFilter("A1B2C3D4-0000-1111-2222-333344445555"); !ok || f != "(entryUUID=a1b2c3d4-0000-1111-2222-333344445555)" {
		t.Fatalf("idFilter = %s", f)
	}
}

// RFC 4517 section 3.3.13 GeneralizedTime, as OpenLDAP and AD write it.
func TestParseGeneralizedTime(t *testing.T) {
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for in, want := range map[string]time.Time{
		"20260102030405Z":      utc("2026-01-02T03:04:05Z"),
		"20260102030405.0Z":    utc("2026-01-02T03:04:05Z"),
		"20260102030405.123Z":  utc("2026-01-02T03:04:05.123Z"),
		"20260102030405,5Z":    utc("2026-01-02T03:04:05.5Z"),
		"202601020304Z":        utc("2026-01-02T03:04:00Z"),
		"2026010203Z":          utc("2026-01-02T03:00:00Z"),
		"2026010203.5Z":        utc("2026-01-02T03:30:00Z"),
		"20260102030405+0130":  utc("2026-01-02T01:34:05Z"),
		"20260102030405-05":    utc("2026-01-02T08:04:05Z"),
		"000001010000Z":        utc("0000-01-01T00:00:00Z"),
		"20261231235960Z":      utc("2026-12-31T23:59:59Z"),
		"20260102030405.0001Z": utc("2026-01-02T03:04:05.0001Z"),
	} {
		got, err := parseGeneralizedTime(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("%s: %s, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "2026", "20260102030405", "20260102030405z", "20261302030405Z", "20260102240000Z", "20260102030405.Z", "20260102030405ZZ", "2026-01-02T03:04:05Z"} {
		if _, err := parseGeneralizedTime(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// Lookups escape the id (RFC 4515 section 3) inside the user filter.
func TestLookupFilter(t *testing.T) {
	got := openLDAP.lookupFilter("(objectClass=person)", "*)(uid=*\\\x00é")
	want := `(&(objectClass=person)(|(uid=\2a\29\28uid=\2a\5c\00\c3\a9)(mail=\2a\29\28uid=\2a\5c\00\c3\a9)))`
	if got != want {
		t.Fatalf("\n got %s\nwant %s", got, want)
	}
	got = activeDirectory.lookupFilter(DefaultADUserFilter, "ada")
	want = `(&(&(objectClass=user)(!(objectClass=computer)))(|(sAMAccountName=ada)(userPrincipalName=ada)(mail=ada)))`
	if got != want {
		t.Fatalf("\n got %s\nwant %s", got, want)
	}
}
