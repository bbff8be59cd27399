package neo4j_test

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/usersvc/usersvc/testsupport/neo4jserver"
)

// TestMain stops the real Neo4j the tests started, then fails the package
// when a goroutine outlived its test.
func TestMain(m *testing.M) {
	code := neo4jserver.Run(m)
	if err := goleak.Find(); code == 0 && err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}
