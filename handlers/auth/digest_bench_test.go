package auth

import (
	"crypto/sha256"
	"strings"
	"testing"
)

// BenchmarkDigest compares the in-place digest with hashing a copy of the
// token, for a token of the size a real provider mints (~900 bytes).
func BenchmarkDigest(b *testing.B) {
	jwt := strings.Repeat("x", 900)
	b.Run("unsafe-view", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = digest(jwt)
		}
	})
	b.Run("copy", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = sha256.Sum256([]byte(jwt))
		}
	})
}
