package oidcuser_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a goroutine outlives its test: lookups
// against slow, hanging or failing Okta servers must not leave any behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// okta-sdk-golang/v2 starts a cache janitor per client that only a
		// finalizer stops; it is the SDK's, not ours.
		goleak.IgnoreTopFunction("github.com/patrickmn/go-cache.(*janitor).Run"),
	)
}
