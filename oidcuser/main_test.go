package oidcuser_test

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/usersvc/usersvc/testsupport/neo4jserver"
)

// TestMain fails the package when a goroutine outlives its test: lookups
// against slow, hanging or failing Okta servers must not leave any behind.
// The real Neo4j the one-node tests start is stopped first.
func TestMain(m *testing.M) {
	code := neo4jserver.Run(m)
	// okta-sdk-golang/v2 starts a cache janitor per client that only a
	// finalizer stops; it is the SDK's, not ours.
	if err := goleak.Find(goleak.IgnoreTopFunction("github.com/patrickmn/go-cache.(*janitor).Run")); code == 0 && err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}
