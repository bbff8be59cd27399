package ldap

import (
	"testing"
	"time"
)

// SetListBackoff shortens the pause between listing passes for a test.
func SetListBackoff(t testing.TB, d time.Duration) {
	old := listBackoff
	listBackoff = d
	t.Cleanup(func() { listBackoff = old })
}

// MaxListAttempts is maxListAttempts.
const MaxListAttempts = maxListAttempts
